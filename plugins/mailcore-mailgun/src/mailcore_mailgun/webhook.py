"""Mailgun webhooks: verify the HMAC signature, the window and the one-time token, then map.

Mailgun posts one event per request as JSON: ``{"signature": {"timestamp", "token",
"signature"}, "event-data": {...}}``. The signature is the hex HMAC-SHA256 of ``timestamp +
token`` keyed with the domain's *HTTP webhook signing key* (not the API key). Order of checks:
the signature block is present, the timestamp is inside the window, the HMAC matches (compared
in constant time), and only then the token is recorded in the replay cache; a token seen before
is refused. ``event-data.user-variables.mailcore_id`` (sent as ``v:mailcore_id`` by
:mod:`mailcore_mailgun.payload`, per recipient in batch sends) is the correlation id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import DeliveryEvent, EventKind, from_unix, optional_text, text_list, time_or
from mailcore.webhooks.verify import (
    DEFAULT_MAX_AGE,
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    check_fresh,
    check_settings,
    setting_seconds,
)
from mailcore_mailgun.payload import CORRELATION_VAR

__all__ = ["MailgunWebhook", "map_event"]

PROVIDER = "mailgun"
#: ``failed`` + ``permanent`` with one of these reasons: Mailgun did not try (its suppression list).
_SUPPRESSED = {"suppress-bounce": "bounce", "suppress-unsubscribe": "unsubscribe", "suppress-complaint": "complaint"}
_KINDS = {
    "accepted": EventKind.ACCEPTED,
    "delivered": EventKind.DELIVERED,
    "rejected": EventKind.REJECTED,
    "complained": EventKind.COMPLAINED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "opened": EventKind.OPENED,
    "clicked": EventKind.CLICKED,
}


class MailgunWebhook:
    """Verifies Mailgun webhook requests and returns their event.

    :param signing_key: the domain's HTTP webhook signing key (Sending → Webhooks in Mailgun).
    :param max_age: seconds the signed timestamp may differ from now (default 600).
    :param replay_cache: where used tokens are remembered for twice ``max_age``; one
        :class:`~mailcore.webhooks.verify.MemoryReplayCache` per verifier by default.
    """

    provider = PROVIDER

    def __init__(
        self, signing_key: str, *, max_age: float = DEFAULT_MAX_AGE, replay_cache: ReplayCache | None = None
    ) -> None:
        if not signing_key:
            raise ConfigurationError("mailgun webhook needs signing_key (MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY)")
        self._key = signing_key.encode("utf-8")
        self.max_age = max_age
        self.replay_cache: ReplayCache = replay_cache if replay_cache is not None else MemoryReplayCache()

    def __repr__(self) -> str:
        return f"MailgunWebhook(signing_key='***', max_age={self.max_age})"

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> MailgunWebhook:
        """Build from ``{"signing_key", "max_age", "replay"}``; ``replay`` is ``memory`` or a redis:// URL."""
        check_settings(PROVIDER, settings, {"signing_key", "max_age", "replay"})
        key = settings.get("signing_key")
        if not key:
            raise ConfigurationError(
                "mailgun webhook needs signing_key (MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY): the HTTP webhook "
                "signing key from Mailgun → Sending → Webhooks (not the API key)"
            )
        max_age = setting_seconds(PROVIDER, settings, "max_age", DEFAULT_MAX_AGE)
        return cls(key, max_age=max_age, replay_cache=_replay_cache(settings.get("replay") or "memory"))

    def verify_and_parse(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> list[DeliveryEvent]:
        """Check signature, window and token; return the request's one event."""
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(PROVIDER, "malformed", "the body is not JSON (configure a JSON webhook)") from None
        block = document.get("signature") if isinstance(document, dict) else None
        if not isinstance(block, dict) or not all(
            isinstance(block.get(k), str) for k in ("timestamp", "token", "signature")
        ):
            raise WebhookRejected(PROVIDER, "missing_header", "the body has no signature block", status=401)
        signed_at = check_fresh(PROVIDER, block["timestamp"], self.max_age, now=now)
        expected = hmac.new(
            self._key, (block["timestamp"] + block["token"]).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, block["signature"].lower()):
            raise WebhookRejected(
                PROVIDER, "bad_signature", "the signature does not match the configured signing key", status=403
            )
        if self.replay_cache.seen_before(f"{PROVIDER}:{block['token']}", 2 * self.max_age):
            raise WebhookRejected(PROVIDER, "replayed", "this signed token was already received", status=403)
        return [map_event(document.get("event-data"), default_time=signed_at)]

    def release(self, headers: Mapping[str, str], body: bytes) -> None:
        """Forget the token of a verified request the application failed to process.

        The receiver calls this after answering 500, so Mailgun's redelivery (same token) is
        accepted instead of being refused as a replay. Call only after a successful verification.
        """
        document = json.loads(body)
        self.replay_cache.forget(f"{PROVIDER}:{document['signature']['token']}")


def map_event(record: Any, *, default_time: float) -> DeliveryEvent:
    """One Mailgun ``event-data`` record → DeliveryEvent; never raises, unmapped → ``unknown``."""
    if not isinstance(record, dict):
        return DeliveryEvent(EventKind.UNKNOWN, PROVIDER, from_unix(default_time), raw={"event-data": record})
    name = str(record.get("event", ""))
    kind, bounce_type = _kind(name, record)
    status = record.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    variables = record.get("user-variables")
    variables = variables if isinstance(variables, dict) else {}
    return DeliveryEvent(
        kind,
        PROVIDER,
        time_or(record.get("timestamp"), default_time),
        recipient=optional_text(record.get("recipient")),
        correlation_id=optional_text(variables.get(CORRELATION_VAR)),
        provider_message_id=_message_id(record.get("message")),
        provider_event_id=optional_text(record.get("id")),
        bounce_type=bounce_type,
        reason=optional_text(record.get("reason")) or optional_text(status.get("description")),
        diagnostic=_diagnostic(status),
        suppressed_by=_SUPPRESSED.get(str(record.get("reason"))) if kind is EventKind.DROPPED else None,
        categories=text_list(record.get("tags")),
        raw=record,
    )


def _kind(name: str, record: Mapping[str, Any]) -> tuple[EventKind, str | None]:
    if name != "failed":
        return _KINDS.get(name, EventKind.UNKNOWN), None
    severity = record.get("severity")
    if severity == "temporary":
        return EventKind.DEFERRED, None
    if severity == "permanent":
        if record.get("reason") in _SUPPRESSED:
            return EventKind.DROPPED, None
        return EventKind.BOUNCED, "hard"
    return EventKind.UNKNOWN, None


def _message_id(message: Any) -> str | None:
    """``message.headers.message-id`` in the ``<…>`` form the send answer's ``id`` has."""
    headers = message.get("headers") if isinstance(message, dict) else None
    value = optional_text(headers.get("message-id")) if isinstance(headers, dict) else None
    if value is None:
        return None
    return value if value.startswith("<") else f"<{value}>"


def _diagnostic(status: Mapping[str, Any]) -> str | None:
    parts = [optional_text(status.get("code")), optional_text(status.get("message"))]
    text = " ".join(p for p in parts if p)
    return text or None


def _replay_cache(spec: str) -> ReplayCache:
    if spec == "memory":
        return MemoryReplayCache()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "replay=redis://… needs the redis package: pip install 'steadymail[redis]'"
            ) from None
        return RedisReplayCache(redis.Redis.from_url(spec))
    raise ConfigurationError("mailgun webhook setting replay must be 'memory' or a redis://host:port/db URL")
