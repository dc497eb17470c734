"""Delivery events: what a provider says happened to a message after it accepted it.

Every provider plugin turns its own webhook records into :class:`DeliveryEvent` values, so an
application reasons about one vocabulary (``delivered``, ``bounced`` hard/soft, ``complained``…)
and never about SendGrid's ``spamreport`` or Mailgun's ``failed``/``permanent``. A provider
record that maps to nothing is kept with kind ``unknown`` and its ``raw`` record, never dropped.

Events are tied back to the message through the correlation id mailcore sends with every
message (``X-Mailcore-ID``, SendGrid ``custom_args``, Mailgun ``v:`` variables): it is the
Message-ID without its angle brackets, so ``message_id`` is ``"<" + correlation_id + ">"``.

A plugin provides a :class:`WebhookVerifier` (registered with the
``mailcore_register_webhooks`` hook); the receiver (:mod:`mailcore.webhooks.app`) calls it with
the raw request, stores the events and answers; a background handler
(:mod:`mailcore.webhooks.pipeline`) then hands each to the ``mailcore_delivery_event`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BOUNCE_TYPES",
    "SUPPRESSION_LISTS",
    "DeliveryEvent",
    "EventKind",
    "WebhookVerifier",
    "from_unix",
    "message_id_for",
    "optional_text",
    "text_list",
    "time_or",
]


class EventKind(StrEnum):
    """What happened, in mailcore's words (the provider's own word stays in ``raw``)."""

    ACCEPTED = "accepted"  # the provider took the message (SendGrid processed, Mailgun accepted)
    DELIVERED = "delivered"  # the receiving server accepted it
    DEFERRED = "deferred"  # temporary failure; the provider keeps trying
    BOUNCED = "bounced"  # the receiving side refused it; see bounce_type
    DROPPED = "dropped"  # the provider did not try (its own suppression list, invalid address)
    REJECTED = "rejected"  # the provider refused the message itself
    COMPLAINED = "complained"  # the recipient reported it as spam
    UNSUBSCRIBED = "unsubscribed"
    OPENED = "opened"
    CLICKED = "clicked"
    UNKNOWN = "unknown"  # a provider record with no mapping: kept, never dropped


#: ``hard``: the address is bad, stop sending to it; ``soft``: a refusal that may pass later.
BOUNCE_TYPES = frozenset({"hard", "soft"})
#: The provider's own lists an address can be on (``DeliveryEvent.suppressed_by``).
SUPPRESSION_LISTS = frozenset({"bounce", "unsubscribe", "complaint"})


def from_unix(value: Any) -> datetime:
    """An aware UTC datetime from a Unix timestamp given as int, float or numeric string.

    :raises ValueError: when ``value`` is not a finite number.
    """
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    return datetime.fromtimestamp(number, tz=UTC)


def time_or(value: Any, default: float) -> datetime:
    """:func:`from_unix` of ``value``, or of ``default`` when ``value`` is missing or not a time.

    For provider records: an event with a broken timestamp is kept, stamped with the signed
    request time, rather than dropped.
    """
    try:
        return from_unix(value)
    except (TypeError, ValueError, OverflowError, OSError):
        return from_unix(default)


def optional_text(value: Any) -> str | None:
    """``str(value)``, or None for a missing or empty value (provider records omit fields freely)."""
    if value is None or value == "":
        return None
    return str(value)


def text_list(value: Any) -> tuple[str, ...]:
    """A provider's list of strings (or one string) as a tuple; anything else is ``()``."""
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value if isinstance(item, str | int) and str(item).strip())
    return ()


def message_id_for(correlation_id: str | None) -> str | None:
    """The Message-ID (with angle brackets) mailcore used for ``correlation_id``, or None."""
    if not correlation_id:
        return None
    return correlation_id if correlation_id.startswith("<") else f"<{correlation_id}>"


