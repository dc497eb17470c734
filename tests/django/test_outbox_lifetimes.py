"""Expiry, priority and idempotency through Django: ``EmailMessage`` attributes → the
Django-database outbox → the outbox worker, on SQLite and PostgreSQL.

The worker delivers to ``memory://django`` (the ``sent`` fixture), so what went out and in which
order is read directly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.mail import EmailMessage

from mailcore import Mailer
from mailcore.adapters.django.models import OutboxMessage
from mailcore.adapters.django.outbox import DjangoOutbox
from mailcore.outbox.worker import OutboxWorker


@pytest.fixture
def db_queue(mailcore_settings, database):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": f"django://{database}"}
    return database


def mail(subject: str, **attributes) -> int:
    message = EmailMessage(subject, "body", None, ["buyer@example.com"])
    for name, value in attributes.items():
        setattr(message, name, value)
    return message.send()


def drain(database: str, *, batch_size: int = 20) -> None:
    worker = OutboxWorker(Mailer("memory://django"), DjangoOutbox(database), batch_size=batch_size)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()


def test_an_expired_message_is_never_sent(db_queue, sent):
    mail("one-time code 123456", expires=timedelta(minutes=10))
    mail("still valid", expires=datetime.now(UTC) + timedelta(hours=1))
    past = time.time() - 60  # an outage longer than the code's lifetime
    OutboxMessage.objects.using(db_queue).filter(subject__startswith="one-time").update(expires_at=past)
    drain(db_queue)
    assert [m.subject for m in sent] == ["still valid"]
    expired = OutboxMessage.objects.using(db_queue).get(state="expired")
    assert expired.last_error.startswith("expired at ") and expired.last_error.endswith("before delivery")


def test_priority_orders_delivery(db_queue, sent):
    mail("newsletter", priority="low")
    mail("invoice")
    mail("password reset", priority="high")
    drain(db_queue, batch_size=1)
    assert [m.subject for m in sent] == ["password reset", "invoice", "newsletter"]
    assert [m.priority for m in sent] == ["high", "normal", "low"]


def test_a_low_message_that_waited_goes_before_new_high_ones(db_queue, sent):
    mail("old newsletter", priority="low")
    OutboxMessage.objects.using(db_queue).update(due_at=time.time() - 700)  # > 2 × 300 s of aging
    mail("fresh alert", priority="high")
    drain(db_queue, batch_size=1)
    assert [m.subject for m in sent] == ["old newsletter", "fresh alert"]


def test_an_idempotency_key_sends_one_receipt(db_queue, sent):
    assert mail("receipt 42", idempotency_key="payment-42") == 1
    assert mail("receipt 42 (client retried)", idempotency_key="payment-42") == 1
    assert OutboxMessage.objects.using(db_queue).count() == 1
    drain(db_queue)
    assert [m.subject for m in sent] == ["receipt 42"]
    assert sent[0].idempotency_key == "payment-42"


def test_a_bad_priority_is_refused_like_a_bad_header(mailcore_settings):
    from mailcore.adapters.django import InvalidEmailMessage

    with pytest.raises(InvalidEmailMessage, match="priority"):
        mail("x", priority="urgent")
