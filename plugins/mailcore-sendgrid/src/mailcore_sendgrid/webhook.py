"""SendGrid Event Webhook: verify the ECDSA signature, then map each event to a DeliveryEvent.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256 and sends the base64 DER
signature in ``X-Twilio-Email-Event-Webhook-Signature`` and the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``. The verification key is shown under Mail Settings →
Event Webhook → Signed Event Webhook as base64 of a DER SubjectPublicKeyInfo (a PEM block is
accepted too). The body is a JSON array of events (a batch).

Order of checks: headers present, timestamp inside the window, signature valid over the exact
bytes received, and only then the JSON is parsed. Events carry mailcore's correlation id in the
``mailcore_id`` custom arg (set by :mod:`mailcore_sendgrid.payload`), which SendGrid copies into
every event record as a top-level key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import DeliveryEvent, EventKind, from_unix, optional_text, text_list, time_or
from mailcore.webhooks.verify import DEFAULT_MAX_AGE, check_fresh, check_settings, get_header, setting_seconds
from mailcore_sendgrid.payload import CORRELATION_ARG

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "SendGridWebhook", "load_public_key", "map_event"]

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: SendGrid's event name → mailcore's kind; ``bounce`` is split into hard/soft by its ``type``.
_KINDS = {
    "processed": EventKind.ACCEPTED,
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCED,
    "blocked": EventKind.BOUNCED,
    "dropped": EventKind.DROPPED,
    "spamreport": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "group_unsubscribe": EventKind.UNSUBSCRIBED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
}

#: ``dropped`` reasons that name SendGrid's own suppression lists (the address was not tried).
_SUPPRESSION_REASONS = {
    "bounced address": "bounce",
    "unsubscribed address": "unsubscribe",
    "spam reporting address": "complaint",
}


def load_public_key(value: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key (base64 DER, or PEM) as a P-256 public key.

    :raises ConfigurationError: when it is not a P-256 public key; the text says where to find it.
    """
    where = "copy it from SendGrid: Settings → Mail Settings → Event Webhook → Signed Event Webhook"
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ConfigurationError(
            f"sendgrid webhook public_key is not a base64 DER or PEM public key; {where}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(f"sendgrid webhook public_key is not an ECDSA P-256 key; {where}")
    return key


class SendGridWebhook:
    """Verifies SendGrid Event Webhook requests and returns their events.

    :param public_key: the verification key (see :func:`load_public_key`).
    :param max_age: seconds the signed timestamp may differ from now (default 600).
    """

    provider = PROVIDER

    def __init__(self, public_key: str | ec.EllipticCurvePublicKey, *, max_age: float = DEFAULT_MAX_AGE) -> None:
        self._key = load_public_key(public_key) if isinstance(public_key, str) else public_key
        self.max_age = max_age

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> SendGridWebhook:
        """Build from ``{"public_key": ..., "max_age": "600"}`` (``MAILCORE_WEBHOOK_SENDGRID_*``)."""
        check_settings(PROVIDER, settings, {"public_key", "max_age"})
        key = settings.get("public_key")
        if not key:
            raise ConfigurationError(
                "sendgrid webhook needs public_key (MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY): the verification key "
                "SendGrid shows once Signed Event Webhook is enabled"
            )
        return cls(key, max_age=setting_seconds(PROVIDER, settings, "max_age", DEFAULT_MAX_AGE))

    def verify_and_parse(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> list[DeliveryEvent]:
        """Check signature and window, then return every event of the batch (order kept)."""
        signature = get_header(headers, SIGNATURE_HEADER)
        timestamp = get_header(headers, TIMESTAMP_HEADER)
        if signature is None or timestamp is None:
            raise WebhookRejected(
                PROVIDER, "missing_header", f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required", status=401
            )
        signed_at = check_fresh(PROVIDER, timestamp, self.max_age, now=now)
        self._verify(signature, timestamp.encode("ascii", "replace") + body)
        try:
            records = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(PROVIDER, "malformed", "the signed body is not JSON") from None
        if not isinstance(records, list):
            raise WebhookRejected(PROVIDER, "malformed", "the signed body is not a JSON array of events")
        return [map_event(record, default_time=signed_at) for record in records]

    def _verify(self, signature: str, signed: bytes) -> None:
        try:
            der = base64.b64decode(signature, validate=True)
            self._key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, binascii.Error):
            raise WebhookRejected(
                PROVIDER, "bad_signature", "the signature does not match the body and the configured key", status=403
            ) from None


def map_event(record: Any, *, default_time: float) -> DeliveryEvent:
    """One SendGrid event record → DeliveryEvent; never raises, unknown records become ``unknown``."""
    if not isinstance(record, dict):
        return DeliveryEvent(EventKind.UNKNOWN, PROVIDER, from_unix(default_time), raw={"record": record})
    name = str(record.get("event", ""))
    kind = _KINDS.get(name, EventKind.UNKNOWN)
    bounce_type = None
    if kind is EventKind.BOUNCED:
        bounce_type = "soft" if name == "blocked" or record.get("type") == "blocked" else "hard"
    return DeliveryEvent(
        kind,
        PROVIDER,
        time_or(record.get("timestamp"), default_time),
        recipient=optional_text(record.get("email")),
        correlation_id=optional_text(record.get(CORRELATION_ARG)),
        provider_message_id=_provider_message_id(record.get("sg_message_id")),
        provider_event_id=optional_text(record.get("sg_event_id")),
        bounce_type=bounce_type,
        reason=optional_text(record.get("reason")) or optional_text(record.get("type")),
        diagnostic=optional_text(record.get("response")) or optional_text(record.get("status")),
        suppressed_by=_SUPPRESSION_REASONS.get(str(record.get("reason", "")).strip().lower())
        if kind is EventKind.DROPPED
        else None,
        categories=text_list(record.get("category")),
        raw=record,
    )


def _provider_message_id(value: Any) -> str | None:
    """``sg_message_id`` is the send's ``X-Message-Id`` plus ``.filter…`` suffixes: keep the first part."""
    text = optional_text(value)
    return text.split(".", 1)[0] if text else None
