"""RFC 3464 delivery status notifications (bounces) → :class:`~mailcore.events.DeliveryEvent`.

A DSN is a ``multipart/report; report-type=delivery-status`` message: a human-readable part, a
``message/delivery-status`` part (per-message fields, then one block of fields per recipient)
and, usually, the returned message or its headers (``text/rfc822-headers`` / ``message/rfc822``).
Every MTA writes them (Postfix, Exim, Sendmail, Exchange, Gmail), whichever provider or relay
mailcore handed the message to, so this module is core, not part of a provider plugin.

Per recipient block, ``Action`` decides the kind:

========================================  =========================================
``failed``                                ``bounced``; ``bounce_type`` ``hard`` for a
                                          5.x.x ``Status``, else ``soft``
``delayed``                               ``deferred``
``delivered``, ``relayed``, ``expanded``  ``delivered``
anything else                             ``unknown``
========================================  =========================================

Correlation: first the VERP token of the address the DSN was delivered to (``envelope_to``, or
the ``X-Original-To`` / ``Delivered-To`` / ``Envelope-To`` / ``To`` header the receiving MTA
wrote; see :mod:`mailcore.verp`), else ``X-Mailcore-ID`` or ``Message-ID`` of the returned
message. Pure: no I/O, never raises for any input; what it cannot read becomes a kind
``unknown`` event (with whatever correlation it found), never nothing. Hostile input is bounded:
the input size (:data:`MAX_DSN_BYTES`), the number of parts walked and of recipient blocks read,
and every stored field's length. The returned message's body is never read nor stored.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import parsedate_to_datetime
from typing import Any

from mailcore.events import DeliveryEvent, EventKind
from mailcore.message import CORRELATION_HEADER
from mailcore.verp import VerpToken, matches, parse_verp

__all__ = ["MAX_DSN_BYTES", "MAX_RECIPIENTS", "PROVIDER", "VERP_HEADERS", "parse_dsn"]

#: The ``provider`` of every event this module makes.
PROVIDER = "dsn"
#: Larger inputs are not parsed (one ``unknown`` event says so). Postfix returns at most
#: ``bounce_size_limit`` (50 000 bytes) of the original message; 10 MiB leaves ample room.
MAX_DSN_BYTES = 10 * 1024 * 1024
#: Recipient blocks read from one report; the rest are summarized in one ``unknown`` event.
MAX_RECIPIENTS = 1000
_MAX_PARTS = 200
_MAX_FIELD = 1000
#: Headers an MTA writes with the address it delivered the DSN to, most specific first.
VERP_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")
_DELIVERED_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_ANGLE_ID = re.compile(r"<([^<>\s]{1,998})>")


def parse_dsn(
    raw: bytes, *, envelope_to: str | None = None, received_at: datetime | None = None
) -> list[DeliveryEvent]:
    """Every event in one DSN (at least one: what cannot be read is a kind ``unknown`` event).

    :param raw: the DSN as the MTA delivered it (headers and body, bytes).
    :param envelope_to: the address the DSN was delivered to, when the MTA says so outside the
        message (Postfix ``ORIGINAL_RECIPIENT``, Exim ``RECIPIENT``); it carries the VERP token.
    :param received_at: the time for events whose report has no usable date (default: now).
    """
    fallback = (received_at or datetime.now(UTC)).astimezone(UTC)
    if len(raw) > MAX_DSN_BYTES:
        event_id = "sha256:" + hashlib.sha256(raw[:65536]).hexdigest()[:32]
        return [_unknown(f"the message is {len(raw)} bytes, over {MAX_DSN_BYTES}; not parsed", fallback, event_id)]
    try:
        return _parse(raw, envelope_to, fallback)
    except Exception as error:  # never crash on hostile input: keep what arrived as unknown
        event_id = "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
        token = parse_verp(envelope_to) if envelope_to else None
        return [
            _unknown(
                f"unreadable DSN ({type(error).__name__})",
                fallback,
                event_id,
                correlation_id=token.correlation_id if token else None,
                recipient=token.recipient if token else None,
            )
        ]


def _parse(raw: bytes, envelope_to: str | None, fallback: datetime) -> list[DeliveryEvent]:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    dsn_id = _clean(message.get("Message-ID"))
    event_base = dsn_id or "sha256:" + hashlib.sha256(raw).hexdigest()[:32]
    dsn_date = _date(message.get("Date"))
    token = _verp_token(message, envelope_to)
    report, status_part, returned = _find_parts(message)
    returned_id = _returned_id(returned)
    correlation_id = _correlation(token, returned_id)
    common: dict[str, Any] = {"dsn_message_id": dsn_id, "returned_message_id": returned_id}
    if token is not None:
        common["verp_base"] = token.base
    if report is None or status_part is None:
        why = "not an RFC 3464 delivery status notification (no multipart/report with message/delivery-status)"
        return [
            _unknown(
                why,
                dsn_date or fallback,
                f"{event_base}/0",
                correlation_id=correlation_id,
                recipient=token.recipient if token else None,
                raw=common,
            )
        ]
    blocks = _blocks(status_part)
    per_message = blocks[0] if blocks else {}
    recipients = blocks[1:]
    common |= {
        "reporting_mta": _typed_value(per_message.get("reporting-mta")),
        "arrival_date": per_message.get("arrival-date"),
        "original_envelope_id": per_message.get("original-envelope-id"),
    }
    queue_id = per_message.get("x-postfix-queue-id")
    default_time = _date(per_message.get("arrival-date")) or dsn_date or fallback
    if not recipients:
        return [
            _unknown(
                "the delivery-status part has no recipient fields",
                default_time,
                f"{event_base}/0",
                correlation_id=correlation_id,
                recipient=token.recipient if token else None,
                raw=common,
            )
        ]
    events = []
    for index, fields in enumerate(recipients[:MAX_RECIPIENTS]):
        events.append(
            _recipient_event(fields, common, f"{event_base}/{index}", correlation_id, token, queue_id, default_time)
        )
    if len(recipients) > MAX_RECIPIENTS:
        events.append(
            _unknown(
                f"recipient blocks after the first {MAX_RECIPIENTS} not read",
                default_time,
                f"{event_base}/{MAX_RECIPIENTS}",
                correlation_id=correlation_id,
                raw=common,
            )
        )
    return events


def _recipient_event(
    fields: dict[str, str],
    common: dict[str, Any],
    event_id: str,
    correlation_id: str | None,
    token: VerpToken | None,
    queue_id: str | None,
    default_time: datetime,
) -> DeliveryEvent:
    action = (fields.get("action") or "").strip().lower()
    status = _STATUS.search(fields.get("status") or "")
    status_code = status.group(0) if status else None
    final = _typed_value(fields.get("final-recipient"))
    original = _typed_value(fields.get("original-recipient"))
    recipient = _address(final) or _address(original) or (token.recipient if token else None)
    diagnostic = _typed_value(fields.get("diagnostic-code"))
    timestamp = _date(fields.get("last-attempt-date")) or default_time
    kind, bounce_type = _kind(action, status.group(1) if status else None)
    raw = {
        **common,
        "action": fields.get("action"),
        "status": fields.get("status"),
        "final_recipient": fields.get("final-recipient"),
        "original_recipient": fields.get("original-recipient"),
        "remote_mta": _typed_value(fields.get("remote-mta")),
        "diagnostic_code": fields.get("diagnostic-code"),
        "last_attempt_date": fields.get("last-attempt-date"),
        "will_retry_until": fields.get("will-retry-until"),
    }
    reason = status_code if kind is not EventKind.UNKNOWN else f"unrecognized Action {action[:40]!r}"
    return DeliveryEvent(
        kind=kind,
        provider=PROVIDER,
        timestamp=timestamp,
        recipient=recipient,
        correlation_id=correlation_id,
        provider_message_id=queue_id,
        provider_event_id=event_id,
        bounce_type=bounce_type,
        reason=reason,
        diagnostic=diagnostic,
        raw={key: value for key, value in raw.items() if value is not None},
    )


def _kind(action: str, status_class: str | None) -> tuple[EventKind, str | None]:
    """The event kind (and bounce type) for an ``Action`` and the first digit of ``Status``."""
    if action == "failed":
        return EventKind.BOUNCED, "hard" if status_class == "5" else "soft"
    if action == "delayed":
        return EventKind.DEFERRED, None
    if action in _DELIVERED_ACTIONS:
        return EventKind.DELIVERED, None
    return EventKind.UNKNOWN, None


def _unknown(
    reason: str,
    timestamp: datetime,
    event_id: str,
    *,
    correlation_id: str | None = None,
    recipient: str | None = None,
    raw: dict[str, Any] | None = None,
) -> DeliveryEvent:
    return DeliveryEvent(
        kind=EventKind.UNKNOWN,
        provider=PROVIDER,
        timestamp=timestamp,
        recipient=recipient,
        correlation_id=correlation_id,
        provider_event_id=event_id,
        reason=reason,
        raw={key: value for key, value in (raw or {}).items() if value is not None},
    )


# -- finding the parts -----------------------------------------------------------------------


def _walk(message: EmailMessage) -> Iterable[EmailMessage]:
    """Parts depth-first without recursion, at most ``_MAX_PARTS`` of them."""
    stack = [message]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part = stack.pop()
        seen += 1
        yield part
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, EmailMessage)]))


def _find_parts(message: EmailMessage) -> tuple[EmailMessage | None, EmailMessage | None, EmailMessage | None]:
    """(the report, its delivery-status part, its returned message or headers part)."""
    for part in _walk(message):
        if part.get_content_type() != "multipart/report":
            continue
        if str(part.get_param("report-type", "", header="content-type")).lower() != "delivery-status":
            continue
        payload = part.get_payload()
        children = [p for p in payload if isinstance(p, EmailMessage)] if isinstance(payload, list) else []
        status = next((p for p in children if p.get_content_type() == "message/delivery-status"), None)
        returned = next(
            (p for p in children if p.get_content_type() in ("text/rfc822-headers", "message/rfc822")), None
        )
        return part, status, returned
    return None, None, None


def _blocks(part: EmailMessage) -> list[dict[str, str]]:
    """The delivery-status part's field blocks, each as {lower-case name: unfolded value}."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package splits message/delivery-status into blocks
        return [_fields(block) for block in payload[: MAX_RECIPIENTS + 2] if isinstance(block, EmailMessage)]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [_fields(HeaderParser().parsestr(chunk + "\n")) for chunk in chunks[: MAX_RECIPIENTS + 2] if chunk.strip()]


