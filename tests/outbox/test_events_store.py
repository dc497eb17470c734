"""Delivery events stored beside the outbox: idempotent storage, links, retention, the handler.

Every test that is not about one store's own schema runs on the SQLite outbox and on the
PostgreSQL outbox (``store_url``; PostgreSQL on 127.0.0.1:5432 skips with a reason locally and
fails in CI when it is missing)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mailcore import Message
from mailcore.events import DeliveryEvent, EventKind
from mailcore.outbox import Retention, open_outbox, recipient_digest
from mailcore.outbox import events as store
from mailcore.outbox.eventsql import event_db, open_event_store
from mailcore.outbox.suppressions import suppressions
from mailcore.plugins import get_plugin_manager, hookimpl
from mailcore.webhooks.pipeline import EventPipeline, HandlingRules, suppressions_for

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def message(to: str = "ann@example.org") -> Message:
    return Message("shop@example.com", [to], "Receipt", text="Thanks")


def event(kind: str = "delivered", msg: Message | None = None, **changes) -> DeliveryEvent:
    timestamp = changes.pop("timestamp", NOW)
    fields = {
        "recipient": "ann@example.org",
        "correlation_id": msg.correlation_id if msg else None,
        "provider_event_id": None,
        "raw": {"event": kind, "email": "ann@example.org"},
        **changes,
    }
    return DeliveryEvent(kind, "acme", timestamp, **fields)


@pytest.fixture
def outbox(store_url):
    with open_event_store(store_url) as box:
        yield box


def stored_ids(box) -> list[str]:
    """Every stored event's provider event id, whatever the store."""
    rows = event_db(box).read(lambda tx: tx.rows("SELECT provider_event_id FROM {events} ORDER BY seq"))
    return [row[0] for row in rows]


