"""The outbox admin through Django's test client: list, filters, search, detail, body permission.

The browser test (test_admin_browser.py) drives the same pages in Chromium; these cover the
details quickly. Actions are tested here against the real store (DjangoOutbox).
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Permission
from outbox_rows import BODY, a_message, add_row

from mailcore.adapters.django.admin import AGE_BUCKETS, age_bounds, duration, transport_key

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/mailcore/outboxmessage/"


@pytest.fixture
def staff(django_user_model):
    """A staff user with the model's view/change/delete permissions, without the body permission."""
    user = django_user_model.objects.create_user("operator", "op@example.com", "pw", is_staff=True)
    codenames = ["view_outboxmessage", "change_outboxmessage", "delete_outboxmessage"]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="mailcore", codename__in=codenames))
    return user


@pytest.fixture
def operator(client, staff):
    client.force_login(staff)
    return client


def grant_body_permission(user):
    user.user_permissions.add(Permission.objects.get(content_type__app_label="mailcore", codename="view_outbox_body"))


def test_the_changelist_lists_rows_with_their_bookkeeping(operator):
    add_row(a_message("ada@example.com"), state="failed", runs=3, last_error="550 5.1.1 mailbox unavailable")
    page = operator.get(CHANGELIST).content.decode()
    assert "ada@example.com" in page and "failed" in page and "550 5.1.1 mailbox unavailable" in page
    assert BODY not in page and "Your sign-in code" not in page  # no content in the list
    assert "purge_messages" in page and "delete_selected" not in page  # rows leave only through purge


def test_search_by_recipient_message_id_and_correlation_id(operator):
    wanted = add_row(a_message("grace@example.com"))
    add_row(a_message("linus@example.com"))
    for term in ("grace@example", wanted.message_id, wanted.message_id.strip("<>")):
        page = operator.get(CHANGELIST, {"q": term}).content.decode()
        assert wanted.id[:12] in page and "linus@example.com" not in page, term


def test_a_full_address_finds_a_sent_row_whose_recipients_are_digests(operator):
    from mailcore.outbox.retention import digest_recipients

    row = add_row(a_message("Grace@Example.com"), state="sent", payload="", subject="")
    row.recipients = digest_recipients(row.recipients)
    row.save()
    add_row(a_message("linus@example.com"), state="sent")
    page = operator.get(CHANGELIST, {"q": "grace@example.com"}).content.decode()
    assert row.id[:12] in page and "linus@example.com" not in page
    assert row.id[:12] not in operator.get(CHANGELIST, {"q": "grace@"}).content.decode()  # partial: no digest


def test_filters_by_state_transport_and_age(operator):
    sent = add_row(a_message("sent@example.com"), state="sent", transport="smtp://relay:25", age=30)
    old = add_row(a_message("old@example.com"), state="failed", age=3 * 86400)
    page = operator.get(CHANGELIST, {"state": "sent"}).content.decode()
    assert sent.id[:12] in page and old.id[:12] not in page
    page = operator.get(CHANGELIST, {"transport": transport_key("smtp://relay:25")}).content.decode()
    assert sent.id[:12] in page and old.id[:12] not in page
    masked = add_row(a_message("m@example.com"), state="sent", transport="smtp://user:hunter2@relay.example.com:587")
    page = operator.get(CHANGELIST).content.decode()
    assert "smtp://relay:25" in page and "relay.example.com:587" in page and "hunter2" not in page  # masked filter
    page = operator.get(CHANGELIST, {"transport": transport_key(masked.transport)}).content.decode()
    assert masked.id[:12] in page and sent.id[:12] not in page
    page = operator.get(CHANGELIST, {"age": "7d"}).content.decode()
    assert old.id[:12] in page and sent.id[:12] not in page
    page = operator.get(CHANGELIST, {"age": "1h"}).content.decode()
    assert sent.id[:12] in page and masked.id[:12] in page and old.id[:12] not in page


def test_age_buckets_are_contiguous():
    now = 1_000_000.0
    for (key, *_), (next_key, *_) in itertools.pairwise(AGE_BUCKETS):
        assert age_bounds(key, now)[0] == age_bounds(next_key, now)[1]
    assert age_bounds(None, now) == (None, None) and age_bounds("nonsense", now) == (None, None)
    assert duration(59) == "59 s" and duration(3600 * 5) == "5 h" and duration(-3) == "0 s"


