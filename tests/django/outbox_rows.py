"""Outbox rows for the admin tests, written the way the stores write them (columns of issue 18)."""

from __future__ import annotations

import json
import time
import uuid

from mailcore import Message
from mailcore.adapters.django.models import OutboxMessage

BODY = "Your code is 493817; it is valid for ten minutes."


def a_message(to: str = "ada@example.com", **options) -> Message:
    options.setdefault("subject", "Your sign-in code")
    options.setdefault("text", BODY)
    return Message(from_email="shop@example.com", to=[to], **options)


def add_row(message: Message, *, state: str = "queued", age: float = 0.0, **columns) -> OutboxMessage:
    """A row as SQLiteOutbox._new_row lays it out, ``age`` seconds old, then ``columns`` on top."""
    now = time.time()
    created = now - age
    values = {
        "id": uuid.uuid4().hex,
        "message_id": message.message_id,
        "state": state,
        "payload": json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":")),
        "sender": message.from_email.email,
        "recipients": ",".join(address.email for address in message.recipients),
        "subject": message.subject,
        "runs": 0,
        "created_at": created,
        "updated_at": created,
        "age_from": created,
        "due_at": created,
    }
    values.update(columns)
    return OutboxMessage.objects.create(**values)
