"""The contract every outbox store honours, as a base test class.

A backend's tests subclass :class:`OutboxStoreContract` and provide a ``store`` fixture: a fresh,
empty :class:`~mailcore.outbox.api.OutboxStore` with the default aging (300 s) and idempotency
window. pytest collects the inherited ``test_*`` methods::

    class TestPostgresStore(OutboxStoreContract):
        @pytest.fixture
        def store(self, database_url):
            with closing(open_postgres_outbox(database_url)) as store:
                yield store

It checks what ``mailcore worker`` and ``mailcore outbox`` rely on (states, leases, claim order
with aging, expiry, idempotent enqueue), the same way for SQLite, PostgreSQL and Django's
database. Crash, concurrency and migration tests stay with each backend.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from mailcore.message import Message
from mailcore.outbox.api import OutboxStore
from mailcore.outbox.lifetimes import expiry_reason

__all__ = ["OutboxStoreContract"]

PAST = datetime(2020, 1, 1, tzinfo=UTC)


def _message(n: int, **fields: object) -> Message:
    return Message("app@example.com", [f"u{n}@example.org"], f"n{n}", text="x", **fields)  # type: ignore[arg-type]


class OutboxStoreContract:
    """Inherited tests for an :class:`~mailcore.outbox.api.OutboxStore`."""

    @pytest.fixture
    def store(self) -> OutboxStore:
        raise NotImplementedError("subclass OutboxStoreContract and define the store fixture")

    def test_is_an_outbox_store_with_every_state_counted(self, store: OutboxStore) -> None:
        assert isinstance(store, OutboxStore)
        assert store.counts() == dict.fromkeys(("queued", "sending", "sent", "failed", "unknown", "expired"), 0)
        assert store.next_due() is None and store.oldest_due() is None
        assert "://" in store.url

    def test_a_message_round_trips_and_is_found_by_id_prefix_and_message_id(self, store: OutboxStore) -> None:
        message = _message(1, priority="low", expires=timedelta(hours=1), idempotency_key="k1")
        row = store.enqueue(message)
        assert store.message(row) == message
        entry = store.find(row)
        assert (entry.state, entry.priority, entry.runs) == ("queued", "low", 0)
        assert message.expires is not None
        assert entry.expires_at == pytest.approx(message.expires.timestamp())
        assert store.find(message.message_id).id == row
        assert store.find(row[:12]).id == row
        with pytest.raises(KeyError):
            store.find("no-such-entry")
        assert [e.id for e in store.entries(state="queued")] == [row]

    def test_claim_takes_high_then_normal_then_low(self, store: OutboxStore) -> None:
        low = store.enqueue(_message(1, priority="low"))
        normal = store.enqueue(_message(2))
        high = store.enqueue(_message(3, priority="high"))
        claims = store.claim("w", limit=10, lease=60)
        assert [c.id for c in claims] == [high, normal, low]
        assert [c.runs for c in claims] == [1, 1, 1]
        assert store.counts()["sending"] == 3

    def test_aging_lets_a_low_message_that_waited_long_enough_go_first(self, store: OutboxStore) -> None:
        old_low = store.enqueue(_message(1, priority="low"), delay=-601)  # 2 x 300 s + 1 s ago
        recent_low = store.enqueue(_message(2, priority="low"), delay=-599)
        high = store.enqueue(_message(3, priority="high"))
        assert [c.id for c in store.claim("w", limit=10, lease=60)] == [old_low, high, recent_low]

    def test_the_claim_limit_holds_across_priorities_and_future_rows_wait(self, store: OutboxStore) -> None:
        store.enqueue_many([_message(i, priority=p) for i, p in enumerate(["low", "normal", "high"] * 3)])
        later = store.enqueue(_message(99, priority="high"), delay=3600)
        claims = store.claim("w", limit=4, lease=60)
        assert len(claims) == 4 and later not in {c.id for c in claims}
        assert [store.find(c.id).priority for c in claims] == ["high", "high", "high", "normal"]

    def test_an_expired_row_is_never_claimed_and_ends_expired_with_the_reason(self, store: OutboxStore) -> None:
        gone = store.enqueue(_message(1, expires=PAST))
        fresh = store.enqueue(_message(2, expires=timedelta(hours=1)))
        assert [c.id for c in store.claim("w", limit=10, lease=60)] == [fresh]
        entry = store.find(gone)
        assert entry.state == "expired"
        assert entry.last_error == expiry_reason(PAST.timestamp())
        assert store.counts()["expired"] == 1
        with pytest.raises(ValueError):
            store.retry(state="expired")

    def test_a_row_under_a_live_lease_is_left_to_its_worker_when_it_expires(self, store: OutboxStore) -> None:
        row = store.enqueue(_message(1, expires=timedelta(seconds=1)))
        assert [c.id for c in store.claim("a", limit=1, lease=60)] == [row]
        time.sleep(1.2)
        assert store.claim("b", limit=1, lease=60) == []
        assert store.find(row).state == "sending"
        store.mark_expired("a", row, expiry_reason(time.time()))
        assert store.find(row).state == "expired"

    def test_enqueue_with_a_seen_key_returns_the_first_id_and_stores_nothing(self, store: OutboxStore) -> None:
        first = store.enqueue(_message(1, idempotency_key="receipt-1"))
        assert store.enqueue(_message(2, idempotency_key="receipt-1")) == first
        batch = store.enqueue_many(
            [_message(3, idempotency_key="receipt-2"), _message(4, idempotency_key="receipt-2"), _message(5)]
        )
        assert batch[0] == batch[1] != batch[2]
        assert store.enqueue_many([_message(6, idempotency_key="receipt-1")]) == [first]
        assert store.counts()["queued"] == 3
        assert store.message(first).subject == "n1"

    def test_outcomes_change_a_row_only_under_its_lease(self, store: OutboxStore) -> None:
        ids = store.enqueue_many([_message(i) for i in range(5)])
        claims = store.claim("w", limit=5, lease=60)
        assert sorted(c.id for c in claims) == sorted(ids)
        store.mark_failed("intruder", ids[0], "not mine")
        assert store.find(ids[0]).state == "sending"
        assert store.renew("w", ids[:2], 60) == ids[:2]
        assert store.renew("intruder", ids[:2], 60) == []
        store.mark_sent(ids[0], transport="memory://x", provider_message_id="p-1")
        store.mark_failed("w", ids[1], "550 no such user")
        store.mark_unknown("w", ids[2], "timeout after hand-over")
        store.mark_expired("w", ids[3], "expired at 2020-01-01T00:00:00Z before delivery")
        store.reschedule("w", ids[4], 30.0, "busy")
        assert store.counts() == {"queued": 1, "sending": 0, "sent": 1, "failed": 1, "unknown": 1, "expired": 1}
        assert store.find(ids[0]).provider_message_id == "p-1"
        assert store.find(ids[1]).last_error == "550 no such user"
        assert store.find(ids[4]).due_at > time.time() + 25
        assert store.retry(state="failed") == 1 and store.find(ids[1]).state == "queued"
        assert store.purge(state="expired") == 1

    def test_release_gives_rows_back_unsent(self, store: OutboxStore) -> None:
        ids = store.enqueue_many([_message(i) for i in range(2)])
        store.claim("w", limit=2, lease=60)
        store.release("w", ids)
        assert store.counts()["queued"] == 2
        assert [store.find(i).runs for i in ids] == [0, 0]
        assert len(store.claim("w", limit=2, lease=60)) == 2

    def test_an_expired_lease_is_claimed_again(self, store: OutboxStore) -> None:
        row = store.enqueue(_message(1))
        store.claim("dead", limit=1, lease=0.2)
        time.sleep(0.3)
        claims = store.claim("alive", limit=1, lease=60)
        assert [(c.id, c.runs) for c in claims] == [(row, 2)]