def test_detail_shows_the_timeline_and_hides_the_body_without_the_permission(operator):
    row = add_row(
        a_message(html="<p>secret <b>493817</b></p>"),
        state="sent",
        runs=2,
        transport="smtp://user:hunter2@relay.example.com:587",
        provider_message_id="prov-77",
    )
    page = operator.get(f"{CHANGELIST}{row.id}/change/").content.decode()
    assert "prov-77" in page and "enqueued" in page and "after 2 delivery runs" in page
    assert "hunter2" not in page  # transports are shown masked
    assert BODY not in page and "493817" not in page and "Your sign-in code" not in page
    assert row.payload not in page


def test_detail_shows_the_body_with_the_permission_as_escaped_source(operator, staff):
    grant_body_permission(staff)
    row = add_row(a_message(html="<script>alert(1)</script><p>493817</p>"))
    page = operator.get(f"{CHANGELIST}{row.id}/change/").content.decode()
    assert BODY in page and "Your sign-in code" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_detail_page_is_read_only_and_there_is_no_add_or_delete_page(operator):
    row = add_row(a_message())
    response = operator.get(f"{CHANGELIST}{row.id}/change/")
    assert response.context["adminform"].form.fields == {}  # every shown field is read-only
    page = response.content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert operator.get(f"{CHANGELIST}add/").status_code == 403
    assert operator.get(f"{CHANGELIST}{row.id}/delete/").status_code == 403


def test_a_user_without_permissions_sees_nothing(client, django_user_model):
    user = django_user_model.objects.create_user("visitor", "v@example.com", "pw", is_staff=True)
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 403


def test_the_admin_passes_djangos_system_checks():
    from django.core import checks

    problems = [m for m in checks.run_checks() if m.id.startswith("admin.") or "outbox" in str(m.obj).lower()]
    assert problems == []


# -- actions: through DjangoOutbox ---------------------------------------------------------------


def run_action(client, action, rows):
    data = {"action": action, "_selected_action": [row.id for row in rows], "index": 0}
    response = client.post(CHANGELIST, data, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_retry_makes_failed_rows_due_and_leaves_sent_ones(operator):
    failed = add_row(a_message("a@example.com"), state="failed", runs=1, last_error="550 no", due_at=0.0, age=600)
    sent = add_row(a_message("b@example.com"), state="sent", runs=1)
    assert run_action(operator, "retry_messages", [failed, sent]) == [
        "1 message retried. 1 left as they were (only failed, unknown or queued rows with their content)."
    ]
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.state == "queued" and failed.due_at > 0 and failed.age_from > failed.created_at
    assert sent.state == "sent"


def test_cancel_finishes_queued_rows_with_the_users_name_and_keeps_rows_in_flight(operator):
    queued = add_row(a_message("a@example.com"))
    sending = add_row(a_message("b@example.com"), state="sending", lease_owner="host:1:w")
    assert run_action(operator, "cancel_messages", [queued, sending])[0].startswith("1 message cancelled.")
    queued.refresh_from_db()
    sending.refresh_from_db()
    assert (queued.state, queued.last_error) == ("failed", "cancelled by operator")
    assert (sending.state, sending.lease_owner) == ("sending", "host:1:w")
    assert run_action(operator, "retry_messages", [queued]) == ["1 message retried."]  # retry undoes a cancel


def test_purge_deletes_finished_rows_only(operator):
    from mailcore.adapters.django.models import OutboxMessage

    finished = [add_row(a_message(), state=state) for state in ("sent", "failed", "unknown", "expired")]
    waiting = [add_row(a_message(), state=state) for state in ("queued", "sending")]
    messages = run_action(operator, "purge_messages", [*finished, *waiting])
    assert messages == ["4 messages purged. 2 left as they were (only finished rows: sent, failed, unknown, expired)."]
    assert set(OutboxMessage.objects.values_list("id", flat=True)) == {row.id for row in waiting}


def test_actions_need_their_permissions(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    client.force_login(viewer)
    row = add_row(a_message(), state="failed")
    page = client.get(CHANGELIST).content.decode()
    assert "retry_messages" not in page and "purge_messages" not in page and "delete_selected" not in page
    client.post(CHANGELIST, {"action": "retry_messages", "_selected_action": [row.id], "index": 0})
    row.refresh_from_db()
    assert row.state == "failed"