def test_tables_are_added_without_touching_the_outbox_schema_version(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    with open_outbox(f"sqlite:///{path}") as box:
        version = box._db.execute("PRAGMA user_version").fetchone()[0]
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER outbox_delete_events; DROP TABLE delivery_events; DROP TABLE suppressions;")
    db.close()
    with open_outbox(f"sqlite:///{path}") as box:  # an outbox file from before this feature
        assert store.has_schema(box._db)
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == version


def test_a_redelivered_event_is_stored_once(outbox) -> None:
    with_id = event(provider_event_id="ev-1")
    assert store.store_events(outbox, [with_id, with_id]) == 1
    assert store.store_events(outbox, [with_id]) == 0
    without_id = event("bounced", bounce_type="hard")  # no event id: the record itself decides
    assert store.store_events(outbox, [without_id]) == 1
    assert store.store_events(outbox, [event("bounced", bounce_type="hard")]) == 0
    changed = event("bounced", bounce_type="hard", raw={"event": "bounce", "n": 2})
    assert store.store_events(outbox, [changed]) == 1
    assert store.pending_count(outbox) == 3


def test_events_link_to_their_outbox_row_by_message_id_or_provider_id(outbox) -> None:
    first, second = message(), message()
    first_id = outbox.enqueue(first)
    second_id = outbox.enqueue(second)
    assert len(outbox.claim("w", limit=2, lease=60)) == 2
    outbox.mark_sent(second_id, transport="acme://", provider_message_id="prov-2")
    store.store_events(outbox, [event(msg=first, provider_event_id="a"),
                                event(provider_message_id="prov-2", provider_event_id="b"),
                                event(provider_event_id="c")])  # fmt: skip
    assert [e.outbox_id for e in store.events_for(outbox, outbox_id=first_id)] == [first_id]
    assert [e.provider_event_id for e in store.events_for(outbox, outbox_id=second_id)] == ["b"]
    assert [e.provider_event_id for e in store.events_for(outbox, recipient="ANN@example.org")] == ["a", "b", "c"]


def test_retention_drops_raw_records_then_the_events_with_their_rows(outbox) -> None:
    msg = message()
    row = outbox.enqueue(msg)
    outbox.claim("w", limit=1, lease=60)
    outbox.mark_failed("w", row, "refused")
    store.store_events(outbox, [event(msg=msg, provider_event_id="linked"), event(provider_event_id="loose")])
    store.mark_handled(outbox, [e.seq for e in store.claim_pending(outbox)])
    rule = Retention(sent_body=0, failed_body=10, metadata=100)
    later = time.time() + 50
    assert store.enforce_event_retention(outbox, rule, now=later) == (2, 0)
    stored = store.events_for(outbox, recipient="ann@example.org")
    assert [e.raw for e in stored] == ["", ""]
    assert {e.recipient for e in stored} == {recipient_digest("ann@example.org")}
    # the whole outbox retention: the failed row goes, its event with it; the loose one by age
    assert outbox.enforce_retention(rule, now=time.time() + 1000) == (1, 1)  # content dropped, row deleted
    assert stored_ids(outbox) == []


def test_purging_a_row_deletes_its_events(outbox) -> None:
    msg = message()
    outbox.enqueue(msg)
    store.store_events(outbox, [event(msg=msg, provider_event_id="x")])
    assert outbox.purge(state="queued") == 1
    assert store.events_for(outbox, message_id=msg.message_id) == []


def test_unhandled_events_are_handled_by_the_next_pipeline(store_url) -> None:
    """The receiver stored events and died before handling them: the next start handles them."""
    url = store_url
    seen: list[DeliveryEvent] = []

    class Observer:
        @hookimpl
        def mailcore_delivery_event(self, event):
            seen.append(event)

    first = EventPipeline(url)  # never started: as if the process died after the 2xx
    first.submit([event("bounced", bounce_type="hard", provider_event_id="b1", reason="550 no such user")])
    first.close()
    assert seen == []
    get_plugin_manager().register(Observer(), name="test-pipeline-observer")
    try:
        second = EventPipeline(url).start()
        assert second.wait_idle(30)
        second.close()
    finally:
        get_plugin_manager().unregister(name="test-pipeline-observer")
    assert [(e.kind, e.provider_event_id, e.raw["event"]) for e in seen] == [(EventKind.BOUNCED, "b1", "bounced")]
    with open_event_store(url) as box:
        [entry] = suppressions(box)
        assert (entry.address, entry.reason, entry.detail) == ("ann@example.org", "hard_bounce", "550 no such user")
        assert store.pending_count(box) == 0


def test_a_claimed_event_is_not_handed_to_another_drainer(outbox) -> None:
    store.store_events(outbox, [event(provider_event_id="one")])
    assert len(store.claim_pending(outbox, lease=60)) == 1
    assert store.claim_pending(outbox) == []


def test_a_failing_observer_does_not_stop_handling(store_url) -> None:
    class Raising:
        @hookimpl
        def mailcore_delivery_event(self, event):
            raise RuntimeError("observer bug")

    get_plugin_manager().register(Raising(), name="test-raising-pipeline-observer")
    try:
        pipeline = EventPipeline(store_url)
        pipeline.submit([event("complained", provider_event_id="c")])
        assert pipeline.drain() == 1
        assert [e.reason for e in suppressions(pipeline.outbox)] == ["complaint"]
        pipeline.close()
    finally:
        get_plugin_manager().unregister(name="test-raising-pipeline-observer")


def test_settling_moves_only_unknown_rows(outbox) -> None:
    unknown, queued = message(), message()
    unknown_id = outbox.enqueue(unknown)
    outbox.claim("w", limit=1, lease=60)
    outbox.mark_unknown("w", unknown_id, "timed out after hand-over")
    outbox.enqueue(queued)
    pipeline = EventPipeline(outbox)
    pipeline.submit([event("delivered", msg=unknown, provider_message_id="p1", provider_event_id="1"),
                     event("accepted", msg=queued, provider_event_id="2")])  # fmt: skip
    assert pipeline.drain() == 2
    settled = outbox.find(unknown.message_id)
    assert (settled.state, settled.transport, settled.provider_message_id) == ("sent", "acme", "p1")
    assert "settled by a acme 'delivered' event" in (settled.last_error or "")
    assert outbox.find(queued.message_id).state == "queued"


def test_a_bounce_does_not_settle_an_unknown_row(outbox) -> None:
    msg = message()
    row = outbox.enqueue(msg)
    outbox.claim("w", limit=1, lease=60)
    outbox.mark_unknown("w", row, "timeout")
    pipeline = EventPipeline(outbox)
    pipeline.submit([event("deferred", msg=msg, provider_event_id="d")])
    pipeline.drain()
    assert outbox.find(row).state == "unknown"


# -- suppressions_for (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"kind": "bounced", "bounce_type": "hard"}, [("*", "hard_bounce")]),
        ({"kind": "bounced", "bounce_type": "soft"}, []),
        ({"kind": "complained"}, [("*", "complaint")]),
        ({"kind": "unsubscribed"}, [("*", "unsubscribe")]),
        (
            {"kind": "unsubscribed", "categories": ("news", "weekly")},
            [("news", "unsubscribe"), ("weekly", "unsubscribe")],
        ),
        ({"kind": "dropped", "suppressed_by": "bounce"}, [("provider:acme", "provider")]),
        ({"kind": "dropped", "suppressed_by": "unsubscribe"}, [("provider:acme", "provider")]),
        ({"kind": "dropped", "suppressed_by": "complaint"}, [("*", "complaint")]),
        ({"kind": "dropped"}, []),
        ({"kind": "delivered"}, []),
        ({"kind": "bounced", "bounce_type": "hard", "recipient": None}, []),
        ({"kind": "bounced", "bounce_type": "hard", "recipient": "not an address"}, []),
    ],
)
def test_what_an_event_adds_to_the_suppression_list(changes, expected) -> None:
    kind = changes.pop("kind")
    entries = suppressions_for(event(kind, **changes))
    assert [(e.scope, e.reason) for e in entries] == expected
    assert all(e.address == "ann@example.org" and e.source == "acme event" for e in entries)


