"""Tags and metadata written as message headers, for transports without API fields for them.

The neutral form is what SMTP (to a relay mailcore does not know) and the console transport
write::

    X-Mailcore-Tags: ["welcome", "otp"]
    X-Mailcore-Metadata: {"user_id": "42"}

Values are JSON with every non-ASCII character and ``=`` escaped (``\\uXXXX``): a header stays
7-bit, can hold no CR or LF, folds at the spaces after separators, and never looks like an
RFC 2047 encoded word. Recipients can read these headers: keep secrets out of metadata.
The SMTP plugin writes the relay's own form instead when it knows the relay (mailcore_smtp.relay).
"""

from __future__ import annotations

import json

from mailcore.message import Message

__all__ = ["METADATA_HEADER", "TAGS_HEADER", "header_json", "neutral_tag_headers"]

TAGS_HEADER = "X-Mailcore-Tags"
METADATA_HEADER = "X-Mailcore-Metadata"


def header_json(value: object) -> str:
    """``value`` as JSON that is safe as a header value (see the module docstring)."""
    text = json.dumps(value, ensure_ascii=True, separators=(", ", ": "))
    return text.replace("=", "\\u003d")


def neutral_tag_headers(message: Message) -> list[tuple[str, str]]:
    """``X-Mailcore-Tags`` / ``X-Mailcore-Metadata`` for ``message`` (none when it has neither)."""
    headers = []
    if message.tags:
        headers.append((TAGS_HEADER, header_json(list(dict.fromkeys(message.tags)))))
    if message.metadata:
        headers.append((METADATA_HEADER, header_json(dict(message.metadata))))
    return headers
