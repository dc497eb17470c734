"""SES event publishing through Amazon SNS: verify the SNS signature, then map SES records.

SNS signs each message with the RSA key of a certificate it publishes at ``SigningCertURL``.
SignatureVersion ``1`` is SHA1withRSA, ``2`` SHA256withRSA, both over a canonical string of the
message's fields. The certificate is fetched only from ``https://sns.<region>.amazonaws.com/…``
(any other scheme, host, port or user part is refused before any I/O), through an injectable
fetcher, and cached per URL. With ``issuers`` set, the certificate must also be signed directly by
one of them (tests use a local CA; production relies on the HTTPS fetch from AWS's own host).

``SubscriptionConfirmation`` is confirmed (a GET of its ``SubscribeURL``, which must be on the
same kind of host) only when ``confirm_subscriptions`` is on; ``topics`` restricts which topic
ARNs are accepted at all. A notification's ``Message`` is an SES event publishing record
(``eventType``) or an SES notification (``notificationType``); one event per recipient.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import DeliveryEvent, EventKind, optional_text
from mailcore.message import CORRELATION_HEADER
from mailcore.webhooks.verify import DEFAULT_MAX_AGE, check_fresh, check_settings, setting_seconds

__all__ = ["SesSnsWebhook", "check_sns_url", "fetch_certificate", "map_record", "string_to_sign"]

PROVIDER = "ses"
log = logging.getLogger("mailcore.webhooks")
_SNS_HOST = re.compile(r"sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com")
_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
Fetcher = Callable[[str], bytes]


def check_sns_url(url: Any, what: str) -> str:
    """``url`` when it is ``https://sns.<region>.amazonaws.com/…`` exactly; else WebhookRejected."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or parts.scheme != "https"
        or parts.username is not None
        or parts.port is not None
        or not _SNS_HOST.fullmatch(parts.hostname or "")
        or parts.netloc != parts.hostname
    ):
        raise WebhookRejected(
            PROVIDER, "bad_signature", f"{what} is not on https://sns.<region>.amazonaws.com/", status=403
        )
    return str(url)


