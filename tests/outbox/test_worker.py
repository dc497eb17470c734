"""The worker in-process and send-or-park with memory transports, on every outbox store: a real
SQLite file and the local PostgreSQL server (``outbox_url`` is parametrized over both)."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import open_store

from mailcore import ConfigurationError, DeliveryFailed, Mailer, Message, SendResult, Transport
from mailcore.outbox import OutboxWorker, Queued, open_outbox
from mailcore.policy.retry import RetryPolicy
from mailcore.testing import outbox as memory_outbox

NO_WAIT = RetryPolicy(first_delay=0.0, jitter=False, deadline=None)


@pytest.fixture
def outbox_url(store_url):
    """Every test here runs once per store (SQLite, PostgreSQL)."""
    return store_url


def make(n=0):
    return Message("app@example.com", [f"user{n}@example.org"], f"subject {n}", text="body")


def mailer(url, outbox_url, **options):
    return Mailer(url, outbox=outbox_url, retry=None, **options)


def drain(m, **options):
    options.setdefault("backoff", NO_WAIT)
    worker = OutboxWorker(m, **options)
    worker.run(until_idle=True)
    return worker


def test_enqueue_then_worker_delivers_everything(outbox_url):
    m = mailer("memory://ok", outbox_url)
    ids = [m.enqueue(make(i)) for i in range(25)]
    worker = drain(m, batch_size=7)
    assert worker.stats.sent == 25
    assert sorted(msg.subject for msg in memory_outbox("ok")) == sorted(f"subject {i}" for i in range(25))
    entry = worker.outbox.find(ids[0])
    assert entry.state == "sent" and entry.transport == "memory://ok" and entry.provider_message_id


def test_transient_failure_is_requeued_then_sent(outbox_url):
    m = mailer("memory://flaky?fail=2&error=connection", outbox_url)
    entry_id = m.enqueue(make())
    worker = drain(m)
    assert (worker.stats.requeued, worker.stats.sent) == (2, 1)
    entry = worker.outbox.find(entry_id)
    assert entry.state == "sent" and entry.runs == 3
    assert "scripted connection failure" in entry.last_error


def test_backoff_and_retry_after_schedule_the_next_run(outbox_url):
    m = mailer("memory://rl?fail=1&error=rate", outbox_url)
    entry_id = m.enqueue(make())
    worker = OutboxWorker(m, backoff=NO_WAIT)
    assert worker.run_once() == 1
    entry = worker.outbox.find(entry_id)
    assert entry.state == "queued" and entry.due_at >= time.time() + 0.5  # Retry-After 1 s is the floor
    slow = OutboxWorker(m, backoff=RetryPolicy(first_delay=60.0, cap=600.0, jitter=False, deadline=None))
    slow.outbox.retry(ids=[entry_id])
    m2 = mailer("memory://down?fail=5&error=connection", outbox_url)
    slow.mailer = m2
    slow.run_once()
    assert slow.outbox.find(entry_id).due_at >= time.time() + 115  # run 2: 60 s × 2


def test_permanent_failure_parks_with_reason(outbox_url):
    m = mailer("memory://no?fail=1&error=message", outbox_url)
    entry_id = m.enqueue(make())
    worker = drain(m)
    entry = worker.outbox.find(entry_id)
    assert worker.stats.failed == 1 and entry.state == "failed"
    assert "scripted content rejection" in entry.last_error


def test_ambiguous_timeout_is_unknown_not_resent(outbox_url):
    m = mailer("memory://amb?fail=1&error=ambiguous", outbox_url)
    entry_id = m.enqueue(make())
    worker = drain(m)
    assert worker.stats.unknown == 1
    assert worker.outbox.find(entry_id).state == "unknown"
    assert memory_outbox("amb") == []


def test_a_message_that_keeps_failing_expires(outbox_url):
    m = mailer("memory://down?fail=9&error=connection", outbox_url)
    entry_id = m.enqueue(make())
    worker = drain(m, backoff=RetryPolicy(first_delay=30.0, jitter=False, deadline=None), max_age=10)
    entry = worker.outbox.find(entry_id)
    assert entry.state == "failed" and entry.last_error.startswith("expired after 1 run(s)")


class Broken(Transport):
    name = "broken"

    def send(self, message):
        raise ConfigurationError("plugin missing")


def test_a_misconfigured_worker_keeps_the_message(outbox_url):
    m = Mailer(Broken(), outbox=outbox_url, retry=None)
    entry_id = m.enqueue(make())
    worker = OutboxWorker(m, backoff=RetryPolicy(first_delay=30.0, jitter=False, deadline=None))
    worker.run(until_idle=True)
    entry = worker.outbox.find(entry_id)
    assert entry.state == "queued" and "plugin missing" in entry.last_error


def test_an_unreadable_row_fails_instead_of_looping(outbox_url):
    m = mailer("memory://ok", outbox_url)
    entry_id = m.enqueue(make())
    with open_store(outbox_url) as box:
        if outbox_url.startswith("sqlite"):
            box._db.execute("UPDATE outbox SET payload = '{}' WHERE id = ?", (entry_id,))
        else:
            box._run(lambda cur: cur.execute("UPDATE mailcore_outbox SET payload = '{}' WHERE id = %s", (entry_id,)))
    worker = drain(m)
    assert worker.outbox.find(entry_id).state == "failed"
    assert "cannot be read" in worker.outbox.find(entry_id).last_error


class StopsTheWorker(Transport):
    name = "stopper"

    def __init__(self):
        self.worker = None
        self.sent = []

    def send(self, message):
        self.sent.append(message)
        self.worker.stop()
        return SendResult(message.message_id, self.name)


def test_stop_finishes_the_message_in_flight_and_releases_the_rest(outbox_url):
    transport = StopsTheWorker()
    m = Mailer(transport, outbox=outbox_url, retry=None)
    ids = [m.enqueue(make(i)) for i in range(5)]
    worker = OutboxWorker(m, batch_size=5)
    transport.worker = worker
    worker.run()
    assert len(transport.sent) == 1
    states = [worker.outbox.find(i).state for i in ids]
    assert states == ["sent"] + ["queued"] * 4
    assert worker.outbox.claim("next", limit=10, lease=5)  # released rows are due at once


class OutlivesItsLease(Transport):
    """The first send outlasts the worker's lease, and meanwhile another worker claims the rest."""

    name = "memory://slow"

    def __init__(self, thief_box, lease):
        self.thief_box, self.lease, self.sent, self.stolen = thief_box, lease, [], []

    def send(self, message):
        self.sent.append(message.message_id)
        if len(self.sent) == 1:
            time.sleep(self.lease * 1.5)
            self.stolen = [c.id for c in self.thief_box.claim("thief", limit=10, lease=60)]
        return SendResult(message.message_id, self.name)