def test_provider_failover_can_be_turned_off() -> None:
    rules = HandlingRules(provider_failover=frozenset())
    [entry] = suppressions_for(event("dropped", suppressed_by="bounce"), rules)
    assert (entry.scope, entry.reason) == ("*", "hard_bounce")
    assert suppressions_for(event("bounced", bounce_type="hard"), HandlingRules(suppress=False)) == []


def test_stored_event_round_trips_to_a_delivery_event(outbox) -> None:
    original = event("bounced", bounce_type="hard", provider_event_id="rt", categories=("news",),
                     timestamp=NOW + timedelta(seconds=1.5), diagnostic="550")  # fmt: skip
    store.store_events(outbox, [original])
    [stored] = store.claim_pending(outbox)
    again = stored.event()
    assert again == original and dict(again.raw) == dict(original.raw)
    assert json.loads(stored.raw) == {"event": "bounced", "email": "ann@example.org"}


def test_a_one_shot_process_handles_its_events_before_it_exits(store_url) -> None:
    """``mailcore events ingest-dsn`` style: dispatch, then exit at once; the list is fed anyway."""
    import os
    import subprocess
    import sys

    url = store_url
    code = (
        "from datetime import UTC, datetime\n"
        "from mailcore.events import DeliveryEvent\n"
        "from mailcore.webhooks.app import dispatch_events\n"
        "dispatch_events([DeliveryEvent('bounced', 'smtp', datetime.now(UTC), recipient='gone@example.org',"
        " bounce_type='hard', provider_event_id='dsn-1')])\n"
    )
    env = {**os.environ, "MAILCORE_OUTBOX": url}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    with open_event_store(url) as box:
        assert [(e.address, e.reason) for e in suppressions(box)] == [("gone@example.org", "hard_bounce")]
        assert store.pending_count(box) == 0


