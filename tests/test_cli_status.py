"""``mailcore status`` and ``mailcore suppressions``: output, JSON, exit codes, clear errors — on a
SQLite outbox and on a PostgreSQL outbox (``store_url``: PostgreSQL on 127.0.0.1:5432 skips with
a reason locally, fails in CI when missing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from mailcore import Message
from mailcore.cli import cli
from mailcore.events import DeliveryEvent
from mailcore.outbox import events as store
from mailcore.outbox.eventsql import event_db
from mailcore.outbox.eventsql import open_event_store as open_outbox
from mailcore.outbox.timeline import SETTLE_WINDOW, recipient_states, unknown_note


@pytest.fixture
def url(store_url):
    open_outbox(store_url).close()  # the outbox exists: the commands never create one
    return store_url


def missing(url: str) -> str:
    """An outbox URL next to ``url`` where there is none (a file, a database)."""
    return url + "_missing"


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin)


def test_suppressions_add_list_export_import_remove(url, tmp_path) -> None:
    added = run("suppressions", "add", "--outbox", url, "Ann <Ann@Example.org>", "bob@example.org", "--detail", "asked")
    assert added.exit_code == 0 and "2 added" in added.output
    again = run("suppressions", "add", "--outbox", url, "ann@example.org")
    assert "0 added, 1 already listed" in again.output
    listed = json.loads(run("suppressions", "list", "--outbox", url, "--json").output)
    assert sorted(e["address"] for e in listed) == ["ann@example.org", "bob@example.org"]
    assert {e["source"] for e in listed} == {"cli"}
    exported = run("suppressions", "export", "--outbox", url).output
    assert exported.splitlines()[0] == "address,scope,reason,source,detail,created_at"
    removed = run("suppressions", "remove", "--outbox", url, "ANN@example.org")
    assert removed.exit_code == 0 and "1 entry removed" in removed.output
    assert run("suppressions", "remove", "--outbox", url, "ann@example.org").exit_code == 1
    imported = run("suppressions", "import", "--outbox", url, "-", stdin=exported)
    assert imported.exit_code == 0 and "1 imported, 1 already listed" in imported.output


def test_suppressions_bad_input_is_a_clear_error(url) -> None:
    bad = run("suppressions", "add", "--outbox", url, "ok@example.org", "not-an-address")
    assert bad.exit_code == 2 and "ADDRESSES[1]" in bad.output and "not-an-address" in bad.output
    assert json.loads(run("suppressions", "list", "--outbox", url, "--json").output) == []  # nothing half-added
    csv_text = "address,reason\nok@example.org,manual\nnope,manual\n"
    result = run("suppressions", "import", "--outbox", url, "-", stdin=csv_text)
    assert result.exit_code == 1 and "line 3" in result.output and "nothing imported" in result.output
    assert run("suppressions", "list", "--outbox", url, "--json").output.strip() == "[]"
    absent = run("suppressions", "list", "--outbox", missing(url))
    assert absent.exit_code == 1 and "Traceback" not in absent.output
    assert ("no outbox at" if url.startswith("sqlite") else "does not exist") in absent.output


def test_status_exit_codes_and_json(url) -> None:
    message = Message("shop@example.com", ["ann@example.org"], "Receipt", text="secret body")
    with open_outbox(url) as box:
        row = box.enqueue(message)
        box.claim("w", limit=1, lease=60)
        box.mark_sent(row, transport="acme://", provider_message_id="p-1")
        when = datetime.now(UTC)
        store.store_events(box, [
            DeliveryEvent("accepted", "acme", when, recipient="ann@example.org",
                          correlation_id=message.correlation_id, provider_event_id="1"),
            DeliveryEvent("bounced", "acme", when, recipient="ann@example.org", bounce_type="hard",
                          correlation_id=message.correlation_id, provider_event_id="2", reason="550 gone"),
        ])  # fmt: skip
    document = json.loads(run("status", "--outbox", url, message.message_id, "--json").output)
    [found] = document["messages"]
    assert found["recipients"] == {"ann@example.org": "bounced (hard)"}
    assert found["outbox"]["provider_message_id"] == "p-1"
    text = run("status", "--outbox", url, row[:8])
    assert text.exit_code == 0 and "bounced (hard)" in text.output and "secret body" not in text.output
    by_address = json.loads(run("status", "--outbox", url, "--address", "ann@example.org", "--json").output)
    assert [m["message_id"] for m in by_address["messages"]] == [message.message_id]
    nothing = run("status", "--outbox", url, "<nobody@example.com>")
    assert nothing.exit_code == 1 and "nothing known" in nothing.output
    assert run("status", "--outbox", missing(url), "x").exit_code == 1
    assert run("status", "--outbox", url).exit_code == 2


def test_recipient_state_is_the_strongest_event() -> None:
    def stored(kind: str, recipient: str, bounce_type: str | None = None) -> store.StoredEvent:
        return store.StoredEvent(0, "acme", kind, bounce_type, None, "", recipient, None, None, None, None, 0.0,
                                 0.0, None, None, "{}", None, None)  # fmt: skip

    events = [
        stored("accepted", "a@x.org"),
        stored("deferred", "a@x.org"),
        stored("delivered", "a@x.org"),
        stored("delivered", "b@x.org"),
        stored("complained", "b@x.org"),
        stored("opened", "c@x.org"),
        stored("bounced", "d@x.org", "soft"),
        stored("delivered", "d@x.org"),
    ]
    assert recipient_states(events) == {
        "a@x.org": "delivered",
        "b@x.org": "complained",
        "c@x.org": "delivered",
        "d@x.org": "bounced (soft)",
    }


def test_unknown_note_says_waiting_then_probably_not_delivered(url) -> None:
    with open_outbox(url) as box:
        row = box.enqueue(Message("shop@example.com", ["ann@example.org"], "s", text="x"))
        box.claim("w", limit=1, lease=60)
        box.mark_unknown("w", row, "timed out after hand-over")
        entry = box.find(row)
    assert "waiting for a provider event" in (unknown_note(entry, [], now=entry.updated_at + 60) or "")
    late = unknown_note(entry, [], now=entry.updated_at + SETTLE_WINDOW + 1) or ""
    assert "probably not delivered" in late and f"mailcore outbox retry {row[:12]}" in late


def test_outbox_list_reports_unknown_rows_no_event_settled(url) -> None:
    with open_outbox(url) as box:
        row = box.enqueue(Message("shop@example.com", ["ann@example.org"], "s", text="x"))
        box.claim("w", limit=1, lease=60)
        box.mark_unknown("w", row, "timed out after hand-over")
        event_db(box).write(
            lambda tx: tx.run("UPDATE {outbox} SET updated_at = updated_at - ? WHERE id = ?", (SETTLE_WINDOW + 5, row))
        )
    [listed] = json.loads(run("outbox", "list", "--outbox", url, "--json").output)
    assert listed["state"] == "unknown" and listed["unsettled"] is True
    assert "probably not delivered" in run("outbox", "list", "--outbox", url).output
