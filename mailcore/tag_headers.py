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

from mailcore.errors import InvalidMessage
from mailcore.message import Message

__all__ = ["METADATA_HEADER", "TAGS_HEADER", "checked_extra_headers", "header_json", "neutral_tag_headers"]

TAGS_HEADER = "X-Mailcore-Tags"
METADATA_HEADER = "X-Mailcore-Metadata"
#: Longest run without a space a header value may have: folding happens at spaces only, and a
#: line may not pass 998 characters (RFC 5322), header name included.
MAX_UNBROKEN = 900


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
    return checked_extra_headers(message, headers)


def checked_extra_headers(message: Message, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` after two checks that keep them intact on the wire, else :class:`InvalidMessage`:

    * the message does not set a header of the same name itself (two ``X-SMTPAPI`` headers
      would leave the relay to pick one); without tags and metadata the sender's own header is
      kept and ours (the correlation id only) left out;
    * every value folds into lines of at most 998 characters (no run of more than
      :data:`MAX_UNBROKEN` characters without a space), so it never needs an encoded word
      the relay would not decode.
    """
    own = {name.lower(): name for name in message.headers}
    if not (message.tags or message.metadata):  # only the correlation id: the sender's own header wins
        headers = [(name, value) for name, value in headers if name.lower() not in own]
    for name, value in headers:
        if name.lower() in own:
            raise InvalidMessage(
                f"headers[{own[name.lower()]!r}]",
                f"mailcore writes {name} from the message's tags and metadata; put the values there instead",
            )
        if any(len(word) > MAX_UNBROKEN for word in value.split(" ")):
            raise InvalidMessage(
                "metadata", f"a value of more than {MAX_UNBROKEN} characters without a space cannot travel in {name}"
            )
    return headers
