"""Calendar invitations: an iCalendar (RFC 5545) payload sent as a ``text/calendar`` alternative.

Mail clients show an invitation with Accept/Decline buttons when the message has a
``text/calendar; method=REQUEST`` part next to its text and HTML bodies (iMIP, RFC 6047).
:func:`calendar_part` builds that part from an ``.ics`` payload and checks what clients rely on:
a ``VCALENDAR`` object with a ``METHOD`` the ``method=`` parameter repeats::

    invite = calendar_part(Path("meeting.ics").read_bytes())
    Message(..., text="Join us on Monday", calendar=invite)

Only transports with the ``calendar`` capability carry it (SMTP, SES, SendGrid); see
docs/capabilities.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailcore.errors import InvalidMessage

__all__ = ["METHODS", "Calendar", "calendar_part"]

#: iTIP methods (RFC 5546 §1.4).
METHODS = frozenset({"PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER"})
_METHOD_LINE = re.compile(r"^METHOD:([A-Za-z-]+)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Calendar:
    """A ``text/calendar`` alternative: the iCalendar text and its iTIP ``method``."""

    ics: str
    method: str

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidMessage("calendar.method", f"{self.method!r}; use one of {', '.join(sorted(METHODS))}")

    @property
    def content_type(self) -> str:
        return f"text/calendar; charset=utf-8; method={self.method}"

    def to_dict(self) -> dict[str, Any]:
        return {"ics": self.ics, "method": self.method}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calendar:
        return calendar_part(data["ics"], method=data.get("method"))


def calendar_part(ics: str | bytes, *, method: str | None = None) -> Calendar:
    """A :class:`Calendar` from an ``.ics`` payload; ``method`` defaults to its ``METHOD:`` line.

    Raises :class:`InvalidMessage` when the payload is not a VCALENDAR object, has no method, or
    its ``METHOD`` differs from ``method`` (clients ignore such invitations).
    """
    if isinstance(ics, bytes):
        try:
            ics = ics.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidMessage("calendar", "the .ics payload is not UTF-8") from None
    text = ics.replace("\r\n", "\n").replace("\r", "\n")
    stripped = text.strip()
    if not stripped.upper().startswith("BEGIN:VCALENDAR") or not stripped.upper().endswith("END:VCALENDAR"):
        raise InvalidMessage("calendar", "an .ics payload starts with BEGIN:VCALENDAR and ends with END:VCALENDAR")
    found = _METHOD_LINE.search(text)
    declared = found.group(1).upper() if found else None
    chosen = (method or declared or "").upper()
    if not chosen:
        raise InvalidMessage(
            "calendar", "the .ics has no METHOD line; an invitation needs METHOD:REQUEST (or pass method=)"
        )
    if declared is not None and declared != chosen:
        raise InvalidMessage("calendar", f"method={chosen} but the .ics says METHOD:{declared}; they must agree")
    if declared is None:
        raise InvalidMessage("calendar", f"add METHOD:{chosen} to the VCALENDAR; clients require it to match method=")
    return Calendar(stripped.replace("\n", "\r\n") + "\r\n", chosen)