def test_an_event_overtaking_the_worker_still_settles_the_row(outbox) -> None:
    """The provider's event is handled while the worker is still recording its ambiguous
    timeout: the row ends ``sent`` whichever write comes first."""
    msg = message()
    row = outbox.enqueue(msg)
    outbox.claim("w", limit=1, lease=60)  # sending
    pipeline = EventPipeline(outbox)
    pipeline.submit([event("accepted", msg=msg, provider_message_id="early", provider_event_id="e")])
    pipeline.drain()
    outbox.mark_unknown("w", row, "timed out after hand-over")  # the worker's write comes second
    entry = outbox.find(row)
    assert (entry.state, entry.provider_message_id) == ("sent", "early")


def test_settling_drops_the_content_when_the_retention_drops_sent_content(outbox) -> None:
    """As ``mark_sent`` does: a row settled as sent keeps no subject or body, recipients as digests."""
    msg = message()
    row = outbox.enqueue(msg)
    outbox.claim("w", limit=1, lease=60)
    outbox.mark_unknown("w", row, "timed out after hand-over")
    assert outbox.retention.drops_sent_body_at_once
    assert store.settle(outbox, row, provider="acme", provider_message_id=None, kind="accepted")
    entry = outbox.find(row)
    assert (entry.state, entry.has_body, entry.subject) == ("sent", False, "")
    assert entry.recipients == (recipient_digest("ann@example.org"),)
    assert not store.settle(outbox, row, provider="acme", provider_message_id=None, kind="accepted")  # once


def test_drainers_in_parallel_never_share_an_event(store_url) -> None:
    """Four handlers, each with its own connection, claim in small batches until nothing is left:
    every event is claimed exactly once."""
    with open_event_store(store_url) as box:
        store.store_events(box, [event(provider_event_id=f"p{n}") for n in range(60)])
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def drain() -> None:
        mine: list[int] = []
        try:
            with open_event_store(store_url) as box:
                barrier.wait()
                while batch := store.claim_pending(box, limit=3, lease=600):
                    mine += [e.seq for e in batch]
        except BaseException as error:
            errors.append(error)
        claimed.append(mine)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    everything = [seq for mine in claimed for seq in mine]
    assert len(everything) == 60 and len(set(everything)) == 60


# -- PostgreSQL only -------------------------------------------------------------------------------


@pytest.mark.service
def test_a_claim_skips_events_another_process_holds(pg_url) -> None:
    """A receiver mid-claim holds its events' row locks: another one takes the rest at once."""
    from conftest import pg_connect

    with open_event_store(pg_url) as box:
        store.store_events(box, [event(provider_event_id=f"s{n}") for n in range(3)])
        with pg_connect(pg_url) as other:
            other.execute("BEGIN")
            other.execute("SELECT seq FROM mailcore_delivery_events WHERE provider_event_id = 's0' FOR UPDATE")
            claimed = store.claim_pending(box, limit=10)
            other.execute("ROLLBACK")
        assert sorted(e.provider_event_id for e in claimed) == ["s1", "s2"]
        assert [e.provider_event_id for e in store.claim_pending(box, limit=10)] == ["s0"]


@pytest.mark.service
def test_events_of_rows_truncated_away_go_with_the_metadata_rule(pg_url) -> None:
    """A TRUNCATE (Django's test flush) fires no delete trigger: such events count as linked to
    no row and are deleted after keep_metadata, like events that never had one."""
    from conftest import pg_connect

    msg = message()
    with open_event_store(pg_url) as box:
        box.enqueue(msg)
        store.store_events(box, [event(msg=msg, provider_event_id="t")])
        store.mark_handled(box, [e.seq for e in store.claim_pending(box)])
        with pg_connect(pg_url) as conn:
            conn.execute("TRUNCATE mailcore_outbox")
        rule = Retention(sent_body=0, failed_body=None, metadata=100)
        assert store.enforce_event_retention(box, rule, now=time.time() + 50) == (0, 0)
        assert store.enforce_event_retention(box, rule, now=time.time() + 500) == (0, 1)
        assert stored_ids(box) == []
