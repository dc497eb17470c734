"""The admin's timeline: the outbox's bookkeeping as dated lines, and the source extension point."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mailcore.adapters.django.timeline import (
    TimelineEntry,
    add_timeline_source,
    bookkeeping_timeline,
    remove_timeline_source,
    timeline,
)


@dataclass
class Row:
    id: str = "abc"
    state: str = "queued"
    runs: int = 0
    created_at: float = 1000.0
    updated_at: float = 1000.0
    age_from: float = 1000.0
    due_at: float = 1000.0
    lease_owner: str | None = None
    last_error: str | None = None
    transport: str | None = None
    provider_message_id: str | None = None
    expires_at: float | None = None


def whats(entries):
    return [entry.what for entry in entries]


def test_a_sent_row_after_a_retry():
    row = Row(
        state="sent",
        runs=2,
        age_from=2000.0,
        updated_at=2100.0,
        transport="smtp://user:hunter2@relay:587",
        provider_message_id="p-1",
    )
    entries = bookkeeping_timeline(row)
    assert whats(entries) == ["enqueued", "retried", "sent"]
    assert "p-1" in entries[-1].detail and "after 2 delivery runs" in entries[-1].detail
    assert "hunter2" not in entries[-1].detail  # the transport is masked


def test_a_deferred_row_says_why_and_when_it_is_due_and_when_it_expires():
    row = Row(runs=1, updated_at=1100.0, due_at=1400.0, last_error="421 try later\x1b[2J", expires_at=1600.0)
    entries = bookkeeping_timeline(row)
    assert whats(entries) == ["enqueued", "deferred", "due", "expires"]
    assert "421 try later" in entries[1].detail and "\x1b" not in entries[1].detail  # control characters escaped


@pytest.mark.parametrize("state", ["failed", "unknown", "expired", "a-future-state"])
def test_finished_rows_show_their_reason(state):
    entries = bookkeeping_timeline(Row(state=state, runs=1, updated_at=1100.0, last_error="cancelled by ada"))
    assert (entries[-1].what, entries[-1].detail) == (state, "cancelled by ada (after 1 delivery run)")


def test_a_claimed_row_shows_its_worker_and_lease():
    entries = bookkeeping_timeline(Row(state="sending", runs=1, updated_at=1100.0, due_at=1400.0, lease_owner="h:1"))
    assert whats(entries) == ["enqueued", "claimed", "lease ends"] and "h:1" in entries[1].detail


def test_sources_add_lines_in_time_order_and_a_failing_source_is_one_line():
    def events(row):
        yield TimelineEntry(1500.0, "delivered", "250 OK at the recipient", "events")

    def broken(row):
        raise RuntimeError("database gone")

    add_timeline_source(events)
    add_timeline_source(broken)
    try:
        entries = timeline(Row(state="sent", runs=1, updated_at=1200.0))
    finally:
        remove_timeline_source(events)
        remove_timeline_source(broken)
    assert whats(entries) == ["enqueued", "sent", "timeline source failed", "delivered"]
    assert entries[2].detail == "broken: RuntimeError"
    assert whats(timeline(Row())) == ["enqueued", "due"]  # removed again


# -- the delivery events of a row, in the admin's detail page ------------------------------------

RAW_ONLY = "RawOnlyField-5c1f"  # only in the provider's raw record: never in the page


@pytest.mark.django_db
def test_the_detail_page_shows_the_rows_delivery_events(client, django_user_model):
    from datetime import UTC, datetime

    from django.contrib.auth.models import Permission
    from outbox_rows import BODY, a_message, add_row

    from mailcore.adapters.django.outbox import DjangoOutbox
    from mailcore.events import DeliveryEvent, EventKind
    from mailcore.outbox.events import store_events

    message = a_message("grace@example.com")
    row = add_row(message, state="sent", runs=1, transport="smtp://relay:25")
    other = a_message("linus@example.com")
    add_row(other, state="sent")
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    bounce = DeliveryEvent(
        EventKind.BOUNCED, "mailgun", at, recipient="grace@example.com", correlation_id=message.correlation_id,
        bounce_type="hard", reason="550 5.1.1 mailbox unavailable", raw={"note": RAW_ONLY},
    )  # fmt: skip
    elsewhere = DeliveryEvent(EventKind.DELIVERED, "mailgun", at, correlation_id=other.correlation_id)
    assert store_events(DjangoOutbox(), [bounce, elsewhere]) == 2

    staff = django_user_model.objects.create_user("operator", "op@example.com", "pw", is_staff=True)
    view = Permission.objects.get(content_type__app_label="mailcore", codename="view_outboxmessage")
    staff.user_permissions.add(view)
    client.force_login(staff)
    url = f"/admin/mailcore/outboxmessage/{row.id}/change/"
    page = client.get(url).content.decode()
    lines = page[page.index('class="mailcore-timeline"') :]
    lines = lines[: lines.index("</table>")]
    assert "bounced (hard)" in lines and "by mailgun for grace@example.com: 550 5.1.1 mailbox unavailable" in lines
    assert "2026-11-30 12:00:00 UTC" in lines and ">sent<" in lines  # the event beside the delivery run
    assert "delivered" not in lines  # another message's event
    assert BODY not in page and RAW_ONLY not in page

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="mailcore", codename="view_outbox_body"))
    page = client.get(url).content.decode()
    assert BODY in page and "bounced (hard)" in page and RAW_ONLY not in page  # raw records: never


def test_transport_label_shows_a_provider_name_and_masks_a_url() -> None:
    from mailcore.adapters.django.timeline import transport_label

    assert transport_label("sendgrid") == "sendgrid"
    assert transport_label(None) == "" and transport_label("") == ""
    shown = transport_label("smtp://user:hunter2secret@mail.example.com:587")
    assert "hunter2secret" not in shown and "mail.example.com" in shown
    assert "s3cr3t-key" not in transport_label("SG.s3cr3t-key")  # not a bare provider name: masked