def fetch_certificate(url: str) -> bytes:
    """GET the PEM at ``url`` with certificate verification (the default fetcher; 5 s timeout)."""
    with urllib.request.urlopen(check_sns_url(url, "SigningCertURL"), timeout=5) as response:  # noqa: S310 - https only
        data: bytes = response.read(64 * 1024)
        return data


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical text SNS signs: ``name\\nvalue\\n`` for each signed field present, in order."""
    fields = _FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise WebhookRejected(PROVIDER, "malformed", f"unknown SNS message Type {str(message.get('Type'))[:40]!r}")
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise WebhookRejected(PROVIDER, "malformed", f"the SNS message has no {name}")
        lines += [name, str(value)]
    return ("\n".join(lines) + "\n").encode("utf-8")


class SesSnsWebhook:
    """Verifies SNS deliveries of SES events.

    :param topics: accepted topic ARNs; empty accepts any topic (set it in production).
    :param confirm_subscriptions: GET ``SubscribeURL`` of a verified confirmation request.
    :param fetcher: ``url -> PEM bytes``; certificates are cached per URL.
    :param issuers: CA certificates one of which must have signed the SNS certificate (optional).
    :param opener: ``url -> None`` used to confirm a subscription.
    """

    provider = PROVIDER

    def __init__(
        self,
        *,
        topics: Iterable[str] = (),
        confirm_subscriptions: bool = False,
        max_age: float = DEFAULT_MAX_AGE,
        fetcher: Fetcher = fetch_certificate,
        issuers: Iterable[x509.Certificate] = (),
        opener: Callable[[str], None] | None = None,
    ) -> None:
        self.topics = frozenset(topics)
        self.confirm_subscriptions = confirm_subscriptions
        self.max_age = max_age
        self._fetcher = fetcher
        self._issuers = tuple(issuers)
        self._opener = opener or _open
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> SesSnsWebhook:
        """Build from ``{"topics": "arn1,arn2", "confirm_subscriptions": "true", "max_age": "600"}``."""
        check_settings(PROVIDER, settings, {"topics", "confirm_subscriptions", "max_age"})
        confirm = settings.get("confirm_subscriptions", "false").lower()
        if confirm not in {"true", "false", "1", "0", "yes", "no"}:
            raise ConfigurationError(f"ses webhook setting confirm_subscriptions={confirm!r} must be true or false")
        topics = [t.strip() for t in settings.get("topics", "").split(",") if t.strip()]
        max_age = setting_seconds(PROVIDER, settings, "max_age", DEFAULT_MAX_AGE)
        return cls(topics=topics, confirm_subscriptions=confirm in {"true", "1", "yes"}, max_age=max_age)

    def verify_and_parse(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> list[DeliveryEvent]:
        """Verify the SNS message; return the SES events of a Notification (none for confirmations)."""
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRejected(PROVIDER, "malformed", "the body is not an SNS JSON message") from None
        if not isinstance(message, dict):
            raise WebhookRejected(PROVIDER, "malformed", "the body is not an SNS JSON message")
        if self.topics and message.get("TopicArn") not in self.topics:
            raise WebhookRejected(PROVIDER, "unknown_topic", "the TopicArn is not in the configured topics", status=403)
        check_fresh(PROVIDER, _iso_seconds(message.get("Timestamp")), self.max_age, now=now)
        self._verify(message)
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            self._confirm(message)
            return []
        if kind != "Notification":
            return []
        return map_record(message.get("Message"), sns_message_id=optional_text(message.get("MessageId")))

    def _verify(self, message: Mapping[str, Any]) -> None:
        algorithm = _HASHES.get(str(message.get("SignatureVersion")))
        if algorithm is None:
            raise WebhookRejected(PROVIDER, "bad_signature", "SignatureVersion must be 1 or 2", status=403)
        signed = string_to_sign(message)
        key = self._key(check_sns_url(message.get("SigningCertURL"), "SigningCertURL"))
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
            key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except (InvalidSignature, ValueError, binascii.Error):
            raise WebhookRejected(PROVIDER, "bad_signature", "the SNS signature does not match", status=403) from None

    def _key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None:
            return cached
        try:
            certificate = x509.load_pem_x509_certificate(self._fetcher(url))
        except (OSError, ValueError) as error:
            raise WebhookRejected(
                PROVIDER,
                "certificate",
                f"the SNS signing certificate could not be loaded ({type(error).__name__})",
                status=403,
            ) from None
        key = self._check_certificate(certificate)
        with self._lock:
            if len(self._keys) > 100:
                self._keys.clear()
            self._keys[url] = key
        return key

    def _check_certificate(self, certificate: x509.Certificate) -> rsa.RSAPublicKey:
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise WebhookRejected(
                PROVIDER, "certificate", "the SNS signing certificate is expired or not yet valid", status=403
            )
        if self._issuers and not any(_issued_by(certificate, issuer) for issuer in self._issuers):
            raise WebhookRejected(
                PROVIDER, "certificate", "the SNS signing certificate is not from a trusted issuer", status=403
            )
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected(PROVIDER, "certificate", "the SNS signing certificate has no RSA key", status=403)
        return key

    def _confirm(self, message: Mapping[str, Any]) -> None:
        topic = str(message.get("TopicArn"))
        if not self.confirm_subscriptions:
            log.warning(
                "ses webhook: subscription confirmation for %s not confirmed (confirm_subscriptions is off); "
                "confirm it in the SNS console",
                topic,
            )
            return
        self._opener(check_sns_url(message.get("SubscribeURL"), "SubscribeURL"))
        log.info("ses webhook: subscription to %s confirmed", topic)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _open(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - checked https SNS URL
        response.read(64 * 1024)


def _iso_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return float("nan")
    return parsed.timestamp() if parsed.tzinfo else float("nan")


# -- SES records -------------------------------------------------------------------------------

_RECIPIENT_LISTS = {"Bounce": ("bounce", "bouncedRecipients"), "Complaint": ("complaint", "complainedRecipients")}
_RECIPIENT_LISTS["DeliveryDelay"] = ("deliveryDelay", "delayedRecipients")
_SIMPLE = {
    "Send": ("send", EventKind.ACCEPTED),
    "Delivery": ("delivery", EventKind.DELIVERED),
    "Reject": ("reject", EventKind.REJECTED),
    "Open": ("open", EventKind.OPENED),
    "Click": ("click", EventKind.CLICKED),
    "Subscription": ("subscription", EventKind.UNSUBSCRIBED),
}

#: ``bounceSubType`` values meaning SES suppressed the address itself (no delivery was tried).
_SUPPRESSED_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})


def map_record(text: Any, *, sns_message_id: str | None = None) -> list[DeliveryEvent]:
    """An SES record (the SNS ``Message`` text) → one event per recipient; never raises.

    A record that is not JSON, or of a type mailcore does not map, becomes one ``unknown`` event.
    ``provider_event_id`` is ``<SNS MessageId>/<n>``: stable when SNS redelivers, unique per event.
    """
    events = _map_record(text)
    if sns_message_id is None:
        return events
    return [replace(event, provider_event_id=f"{sns_message_id}/{n}") for n, event in enumerate(events)]


def _map_record(text: Any) -> list[DeliveryEvent]:
    try:
        record = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return [DeliveryEvent(EventKind.UNKNOWN, PROVIDER, datetime.now(UTC), raw={"Message": text})]
    name = str(record.get("eventType") or record.get("notificationType") or "")
    mail = _dict(record.get("mail"))
    if name in _RECIPIENT_LISTS:
        return _per_listed_recipient(name, record, mail)
    section_name, kind = _SIMPLE.get(name, ("", EventKind.UNKNOWN))
    section = _dict(record.get(section_name))
    recipients = section.get("recipients") if name == "Delivery" else mail.get("destination")
    addresses = [str(r) for r in recipients] if isinstance(recipients, list) and recipients else [None]
    if kind in (EventKind.OPENED, EventKind.CLICKED) and len(addresses) > 1:
        addresses = [None]  # SES does not say which recipient opened
    diagnostic = optional_text(section.get("smtpResponse"))
    reason = optional_text(section.get("reason"))
    return [_event(kind, record, mail, section, address, reason=reason, diagnostic=diagnostic) for address in addresses]


def _per_listed_recipient(name: str, record: Mapping[str, Any], mail: Mapping[str, Any]) -> list[DeliveryEvent]:
    section_name, list_name = _RECIPIENT_LISTS[name]
    section = _dict(record.get(section_name))
    entries = section.get(list_name)
    listed = [r for r in entries if isinstance(r, dict)] if isinstance(entries, list) else []
    listed = listed or [{}]
    kind = {"Bounce": EventKind.BOUNCED, "Complaint": EventKind.COMPLAINED}.get(name, EventKind.DEFERRED)
    bounce_type = None
    if kind is EventKind.BOUNCED:
        bounce_type = "hard" if section.get("bounceType") == "Permanent" else "soft"
    reason = optional_text(
        section.get("bounceSubType") or section.get("complaintFeedbackType") or section.get("delayType")
    )
    # SES did not try: the address is on its global or the account's suppression list
    suppressed_by = "bounce" if kind is EventKind.BOUNCED and reason in _SUPPRESSED_SUBTYPES else None
    return [
        _event(
            kind,
            record,
            mail,
            section,
            optional_text(entry.get("emailAddress")),
            bounce_type=bounce_type,
            reason=reason,
            suppressed_by=suppressed_by,
            diagnostic=optional_text(entry.get("diagnosticCode") or entry.get("status")),
        )
        for entry in listed
    ]


def _event(
    kind: EventKind,
    record: Mapping[str, Any],
    mail: Mapping[str, Any],
    section: Mapping[str, Any],
    recipient: str | None,
    **details: Any,
) -> DeliveryEvent:
    return DeliveryEvent(
        kind,
        PROVIDER,
        _record_time(section.get("timestamp") or mail.get("timestamp")),
        recipient=recipient,
        correlation_id=_correlation(mail),
        provider_message_id=optional_text(mail.get("messageId")),
        raw=record,
        **details,
    )


def _correlation(mail: Mapping[str, Any]) -> str | None:
    """The ``X-Mailcore-ID`` header mailcore put in the message (SES echoes the headers)."""
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == CORRELATION_HEADER.lower():
            return optional_text(header.get("value"))
    return None


def _record_time(value: Any) -> datetime:
    seconds = _iso_seconds(value)
    if seconds is None or seconds != seconds:
        return datetime.now(UTC)
    return datetime.fromtimestamp(seconds, tz=UTC)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
