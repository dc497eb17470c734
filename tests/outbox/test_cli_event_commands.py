"""`mailcore status` and `mailcore suppressions` on every store that keeps delivery events (SQLite
and PostgreSQL), end to end through a webhook pipeline; a store without them (the
Django-database outbox, or any other queue a plugin registers) is a clear error naming what to
use instead (exit 1, never a traceback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from mailcore import Message
from mailcore.cli import cli
from mailcore.events import DeliveryEvent
from mailcore.outbox import open_outbox
from mailcore.outbox.api import OutboxStore
from mailcore.outbox.eventsql import open_event_store
from mailcore.plugins import get_queue_registry, reset
from mailcore.webhooks.pipeline import EventPipeline


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin)


def test_status_and_suppressions_follow_what_the_pipeline_stored(store_url) -> None:
    """An ``unknown`` row settled by an ``accepted`` event, a hard bounce that suppressed its
    recipient: ``status`` shows both, ``suppressions`` lists and exports the entry."""
    message = Message("shop@example.com", ["gone@example.org"], "Receipt", text="secret body")
    with open_event_store(store_url) as box:
        row = box.enqueue(message)
        box.claim("w", limit=1, lease=60)
        box.mark_unknown("w", row, "timed out after hand-over")
        pipeline = EventPipeline(box)
        when = datetime.now(UTC)
        common = {"recipient": "gone@example.org", "correlation_id": message.correlation_id}
        pipeline.submit([
            DeliveryEvent("accepted", "acme", when, provider_event_id="a1", provider_message_id="pm-1", **common),
            DeliveryEvent("bounced", "acme", when, provider_event_id="b1", bounce_type="hard", reason="550 gone",
                          **common),
        ])  # fmt: skip
        assert pipeline.drain() == 2
    status = run("status", "--outbox", store_url, "pm-1", "--json")  # by the provider's message id
    assert status.exit_code == 0, status.output
    [found] = json.loads(status.output)["messages"]
    assert found["outbox"]["state"] == "sent" and found["outbox"]["provider_message_id"] == "pm-1"
    assert found["recipients"] == {"gone@example.org": "bounced (hard)"}
    by_address = json.loads(run("status", "--outbox", store_url, "gone@example.org", "--json").output)
    assert [entry["reason"] for entry in by_address["suppressions"]] == ["hard_bounce"]
    listed = json.loads(run("suppressions", "list", "--outbox", store_url, "--json").output)
    assert [(e["address"], e["source"], e["detail"]) for e in listed] == [
        ("gone@example.org", "acme event", "550 gone")
    ]
    exported = run("suppressions", "export", "--outbox", store_url).output
    assert "gone@example.org" in exported and "secret body" not in status.output


def test_suppressions_round_trip_between_a_sqlite_and_a_postgresql_outbox(pg_url, tmp_path) -> None:
    """Moving to PostgreSQL: export from the file, import into the database, nothing lost."""
    sqlite_url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    assert run("suppressions", "add", "--outbox", sqlite_url, "a@example.org", "b@example.org",
               "--scope", "news", "--detail", "asked, twice").exit_code == 0  # fmt: skip
    exported = run("suppressions", "export", "--outbox", sqlite_url).output
    open_event_store(pg_url).close()
    imported = run("suppressions", "import", "--outbox", pg_url, "-", stdin=exported)
    assert imported.exit_code == 0 and "2 imported" in imported.output
    again = run("suppressions", "export", "--outbox", pg_url).output
    assert sorted(again.splitlines()) == sorted(exported.splitlines())  # export keeps milliseconds: ties reorder


class ForeignStore:
    """A store of another kind (as the Django-database outbox is): every outbox method, no events."""

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self._inner = open_outbox(f"sqlite:///{path}")

    def close(self) -> None:
        self._inner.close()


def _delegate(name: str):
    def method(self, *args, **kwargs):
        return getattr(self._inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


# Real methods, not __getattr__: Python 3.12+ checks protocols with getattr_static.
for _name in dir(OutboxStore):
    if callable(getattr(OutboxStore, _name)) and not _name.startswith("_") and _name != "close":
        setattr(ForeignStore, _name, _delegate(_name))
ForeignStore.retention = property(lambda self: self._inner.retention)  # type: ignore[attr-defined]


@pytest.fixture
def foreign(tmp_path):
    reset()
    registry = get_queue_registry()
    registry.current_plugin = "foreignplugin"
    registry.add("foreign", lambda url: ForeignStore(url, str(tmp_path / "foreign.sqlite3")))
    registry.current_plugin = "mailcore"
    yield "foreign://somewhere"
    reset()


@pytest.mark.parametrize(
    "args",
    [
        ("status", "someone@example.org"),
        ("suppressions", "list"),
        ("suppressions", "export"),
        ("suppressions", "add", "someone@example.org"),
        ("suppressions", "remove", "someone@example.org"),
    ],
    ids=["status", "suppressions-list", "suppressions-export", "suppressions-add", "suppressions-remove"],
)
def test_a_store_without_events_is_a_clear_error(foreign, args) -> None:
    assert run("outbox", "stats", "--outbox", foreign).exit_code == 0  # a working store, of another kind
    result = run(*args, "--outbox", foreign)
    assert result.exit_code == 1, result.output
    assert "kept in a SQLite or PostgreSQL outbox" in result.output and "foreign://somewhere" in result.output
    assert "postgresql://" in result.output and "Traceback" not in result.output


def test_the_worker_handles_events_a_receiver_stored_but_left_unhandled(store_url) -> None:
    """A receiver killed between storing an event and handling it: `mailcore worker` handles
    the event (the ``unknown`` row is settled, the hard bounce suppresses) instead of leaving it
    until the next webhook; ``--no-events`` leaves it pending."""
    message = Message("shop@example.com", ["gone@example.org"], "Receipt", text="body")
    when = datetime.now(UTC)
    common = {"recipient": "gone@example.org", "correlation_id": message.correlation_id}
    with open_event_store(store_url) as box:
        row = box.enqueue(message)
        box.claim("w", limit=1, lease=60)
        box.mark_unknown("w", row, "timed out after hand-over")
        EventPipeline(box).submit([DeliveryEvent("accepted", "acme", when, provider_event_id="a1", **common)])
    worker = ("worker", "--url", "memory://w", "--outbox", store_url, "--drain", "--status-interval", "0")
    assert run(*worker, "--no-events").exit_code == 0
    with open_event_store(store_url) as box:
        assert box.find(row).state == "unknown"  # nothing handled it
        EventPipeline(box).submit(
            [DeliveryEvent("bounced", "acme", when, provider_event_id="b1", bounce_type="hard", **common)]
        )
    result = run(*worker)
    assert result.exit_code == 0, result.output
    with open_event_store(store_url) as box:
        assert box.find(row).state == "sent"
    listed = json.loads(run("suppressions", "list", "--outbox", store_url, "--json").output)
    assert [e["address"] for e in listed] == ["gone@example.org"]
