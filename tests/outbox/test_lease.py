"""The lease: validated at start, renewed while a send is in flight, compared with the send budget."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import open_store

from mailcore import ConfigurationError, Mailer, Message, SendResult, Transport
from mailcore.outbox import OutboxWorker
from mailcore.outbox.lease import LeaseKeeper, check_lease, send_budget
from mailcore.policy.retry import RetryPolicy


def make(n=0):
    return Message("app@example.com", [f"user{n}@example.org"], f"subject {n}", text="body")


class SlowWhileAnotherWorkerWaits(Transport):
    """Takes 4 leases to send; meanwhile another worker keeps trying to claim the row."""

    name = "memory://slow"

    def __init__(self, other_box, lease):
        self.other_box, self.lease, self.sent, self.taken = other_box, lease, [], []

    def send(self, message):
        self.sent.append(message.message_id)
        deadline = time.monotonic() + 4 * self.lease
        while time.monotonic() < deadline:
            self.taken += self.other_box.claim("other", limit=10, lease=60)
            time.sleep(self.lease / 10)
        return SendResult(message.message_id, self.name)


def test_the_lease_of_the_message_in_flight_is_renewed(store_url):
    outbox_url = store_url  # SQLite and PostgreSQL
    with open_store(outbox_url) as other_box:
        transport = SlowWhileAnotherWorkerWaits(other_box, lease=0.4)
        m = Mailer(transport, outbox=outbox_url, retry=None)
        entry_id = m.enqueue(make())
        worker = OutboxWorker(m, lease=0.4)
        assert worker.run_once() == 1
        worker.close()
        assert transport.taken == []  # never claimable while it was being sent
        assert other_box.find(entry_id).state == "sent"


@pytest.mark.parametrize("lease", [0, -1, 0.01, float("nan"), float("inf")])
def test_a_lease_no_heartbeat_can_keep_is_refused(outbox_url, lease):
    with pytest.raises(ConfigurationError, match="outbox lease must be a finite number of seconds"):
        OutboxWorker(Mailer("memory://x", outbox=outbox_url), lease=lease)
    assert check_lease(300) == 300.0


def test_send_budget_is_the_deadline_plus_the_longest_attempt():
    default = RetryPolicy().deadline  # memory has no per-attempt timeout
    assert send_budget(Mailer("memory://a").transport) == default
    assert send_budget(Mailer("memory://a", retry=RetryPolicy(deadline=10)).transport) == 10.0
    assert send_budget(Mailer("memory://a", retry=None).transport) is None  # nothing bounds it

    class Leaf(Transport):
        name = "leaf"
        timeout = 7.0

        def send(self, message):
            raise NotImplementedError

    assert send_budget(Mailer([Leaf(), Leaf()], retry=RetryPolicy(deadline=20)).transport) == 27.0


def test_a_stack_that_knows_its_budget_is_believed():
    class Budgeted(Transport):
        name = "budgeted"

        def time_budget(self):
            return 12.5

        def send(self, message):
            raise NotImplementedError

    assert send_budget(Budgeted()) == 12.5


def test_the_worker_logs_its_lease_against_the_send_budget(outbox_url, caplog):
    m = Mailer("memory://b", outbox=outbox_url, retry=RetryPolicy(deadline=45))
    worker = OutboxWorker(m, lease=20)
    with caplog.at_level(logging.INFO, logger="mailcore.outbox"):
        worker.run(until_idle=True)
    assert "lease 20s, renewed every 5s while a send is in flight (worst-case send 45s)" in caplog.text


def test_the_heartbeat_survives_renewal_errors(caplog):
    calls = []

    def renew(row_id):
        calls.append(row_id)
        if len(calls) <= 2:
            raise OSError("disk full")
        return True

    keeper = LeaseKeeper(renew, interval=0.02)
    with caplog.at_level(logging.WARNING, logger="mailcore.outbox"), keeper.hold("row1"):
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    keeper.close()
    assert calls[:4] == ["row1"] * 4
    assert "could not renew the lease on row1" in caplog.text
