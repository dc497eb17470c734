"""Message lifetimes on the SQLite outbox, in the worker and in the policy: expiry, priority with
aging, idempotency; and the upgrade of a version-1 outbox file in place."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mailcore import Mailer, Message, RetryPolicy
from mailcore.errors import ConfigurationError, ConnectionFailed, DeliveryFailed, MessageExpired
from mailcore.outbox import OutboxStore, OutboxWorker, SQLiteOutbox, open_outbox
from mailcore.outbox.lifetimes import expiry_reason
from mailcore.outbox.result import Queued
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport
from mailcore.transports.memory import MemoryTransport

PAST = datetime(2020, 1, 1, tzinfo=UTC)


def msg(n: int = 0, **fields) -> Message:
    return Message("app@example.com", [f"u{n}@example.org"], f"n{n}", text="x", **fields)


def sink() -> tuple[str, list[Message]]:
    name = uuid.uuid4().hex
    transport = MemoryTransport(name)
    return f"memory://{name}", transport.outbox


# -- schema -----------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE outbox (
    id TEXT PRIMARY KEY, message_id TEXT NOT NULL, state TEXT NOT NULL, payload TEXT NOT NULL,
    sender TEXT NOT NULL, recipients TEXT NOT NULL, subject TEXT NOT NULL, runs INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, age_from REAL NOT NULL, due_at REAL NOT NULL,
    lease_owner TEXT, last_error TEXT, transport TEXT, provider_message_id TEXT
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_state ON outbox (state, updated_at);
CREATE INDEX outbox_message_id ON outbox (message_id);
PRAGMA user_version=1;
"""


