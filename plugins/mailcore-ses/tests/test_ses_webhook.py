"""SES events through SNS: real RSA signatures by a certificate a local CA issued, made here."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given
from hypothesis import strategies as st

from mailcore import Message
from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import EventKind
from mailcore.plugins import get_webhook_registry
from mailcore.testing.webhooks import post
from mailcore.webhooks import build_verifier
from mailcore.webhooks.app import make_app
from mailcore_ses.webhook import SesSnsWebhook, check_sns_url, map_record, string_to_sign

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
MESSAGE = Message("app@example.com", ["user@example.org", "other@example.org"], "Your code", text="123456")


class SnsSigner:
    """A local CA, an SNS-like signing certificate it issued, and a fetcher that counts calls."""

    def __init__(self) -> None:
        self.ca = trustme.CA(key_type=trustme.KeyType.RSA)
        self.leaf = self.ca.issue_cert("sns.amazonaws.com", key_type=trustme.KeyType.RSA)
        self.key = serialization.load_pem_private_key(self.leaf.private_key_pem.bytes(), password=None)
        self.cert_pem = self.leaf.cert_chain_pems[0].bytes()
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.cert_pem

    @property
    def ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca.cert_pem.bytes())

    def sign(self, message: dict, version: str = "1") -> dict:
        message = {**message, "SignatureVersion": version, "SigningCertURL": message.get("SigningCertURL", CERT_URL)}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ses_record(event_type: str, **section) -> str:
    """An SES event publishing record for MESSAGE, with the X-Mailcore-ID header SES echoes."""
    mail = {
        "timestamp": "2026-11-30T12:00:00.000Z",
        "messageId": "0102018f-ses-id",
        "destination": ["user@example.org", "other@example.org"],
        "headers": [{"name": "X-Mailcore-ID", "value": MESSAGE.correlation_id}],
        "tags": {"mailcore-id": ["sanitized"]},
    }
    key = event_type[0].lower() + event_type[1:]
    return json.dumps({"eventType": event_type, "mail": mail, key: section})


def notification(text: str, timestamp: float | None = None, **extra) -> dict:
    return {
        "Type": "Notification",
        "MessageId": "2b9d7b32-sns",
        "TopicArn": TOPIC,
        "Message": text,
        "Timestamp": iso(timestamp or time.time()),
        **extra,
    }


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


def verifier_for(signer: SnsSigner, **options) -> SesSnsWebhook:
    return SesSnsWebhook(fetcher=signer.fetch, issuers=[signer.ca_cert], topics=[TOPIC], **options)


def body_of(message: dict) -> bytes:
    return json.dumps(message).encode()


def reason_of(verifier: SesSnsWebhook, message: dict) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verifier.verify_and_parse({}, body_of(message))
    assert "user@example.org" not in str(caught.value)
    return caught.value.reason


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_notification_is_accepted_and_mapped(signer, version) -> None:
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "user@example.org", "diagnosticCode": "smtp; 550 5.1.1 unknown user"}],
        "timestamp": "2026-11-30T12:00:05.000Z",
        "feedbackId": "fb-1",
    }
    message = signer.sign(notification(ses_record("Bounce", **bounce)), version)
    [event] = verifier_for(signer).verify_and_parse({}, body_of(message))
    assert (event.kind, event.bounce_type, event.recipient) == (EventKind.BOUNCED, "hard", "user@example.org")
    assert event.correlation_id == MESSAGE.correlation_id and event.message_id == MESSAGE.message_id
    assert event.provider_message_id == "0102018f-ses-id" and event.provider_event_id == "2b9d7b32-sns/0"
    assert event.diagnostic == "smtp; 550 5.1.1 unknown user" and event.reason == "General"
    assert event.timestamp == datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


def test_certificate_is_fetched_once_per_url(signer) -> None:
    verifier = verifier_for(signer)
    before = len(signer.fetched)
    for _ in range(3):
        verifier.verify_and_parse({}, body_of(signer.sign(notification(ses_record("Send")))))
    assert signer.fetched[before:] == [CERT_URL]


def test_forged_signature_is_rejected(signer) -> None:
    message = signer.sign(notification(ses_record("Delivery")))
    message["Signature"] = base64.b64encode(b"\x00" * 256).decode()
    assert reason_of(verifier_for(signer), message) == "bad_signature"


def test_altered_message_is_rejected(signer) -> None:
    message = signer.sign(notification(ses_record("Delivery")))
    message["Message"] = ses_record("Bounce", bounceType="Permanent")
    assert reason_of(verifier_for(signer), message) == "bad_signature"


def test_wrong_key_is_rejected(signer) -> None:
    impostor = SnsSigner()  # its own CA and key, served from the right URL
    message = impostor.sign(notification(ses_record("Delivery")))
    assert reason_of(verifier_for(signer), message) == "bad_signature"  # signer's cached/fetched key
    untrusted = SesSnsWebhook(fetcher=impostor.fetch, issuers=[signer.ca_cert])
    assert reason_of(untrusted, message) == "certificate"  # the impostor's certificate is not from the CA


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://s3.eu-west-1.amazonaws.com/cert.pem",
        "https://127.0.0.1/cert.pem",
    ],
)
def test_foreign_signing_cert_url_is_rejected_before_any_fetch(signer, url) -> None:
    fetched: list[str] = []
    verifier = SesSnsWebhook(fetcher=lambda u: fetched.append(u) or signer.cert_pem)
    assert (
        reason_of(verifier, signer.sign(notification(ses_record("Delivery")) | {"SigningCertURL": url}))
        == "bad_signature"
    )
    assert fetched == []


def test_stale_timestamp_and_unknown_topic_and_version_are_rejected(signer) -> None:
    stale = signer.sign(notification(ses_record("Delivery"), timestamp=time.time() - 3600))
    assert reason_of(verifier_for(signer, max_age=600), stale) == "stale"
    other_topic = signer.sign(notification(ses_record("Delivery"), TopicArn="arn:aws:sns:eu-west-1:1:other"))
    assert reason_of(verifier_for(signer), other_topic) == "unknown_topic"
    v3 = signer.sign(notification(ses_record("Delivery"))) | {"SignatureVersion": "3"}
    assert reason_of(verifier_for(signer), v3) == "bad_signature"


def confirmation(signer: SnsSigner, subscribe_url: str) -> dict:
    return signer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "c-1",
            "Token": "tok",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe",
            "SubscribeURL": subscribe_url,
            "Timestamp": iso(time.time()),
        }
    )


def test_subscription_is_confirmed_only_when_configured(signer) -> None:
    opened: list[str] = []
    url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"
    assert verifier_for(signer, opener=opened.append).verify_and_parse({}, body_of(confirmation(signer, url))) == []
    assert opened == []
    confirming = verifier_for(signer, opener=opened.append, confirm_subscriptions=True)
    assert confirming.verify_and_parse({}, body_of(confirmation(signer, url))) == []
    assert opened == [url]
    foreign = confirmation(signer, "https://evil.example/confirm")
    assert reason_of(confirming, foreign) == "bad_signature"
    assert opened == [url]


@pytest.mark.parametrize(
    ("event_type", "section", "kinds"),
    [
        ("Send", {}, [EventKind.ACCEPTED, EventKind.ACCEPTED]),
        ("Delivery", {"recipients": ["user@example.org"], "smtpResponse": "250 ok"}, [EventKind.DELIVERED]),
        (
            "Bounce",
            {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "user@example.org"}]},
            [EventKind.BOUNCED],
        ),
        (
            "Complaint",
            {"complainedRecipients": [{"emailAddress": "user@example.org"}], "complaintFeedbackType": "abuse"},
            [EventKind.COMPLAINED],
        ),
        ("Reject", {"reason": "Bad content"}, [EventKind.REJECTED, EventKind.REJECTED]),
        (
            "DeliveryDelay",
            {"delayType": "MailboxFull", "delayedRecipients": [{"emailAddress": "user@example.org"}]},
            [EventKind.DEFERRED],
        ),
        ("Open", {}, [EventKind.OPENED]),
        ("Click", {}, [EventKind.CLICKED]),
        ("Rendering Failure", {}, [EventKind.UNKNOWN, EventKind.UNKNOWN]),
    ],
)
def test_ses_record_mapping(event_type, section, kinds) -> None:
    events = map_record(ses_record(event_type, **section))
    assert [e.kind for e in events] == kinds
    assert {e.correlation_id for e in events} == {MESSAGE.correlation_id}
    if event_type == "Bounce":
        assert events[0].bounce_type == "soft"
    if event_type == "Delivery":
        assert events[0].diagnostic == "250 ok"


def test_settings_registration_and_receiver(signer) -> None:
    assert "ses" in get_webhook_registry().providers()
    verifier = build_verifier("ses", {"topics": f"{TOPIC}, arn:x", "confirm_subscriptions": "yes", "max_age": "60"})
    assert (
        isinstance(verifier, SesSnsWebhook) and verifier.confirm_subscriptions and verifier.topics == {TOPIC, "arn:x"}
    )
    with pytest.raises(ConfigurationError, match="confirm_subscriptions"):
        build_verifier("ses", {"confirm_subscriptions": "maybe"})
    events = []
    app = make_app({"ses": {}}, dispatch=events.append)
    app.verifiers["ses"] = verifier_for(signer)
    message = signer.sign(notification(ses_record("Delivery", recipients=["user@example.org"])))
    assert post(app, "/ses", body_of(message), {"Content-Type": "text/plain"})[0] == 200
    assert [e.kind for e in events] == [EventKind.DELIVERED]
    assert post(app, "/ses", body_of({**message, "Message": "{}"}))[0] == 403


def test_check_sns_url_accepts_regional_hosts() -> None:
    assert check_sns_url(CERT_URL, "x") == CERT_URL
    assert check_sns_url("https://sns.us-gov-west-1.amazonaws.com/c.pem", "x")


@given(st.text(max_size=200) | st.none() | st.integers())
def test_map_record_never_raises(text) -> None:
    assert map_record(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
sections = st.dictionaries(
    st.sampled_from(["bounceType", "bouncedRecipients", "recipients", "timestamp", "complainedRecipients", "reason"]),
    json_values,
)
mails = st.dictionaries(st.sampled_from(["headers", "destination", "messageId", "timestamp"]), json_values)


@given(
    st.sampled_from(["Send", "Delivery", "Bounce", "Complaint", "Reject", "DeliveryDelay", "Open", "X"]),
    sections,
    mails,
)
def test_map_record_never_raises_on_odd_ses_shapes(event_type, section, mail) -> None:
    key = event_type[0].lower() + event_type[1:]
    events = map_record(json.dumps({"eventType": event_type, "mail": mail, key: section}))
    assert events and all(e.provider == "ses" for e in events)


@pytest.mark.parametrize(
    ("subtype", "expected"), [("OnAccountSuppressionList", "bounce"), ("Suppressed", "bounce"), ("General", None)]
)
def test_a_bounce_from_ses_own_suppression_list_says_so(subtype, expected) -> None:
    bounced = [{"emailAddress": "user@example.org"}]
    [event] = map_record(ses_record("Bounce", bounceType="Permanent", bounceSubType=subtype, bouncedRecipients=bounced))
    assert (event.kind, event.bounce_type, event.suppressed_by) == (EventKind.BOUNCED, "hard", expected)