@dataclass(frozen=True)
class DeliveryEvent:
    """One thing a provider reported about one recipient of one message.

    :param kind: an :class:`EventKind` (a plain string such as ``"delivered"`` is accepted).
    :param provider: the plugin's webhook name (``"sendgrid"``, ``"mailgun"``).
    :param timestamp: when the provider says it happened; naive datetimes are refused, aware
        ones are converted to UTC.
    :param recipient: the address the event is about, when the provider names one.
    :param correlation_id: mailcore's id for the message, read from what mailcore sent
        (custom args, user variables); ``None`` when the message was not sent by mailcore.
    :param message_id: the message's Message-ID; derived from ``correlation_id`` when omitted.
    :param provider_message_id: the provider's id for the message (as ``SendResult`` has it).
    :param provider_event_id: the provider's id for this event, for de-duplicating redeliveries.
    :param bounce_type: ``"hard"`` or ``"soft"``, only for kind ``bounced``.
    :param reason: a short human reason (the provider's words).
    :param diagnostic: the receiving server's answer (SMTP code and text) when known.
    :param suppressed_by: set when the provider did not try because the address is on the
        provider's *own* suppression list: which list — ``"bounce"``, ``"unsubscribe"`` or
        ``"complaint"`` (see :data:`SUPPRESSION_LISTS`). A plugin sets it; core never parses
        the provider's wording.
    :param categories: the message's tags as the provider reports them (SendGrid ``category``,
        Mailgun ``tags``); an unsubscribe applies to these categories (none: to all mail).
    :param raw: the provider's own record, read-only.
    """

    kind: EventKind
    provider: str
    timestamp: datetime
    recipient: str | None = None
    correlation_id: str | None = None
    message_id: str | None = None
    provider_message_id: str | None = None
    provider_event_id: str | None = None
    bounce_type: str | None = None
    reason: str | None = None
    diagnostic: str | None = None
    suppressed_by: str | None = None
    categories: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        try:
            kind = EventKind(self.kind)
        except ValueError:
            allowed = ", ".join(k.value for k in EventKind)
            raise ValueError(f"kind {self.kind!r} is not a delivery event kind; use one of {allowed}") from None
        object.__setattr__(self, "kind", kind)
        if not isinstance(self.timestamp, datetime) or self.timestamp.utcoffset() is None:
            raise ValueError(f"timestamp {self.timestamp!r} must be an aware datetime (e.g. tz=datetime.UTC)")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))
        if self.bounce_type is not None and (kind is not EventKind.BOUNCED or self.bounce_type not in BOUNCE_TYPES):
            raise ValueError(f"bounce_type {self.bounce_type!r} is only 'hard' or 'soft', and only for kind 'bounced'")
        if self.suppressed_by is not None and self.suppressed_by not in SUPPRESSION_LISTS:
            raise ValueError(f"suppressed_by {self.suppressed_by!r} is one of {', '.join(sorted(SUPPRESSION_LISTS))}")
        if isinstance(self.categories, str):
            object.__setattr__(self, "categories", (self.categories,))
        object.__setattr__(self, "categories", tuple(str(c) for c in self.categories if str(c).strip()))
        if self.message_id is None:
            object.__setattr__(self, "message_id", message_id_for(self.correlation_id))
        object.__setattr__(self, "raw", MappingProxyType(dict(self.raw)))

    @property
    def is_hard_bounce(self) -> bool:
        """True for a permanent refusal: the address should not be mailed again."""
        return self.kind is EventKind.BOUNCED and self.bounce_type == "hard"


@runtime_checkable
class WebhookVerifier(Protocol):
    """What a plugin implements to receive its provider's webhook.

    ``verify_and_parse`` checks the request's signature (and freshness, and replay when the
    provider signs a one-time token) *before* it trusts a byte of the body, then returns every
    event in it. It raises :class:`mailcore.errors.WebhookRejected` for anything it cannot
    verify; it does no I/O besides an injected replay cache or certificate fetcher.
    """

    #: the webhook's name, also the receiver's path segment (``/sendgrid``).
    provider: str

    def verify_and_parse(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryEvent]:
        """Verify one request and return its events (possibly none); raise ``WebhookRejected``."""
        ...
