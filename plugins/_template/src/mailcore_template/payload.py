"""Message → provider request: a pure function, tested without a network."""

from __future__ import annotations

from typing import Any

from mailcore.errors import InvalidMessage
from mailcore.message import Message


def build_payload(message: Message) -> dict[str, Any]:
    """The request body the provider expects. Raise InvalidMessage for what it cannot carry."""
    if message.attachments:
        raise InvalidMessage("attachments", "the template provider does not support attachments")
    return {
        "from": str(message.from_email),
        "to": [a.email for a in message.recipients],
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "correlation_id": message.correlation_id,
    }