def test_a_version_1_outbox_file_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v1.sqlite3"
    old = msg(1)
    payload = __import__("json").dumps(
        {k: v for k, v in old.to_dict().items() if k not in ("priority", "expires", "idempotency_key")}
    )
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    now = time.time()
    db.execute(
        "INSERT INTO outbox (id, message_id, state, payload, sender, recipients, subject, created_at, "
        "updated_at, age_from, due_at) VALUES ('old1', ?, 'queued', ?, 'app@example.com', 'u1@example.org', "
        "'n1', ?, ?, ?, ?)",
        (old.message_id, payload, now, now, now, now - 1),
    )
    db.commit()
    db.close()
    with SQLiteOutbox(path) as box:
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = {row[1] for row in box._db.execute("PRAGMA table_info(outbox)")}
        assert {"priority", "expires_at", "idempotency_key"} <= columns
        tables = {row[0] for row in box._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "idempotency" in tables
        entry = box.find("old1")
        assert (entry.priority, entry.expires_at) == ("normal", None)
        claims = box.claim("w", limit=10, lease=60)
        assert [c.id for c in claims] == ["old1"]
        assert claims[0].message() == old
        new_id = box.enqueue(msg(2, priority="high", idempotency_key="k"))
        assert box.find(new_id).priority == "high"
    with SQLiteOutbox(path) as again:  # opening an up-to-date file changes nothing
        assert again.counts()["queued"] == 1


# -- priority with aging ----------------------------------------------------------------------


def test_claim_takes_high_then_normal_then_low(outbox_url):
    with open_outbox(outbox_url) as box:
        low = box.enqueue(msg(1, priority="low"))
        normal = box.enqueue(msg(2))
        high = box.enqueue(msg(3, priority="high"))
        assert [c.id for c in box.claim("w", limit=10, lease=60)] == [high, normal, low]


def test_a_low_message_that_waited_longer_than_two_agings_beats_a_new_high_one(outbox_url):
    with open_outbox(outbox_url + "?aging=300") as box:
        assert box.aging == 300.0
        old_low = box.enqueue(msg(1, priority="low"), delay=-601)  # due ten minutes and a second ago
        recent_low = box.enqueue(msg(2, priority="low"), delay=-599)
        high = box.enqueue(msg(3, priority="high"))
        assert [c.id for c in box.claim("w", limit=10, lease=60)] == [old_low, high, recent_low]


def test_aging_sets_how_much_priority_counts_and_a_bad_aging_is_refused(outbox_url, tmp_path):
    with open_outbox(outbox_url + "?aging=0") as box:  # 0: due order only
        old_low = box.enqueue(msg(1, priority="low"), delay=-1)
        high = box.enqueue(msg(2, priority="high"))
        assert [c.id for c in box.claim("w", limit=2, lease=60)] == [old_low, high]
    with open_outbox(f"sqlite:///{tmp_path / 'strong.sqlite3'}?aging=86400") as box:  # a day per rank
        old_low = box.enqueue(msg(1, priority="low"), delay=-86400)
        high = box.enqueue(msg(2, priority="high"))
        assert [c.id for c in box.claim("w", limit=2, lease=60)] == [high, old_low]
    with pytest.raises(ConfigurationError, match="aging"):
        open_outbox(outbox_url + "?aging=-5")


def test_the_claim_limit_is_kept_across_priorities(outbox_url):
    with open_outbox(outbox_url) as box:
        box.enqueue_many([msg(i, priority=p) for i, p in enumerate(["low", "normal", "high"] * 5)])
        first = box.claim("w", limit=4, lease=60)
        assert len(first) == 4
        assert [box.find(c.id).priority for c in first] == ["high"] * 4


# -- expiry ---------------------------------------------------------------------------------


def test_a_claim_never_hands_out_an_expired_row_and_moves_it_to_expired(outbox_url):
    with open_outbox(outbox_url) as box:
        gone = box.enqueue(msg(1, expires=PAST))
        later = box.enqueue(msg(2, expires=timedelta(hours=1)))
        assert [c.id for c in box.claim("w", limit=10, lease=60)] == [later]
        entry = box.find(gone)
        assert entry.state == "expired"
        assert entry.last_error == expiry_reason(PAST.timestamp()) == "expired at 2020-01-01T00:00:00Z before delivery"
        assert box.counts()["expired"] == 1
        assert box.retry(state="failed") == 0
        with pytest.raises(ValueError):
            box.retry(state="expired")  # not retryable: it would only expire again


def test_a_row_in_flight_under_a_live_lease_is_left_to_its_worker(outbox_url):
    with open_outbox(outbox_url) as box:
        row = box.enqueue(msg(1, expires=timedelta(seconds=2)))
        assert [c.id for c in box.claim("a", limit=1, lease=60)] == [row]
        box._db.execute("UPDATE outbox SET expires_at = ? WHERE id = ?", (time.time() - 1, row))
        assert box.claim("b", limit=1, lease=60) == []
        assert box.find(row).state == "sending"
        box.mark_expired("a", row, "expired")
        assert box.find(row).state == "expired"


def test_the_worker_never_sends_an_expired_message(outbox_url):
    url, sent = sink()
    with open_outbox(outbox_url) as box:
        fresh = box.enqueue(msg(1))
        gone = box.enqueue(msg(2, expires=PAST))
        # a row claimed before its expiry but whose turn comes after it
        late = box.enqueue(msg(3, expires=timedelta(hours=1)))
        box._db.execute("UPDATE outbox SET expires_at = ? WHERE id = ?", (time.time() + 3600, late))
        worker = OutboxWorker(Mailer(url, outbox=outbox_url), box, worker_id="w")
        claims = box.claim("w", limit=10, lease=60)
        assert {c.id for c in claims} == {fresh, late}
        # the message itself says it expired (the payload is the truth), whatever the column said
        expired_payload = msg(3, expires=PAST).to_dict()
        box._db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (__import__("json").dumps(expired_payload), late))
        claims = [c if c.id != late else type(c)(c.id, __import__("json").dumps(expired_payload), c.runs, c.age_from)
                  for c in claims]  # fmt: skip
        for claim in claims:
            worker._deliver(claim)
        assert [m.subject for m in sent] == ["n1"]
        assert box.find(gone).state == "expired"
        assert box.find(late).state == "expired"
        assert worker.stats.expired == 1


class Unreachable(ProviderTransport):
    """Fails every attempt with a connection error and records when each attempt started."""

    name = "unreachable://"

    def __init__(self) -> None:
        self.started: list[float] = []

    def deliver(self, message: Message) -> Delivery:
        self.started.append(time.time())
        raise ConnectionFailed("no route")