def test_rows_reclaimed_after_the_lease_ran_out_are_not_sent_twice(outbox_url):
    with open_store(outbox_url) as thief_box:
        transport = OutlivesItsLease(thief_box, lease=0.2)
        m = Mailer(transport, outbox=outbox_url, retry=None)
        ids = [m.enqueue(make(i)) for i in range(3)]
        worker = OutboxWorker(m, batch_size=3, lease=0.2)
        assert worker.run_once() == 1
        assert len(transport.sent) == 1  # the two rows taken by the thief were not sent again
        assert set(ids[1:]) <= set(transport.stolen)
        assert [thief_box.find(i).lease_owner for i in ids[1:]] == ["thief", "thief"]
        worker.close()


def test_worker_ids_are_unique_per_instance(outbox_url):
    m = mailer("memory://ids", outbox_url)
    first, second = OutboxWorker(m), OutboxWorker(m)
    assert first.id != second.id
    first.close()
    second.close()


def test_background_thread_delivers_new_messages(outbox_url):
    m = mailer("memory://bg", outbox_url)
    worker = m.start_worker(poll_interval=0.02)
    try:
        for i in range(3):
            m.enqueue(make(i))
        deadline = time.monotonic() + 5
        while len(memory_outbox("bg")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
    assert len(memory_outbox("bg")) == 3
    assert worker.stats.sent == 3


def test_send_parks_a_transient_failure_and_says_so(outbox_url):
    m = mailer("memory://park?fail=1&error=connection", outbox_url, park_on_failure=True)
    message = make()
    result = m.send(message)
    assert isinstance(result, Queued) and isinstance(result, SendResult)
    assert result.transport == "outbox" and result.provider_message_id is None and not result.delivered
    assert len(result.attempts) == 1 and "connection" in result.reason
    box = open_store(outbox_url)
    entry = box.find(result.outbox_id)
    assert entry.state == "queued" and entry.message_id == message.message_id
    assert entry.due_at > time.time() - 1
    box.retry(ids=[entry.id])
    drain(m)
    assert memory_outbox("park") == [message]


def test_send_does_not_park_permanent_or_ambiguous_failures(outbox_url):
    for kind in ("message", "ambiguous"):
        m = mailer(f"memory://{kind}?fail=1&error={kind}", outbox_url, park_on_failure=True)
        with pytest.raises(DeliveryFailed):
            m.send(make())
    assert open_store(outbox_url).counts()["queued"] == 0


def test_without_park_on_failure_send_raises(outbox_url):
    m = mailer("memory://raise?fail=1&error=connection", outbox_url)
    with pytest.raises(DeliveryFailed):
        m.send(make())
    assert m.send(make(), park=False).transport == "memory://raise"


def test_asend_parks_too(outbox_url):
    m = mailer("memory://apark?fail=1&error=connection", outbox_url, park_on_failure=True)
    result = asyncio.run(m.asend(make()))
    assert isinstance(result, Queued)


def test_enqueue_uses_the_environment_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILCORE_OUTBOX", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    entry_id = Mailer("memory://env").enqueue(make())
    assert open_outbox().find(entry_id).state == "queued"
    assert (tmp_path / "env.sqlite3").exists()


class ListQueue:
    def __init__(self):
        self.items = []

    def enqueue(self, message, *, delay=0.0, last_error=None):
        self.items.append((message, delay, last_error))
        return f"q-{len(self.items)}"

    def close(self):
        pass


def test_a_custom_queue_object(outbox_url):
    queue = ListQueue()
    m = Mailer("memory://cq?fail=1&error=connection", queue=queue, retry=None, park_on_failure=True)
    assert m.enqueue(make()) == "q-1"
    assert m.send(make(1)).outbox_id == "q-2"
    assert queue.items[1][2] and queue.items[1][1] >= 0


def test_unknown_queue_name_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="unknown queue"):
        Mailer("memory://x", queue="rabbit").enqueue(make())