def _fields(block: EmailMessage) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in block.items():
        key = str(name).strip().lower()
        if key not in fields:
            fields[key] = _text(value)
    return fields


def _returned_id(part: EmailMessage | None) -> str | None:
    """``X-Mailcore-ID``, else ``Message-ID`` (without ``<>``) of the returned message."""
    if part is None:
        return None
    headers: EmailMessage | None = None
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
            headers = payload[0]
    else:
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data[:262144])
    if headers is None:
        return None
    ours = _text(headers.get(CORRELATION_HEADER) or "").strip()
    if ours and len(ours) <= _MAX_FIELD and " " not in ours:
        return ours.strip("<>")
    return _clean(headers.get("Message-ID"))


def _verp_token(message: EmailMessage, envelope_to: str | None) -> VerpToken | None:
    candidates = [envelope_to] if envelope_to else []
    for name in VERP_HEADERS:
        for value in (message.get_all(name) or [])[:10]:
            candidates.extend(_text(value).split(",")[:10])
    for candidate in candidates:
        address = _ANGLE_ID.search(candidate)
        token = parse_verp(address.group(1) if address else candidate.strip())
        if token is not None:
            return token
    return None


def _correlation(token: VerpToken | None, returned_id: str | None) -> str | None:
    """The VERP id first; the returned message's id when VERP names none (or only its digest)."""
    if token is not None and token.correlation_id is not None:
        return token.correlation_id
    if returned_id and (token is None or matches(token, returned_id)):
        return returned_id
    return None


# -- field values ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A header value as one bounded line (folding and control characters removed)."""
    text = re.sub(r"[ \t]*(?:\r?\n|\r)[ \t]*", " ", str(value))  # unfold continuation lines
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text[:_MAX_FIELD]


def _clean(value: Any) -> str | None:
    """A Message-ID header's id without ``<>``, or None."""
    if value is None:
        return None
    match = _ANGLE_ID.search(_text(value))
    return match.group(1) if match else None


def _typed_value(value: str | None) -> str | None:
    """The value of an RFC 3464 typed field (``rfc822; a@b``, ``dns; mx.example``, ``smtp; 550 …``)."""
    if not value:
        return None
    _, semicolon, rest = value.partition(";")
    return (rest if semicolon else value).strip() or None


def _address(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().strip("<>").strip()
    return text if "@" in text and " " not in text else None


def _date(value: str | None) -> datetime | None:
    """An RFC 5322 date as aware UTC (``-0000`` or none read as UTC), or None when unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