def test_the_policy_stops_retrying_at_the_expiry_and_the_worker_marks_it_expired(outbox_url):
    transport = Unreachable()
    policy = RetryPolicy(attempts=1000, first_delay=0.05, multiplier=1.0, jitter=False, deadline=60)
    mailer = Mailer(transport, retry=policy, outbox=outbox_url)
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    with open_outbox(outbox_url) as box:
        row = box.enqueue(msg(1, expires=expires))
        worker = OutboxWorker(mailer, box, worker_id="w")
        worker.run_once()
        entry = box.find(row)
    assert entry.state == "expired", entry.last_error
    assert entry.last_error == expiry_reason(expires.timestamp())
    assert len(transport.started) >= 2  # it did retry before the expiry…
    assert max(transport.started) < expires.timestamp()  # …and never started an attempt after it


def test_send_refuses_an_expired_message_with_reason_expired():
    url, sent = sink()
    with pytest.raises(DeliveryFailed) as err:
        Mailer(url).send(msg(1, expires=PAST))
    assert err.value.reason == "expired" and err.value.expired
    assert isinstance(err.value.last_error, MessageExpired)
    assert not err.value.transient  # an outbox does not park it
    assert sent == []


def test_a_transient_failure_past_the_expiry_is_not_parked(outbox_url):
    transport = Unreachable()
    mailer = Mailer(
        transport, outbox=outbox_url, park_on_failure=True,
        retry=RetryPolicy(attempts=1000, first_delay=0.05, multiplier=1.0, jitter=False, deadline=60),
    )  # fmt: skip
    with pytest.raises(DeliveryFailed) as err:
        mailer.send(msg(1, expires=timedelta(seconds=0.5)))
    assert err.value.expired
    assert open_outbox(outbox_url).counts()["queued"] == 0


# -- idempotency ------------------------------------------------------------------------------


def test_enqueue_with_a_seen_key_returns_the_first_id_and_stores_nothing(outbox_url):
    with open_outbox(outbox_url) as box:
        first = box.enqueue(msg(1, idempotency_key="receipt-42"))
        again = box.enqueue(msg(2, idempotency_key="receipt-42"))
        other = box.enqueue(msg(3, idempotency_key="receipt-43"))
        assert again == first and other != first
        batch = box.enqueue_many([msg(4, idempotency_key="k"), msg(5, idempotency_key="k"), msg(6)])
        assert batch[0] == batch[1] != batch[2]
        assert box.counts()["queued"] == 4
        assert box.find(first).subject == "n1"


def test_a_key_older_than_the_window_is_stored_again(outbox_url):
    with open_outbox(outbox_url + "?idempotency_window=60") as box:
        first = box.enqueue(msg(1, idempotency_key="k"))
        box._db.execute("UPDATE idempotency SET created_at = created_at - 61")
        second = box.enqueue(msg(2, idempotency_key="k"))
        assert second != first
        assert box.enqueue(msg(3, idempotency_key="k")) == second
        box._db.execute("UPDATE idempotency SET created_at = created_at - 61")
        box.enforce_retention()
        assert box._db.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0] == 0


