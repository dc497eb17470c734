"""Build RFC 3464 delivery status notifications with the stdlib ``email`` package, for tests.

``build_dsn(original, [Recipient("user@example.org", "failed", "5.1.1", "smtp; 550 5.1.1 …")])``
returns the bytes a reporting MTA would deliver to ``original``'s envelope sender: a
``multipart/report; report-type=delivery-status`` with a human-readable part, the
``message/delivery-status`` fields and the returned headers (or the whole message, or nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from typing import Literal

__all__ = ["Recipient", "build_dsn"]


@dataclass(frozen=True)
class Recipient:
    """One per-recipient block: ``Final-Recipient``, ``Action``, ``Status`` and the rest."""

    address: str
    action: str = "failed"
    status: str = "5.1.1"
    diagnostic: str | None = "smtp; 550 5.1.1 <user@example.org>: Recipient address rejected: User unknown"
    remote_mta: str | None = "dns; mx.example.org"
    last_attempt: datetime | None = None


def _fields(pairs: list[tuple[str, str | None]]) -> Message:
    """One block of delivery-status fields (the email package writes blocks as header-only parts)."""
    block = Message()
    for name, value in pairs:
        if value is not None:
            block[name] = value
    return block


def build_dsn(
    original: bytes,
    recipients: list[Recipient],
    *,
    to: str = "bounces@example.com",
    reporting_mta: str = "mx.example.org",
    arrival: datetime | None = None,
    returned: Literal["headers", "message", "none"] = "headers",
    extra_per_message: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A DSN about ``original`` (the bytes that were sent), addressed to ``to``."""
    arrival = arrival or datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    report = EmailMessage()
    report["From"] = f"MAILER-DAEMON@{reporting_mta}"
    report["To"] = to
    report["Subject"] = "Delivery Status Notification"
    report["Date"] = format_datetime(arrival)
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["MIME-Version"] = "1.0"
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    human = Message()
    human["Content-Type"] = "text/plain; charset=us-ascii"
    human.set_payload("This is the mail system. Your message could not be delivered.\r\n")
    status = Message()
    status["Content-Type"] = "message/delivery-status"
    blocks = [
        _fields(
            [("Reporting-MTA", f"dns; {reporting_mta}"), ("Arrival-Date", format_datetime(arrival)), *extra_per_message]
        )
    ]
    for r in recipients:
        blocks.append(
            _fields(
                [
                    ("Final-Recipient", f"rfc822; {r.address}"),
                    ("Action", r.action),
                    ("Status", r.status),
                    ("Remote-MTA", r.remote_mta),
                    ("Diagnostic-Code", r.diagnostic),
                    ("Last-Attempt-Date", format_datetime(r.last_attempt) if r.last_attempt else None),
                ]
            )
        )
    status.set_payload(blocks)  # type: ignore[arg-type]
    parts = [human, status]
    headers_only = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    if returned == "headers":
        part = Message()
        part["Content-Type"] = "text/rfc822-headers"
        part.set_payload(headers_only.decode("ascii", "replace") + "\r\n")
        parts.append(part)
    elif returned == "message":
        part = Message()
        part["Content-Type"] = "message/rfc822"
        from email import message_from_bytes

        part.set_payload([message_from_bytes(original)])
        parts.append(part)
    report.set_payload(parts)  # type: ignore[arg-type]
    report.set_boundary("=_dsn_boundary_" + make_msgid().strip("<>").split("@")[0].replace(".", "_"))
    return report.as_bytes()
