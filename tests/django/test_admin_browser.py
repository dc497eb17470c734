"""The mailcore admin in a real browser: Debian's headless Chromium driving a live Django server.

The scenario of issue 18: a message to a mailbox that refused it is ``failed``; an operator logs
in, finds it by recipient through the search box, runs *retry*; the worker delivers it to a real
SMTP server (aiosmtpd); the admin shows it ``sent``. And the body stays off the page of a user
without ``mailcore.view_outbox_body``.

Runs in the django nox sessions (Django 5.2 and 6.1); skipped without chromium locally, failed
under CI (tests/django/browser.py).
"""

from __future__ import annotations

import io

import pytest
from admin_pages import log_in, result_rows, run_action, search, wait_for
from conftest import free_port
from django.contrib.auth.models import Permission
from outbox_rows import BODY, a_message
from selenium.webdriver.common.by import By

from mailcore.adapters.django.models import OutboxMessage
from mailcore.adapters.django.outbox import DjangoOutbox
from mailcore.outbox.retention import digest_recipients

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "not-a-secret-1"
CHANGELIST = "/admin/mailcore/outboxmessage/"


class Mailbox:
    """An aiosmtpd handler: refuses the addresses in ``refused`` with 550, keeps the rest."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK queued as Q5ADMIN1"


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller

    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}?tls=none&timeout=10"
    try:
        yield handler
    finally:
        controller.stop()


def staff_user(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="mailcore", codename__in=codenames))
    return user


def drain(settings, mailbox):
    """``manage.py mailcore_worker --drain``: the worker an operator runs, on the db queue, to
    the real SMTP server, until nothing is due."""
    from django.core.management import call_command

    settings.EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
    settings.MAILCORE = {"URL": mailbox.url, "QUEUE": "db", "RETRY": {"attempts": 1}}
    call_command("mailcore_worker", "--drain", "--status-interval", "60", stdout=io.StringIO(), stderr=io.StringIO())


def state_cell(row):
    return row.find_element(By.CSS_SELECTOR, "td.field-state").text


def test_find_a_failed_message_retry_it_and_see_it_sent(
    page, live_server, django_user_model, settings, mailbox, smtp_plugin
):
    store = DjangoOutbox()
    mailbox.refused.add("grace@example.com")
    failing = store.enqueue(a_message("grace@example.com"))
    for other in ("ada@example.com", "linus@example.com"):
        store.enqueue(a_message(other))
    drain(settings, mailbox)
    assert dict(OutboxMessage.objects.values_list("recipients", "state")) == {
        "grace@example.com": "failed",
        **{digest_recipients(other): "sent" for other in ("ada@example.com", "linus@example.com")},
    }

    staff_user(django_user_model, "operator", "view_outboxmessage", "change_outboxmessage")
    log_in(page, live_server.url, "operator", PASSWORD)
    page.get(live_server.url + CHANGELIST)
    search(page, "grace@")
    (row,) = result_rows(page)
    assert failing[:12] in row.text and state_cell(row) == "failed" and "550" in row.text

    assert run_action(page, "retry_messages", [row]) == "1 message retried."
    (row,) = result_rows(page)  # the admin comes back to the same search
    assert state_cell(row) == "queued"

    mailbox.refused.clear()  # the mailbox is back
    drain(settings, mailbox)
    assert [to for to, _ in mailbox.received][-1] == ["grace@example.com"]

    # Sent: the retention rule dropped the content and keeps the recipient as a digest, which
    # the full address still finds.
    search(page, "grace@example.com")
    (row,) = result_rows(page)
    assert state_cell(row) == "sent"
    row.find_element(By.CSS_SELECTOR, "th.field-short_id a").click()
    timeline = wait_for(page, "table.mailcore-timeline").text
    assert "sent" in timeline and "smtp://127.0.0.1" in timeline and "retried" in timeline


def test_the_body_is_shown_only_with_the_body_permission(page, live_server, django_user_model):
    row_id = DjangoOutbox().enqueue(a_message("grace@example.com"))
    detail = f"{live_server.url}{CHANGELIST}{row_id}/change/"

    staff_user(django_user_model, "operator", "view_outboxmessage")
    log_in(page, live_server.url, "operator", PASSWORD)
    page.get(detail)
    wait_for(page, "table.mailcore-timeline")
    assert "grace@example.com" in page.page_source
    assert BODY not in page.page_source and "Your sign-in code" not in page.page_source

    page.delete_all_cookies()
    staff_user(django_user_model, "reader", "view_outboxmessage", "view_outbox_body")
    log_in(page, live_server.url, "reader", PASSWORD)
    page.get(detail)
    assert BODY in wait_for(page, "table.mailcore-content").text