def test_concurrent_enqueues_of_one_key_from_two_connections_store_it_once(outbox_url):
    boxes = [open_outbox(outbox_url) for _ in range(4)]
    ids: list[str] = []
    barrier = threading.Barrier(len(boxes))

    def run(box):
        barrier.wait()
        ids.append(box.enqueue(msg(1, idempotency_key="once")))

    threads = [threading.Thread(target=run, args=(box,)) for box in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert boxes[0].counts()["queued"] == 1
    for box in boxes:
        box.close()


def test_mailer_enqueue_goes_through_the_store_key(outbox_url):
    url, _ = sink()
    mailer = Mailer(url, outbox=outbox_url)
    assert mailer.enqueue(msg(1, idempotency_key="r")) == mailer.enqueue(msg(2, idempotency_key="r"))


def test_send_with_a_seen_key_returns_the_first_result_and_sends_nothing():
    url, sent = sink()
    mailer = Mailer(url)
    first = mailer.send(msg(1, idempotency_key="receipt-7"))
    again = mailer.send(msg(2, idempotency_key="receipt-7"))
    assert [m.subject for m in sent] == ["n1"]
    assert again.replayed and not first.replayed
    assert len(first.attempts) == 1 and again.attempts == ()
    assert (again.message_id, again.transport, again.provider_message_id) == (
        first.message_id, first.transport, first.provider_message_id,
    )  # fmt: skip
    assert mailer.send(msg(3, idempotency_key="receipt-8")).message_id != first.message_id
    assert len(sent) == 2


def test_a_failed_send_frees_its_key_so_a_retry_sends():
    name = uuid.uuid4().hex
    mailer = Mailer(f"memory://{name}?fail=1&error=message")
    with pytest.raises(DeliveryFailed):
        mailer.send(msg(1, idempotency_key="k"))
    assert not mailer.send(msg(1, idempotency_key="k")).replayed


def test_a_parked_send_is_replayed_as_the_same_queued_result(outbox_url):
    name = uuid.uuid4().hex
    mailer = Mailer(f"memory://{name}?fail=100&error=connection", outbox=outbox_url, park_on_failure=True, retry=None)
    first = mailer.send(msg(1, idempotency_key="p"))
    again = mailer.send(msg(1, idempotency_key="p"))
    assert isinstance(first, Queued) and isinstance(again, Queued)
    assert again.outbox_id == first.outbox_id and again.replayed
    assert open_outbox(outbox_url).counts()["queued"] == 1


class Slow(ProviderTransport):
    name = "slow://"

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def deliver(self, message: Message) -> Delivery:
        self.calls += 1
        self.release.wait(10)
        return Delivery(provider_message_id="p-1")


def test_a_concurrent_second_send_waits_for_the_first_result():
    transport = Slow()
    mailer = Mailer(transport, retry=None)
    results = []
    first = threading.Thread(target=lambda: results.append(mailer.send(msg(1, idempotency_key="c"))))
    first.start()
    while transport.calls == 0:
        time.sleep(0.01)
    second = threading.Thread(target=lambda: results.append(mailer.send(msg(1, idempotency_key="c"))))
    second.start()
    time.sleep(0.2)
    transport.release.set()
    first.join(10)
    second.join(10)
    assert transport.calls == 1
    assert sorted(r.replayed for r in results) == [False, True]
    assert {r.provider_message_id for r in results} == {"p-1"}


def test_the_sqlite_outbox_is_an_outbox_store(outbox_url):
    with open_outbox(outbox_url) as box:
        assert isinstance(box, OutboxStore)


def test_the_cli_lists_and_filters_expired_entries(outbox_url):
    import json

    from click.testing import CliRunner

    from mailcore.cli import cli as main

    with open_outbox(outbox_url) as box:
        box.enqueue(msg(1, expires=PAST, priority="high"))
        box.enqueue(msg(2, priority="low"))
        box.claim("w", limit=10, lease=60)
    runner = CliRunner()
    listed = json.loads(
        runner.invoke(main, ["outbox", "list", "--outbox", outbox_url, "--state", "expired", "--json"]).output
    )
    assert [(e["state"], e["priority"]) for e in listed] == [("expired", "high")]
    stats = json.loads(runner.invoke(main, ["outbox", "stats", "--outbox", outbox_url, "--json"]).output)
    assert stats["counts"]["expired"] == 1
    table = runner.invoke(main, ["outbox", "list", "--outbox", outbox_url])
    assert table.exit_code == 0 and "expired" in table.output and "low" in table.output
    shown = runner.invoke(main, ["outbox", "show", "--outbox", outbox_url, listed[0]["id"]])
    assert "expired at 2020-01-01T00:00:00Z before delivery" in shown.output


def test_two_mailers_sharing_redis_send_a_key_once():
    from conftest import require_redis

    client = require_redis(10)
    prefix = f"mctest-{uuid.uuid4().hex[:8]}"
    state = f"redis://127.0.0.1:6379/10?prefix={prefix}"
    url, sent = sink()
    try:
        first = Mailer(url, state=state).send(msg(1, idempotency_key="receipt-1"))
        again = Mailer(url, state=state).send(msg(2, idempotency_key="receipt-1"))  # another process
        assert [m.subject for m in sent] == ["n1"]
        assert again.replayed and again.message_id == first.message_id
        assert client.ttl(f"{prefix}:idem:send:receipt-1") > 86000  # remembered for the window
    finally:
        for name in client.scan_iter(match=f"{prefix}:*"):
            client.delete(name)
