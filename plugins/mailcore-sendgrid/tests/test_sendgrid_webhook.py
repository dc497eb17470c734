"""SendGrid Event Webhook: real ECDSA P-256 signatures made here, over SendGrid-shaped batches."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from mailcore import Message
from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import EventKind
from mailcore.plugins import get_webhook_registry
from mailcore.testing.webhooks import post
from mailcore.webhooks import build_verifier
from mailcore.webhooks.app import make_app
from mailcore_sendgrid.payload import build_payload
from mailcore_sendgrid.testing import key_pair, signed
from mailcore_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, SendGridWebhook, map_event

MESSAGE = Message("app@example.com", ["user@example.org"], "Your code", text="123456")
SENT_ID = "14c5d75ce93"  # what SendGrid returned as X-Message-Id


def batch() -> bytes:
    """The events SendGrid posts for MESSAGE, with the custom arg mailcore sent."""
    custom_args = build_payload(MESSAGE)["personalizations"][0]["custom_args"]
    common = {"email": "user@example.org", "timestamp": 1796040000, "sg_message_id": f"{SENT_ID}.filter0001.1"}
    records = [
        {**common, **custom_args, "event": "processed", "sg_event_id": "e1"},
        {**common, **custom_args, "event": "delivered", "sg_event_id": "e2", "response": "250 OK"},
        {
            **common,
            **custom_args,
            "event": "bounce",
            "type": "bounce",
            "sg_event_id": "e3",
            "reason": "550 5.1.1 no such user",
            "status": "5.1.1",
        },
        {**common, **custom_args, "event": "bounce", "type": "blocked", "sg_event_id": "e4", "reason": "421 try later"},
        {**common, **custom_args, "event": "spamreport", "sg_event_id": "e5"},
        {**common, **custom_args, "event": "group_resubscribe", "sg_event_id": "e6"},
    ]
    return json.dumps(records).encode()


@pytest.fixture(scope="module")
def keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    return key_pair()


def test_valid_batch_is_accepted_and_mapped(keys) -> None:
    private, public = keys
    body = batch()
    events = SendGridWebhook(public).verify_and_parse(signed(private, body), body)
    assert [e.kind for e in events] == [
        EventKind.ACCEPTED,
        EventKind.DELIVERED,
        EventKind.BOUNCED,
        EventKind.BOUNCED,
        EventKind.COMPLAINED,
        EventKind.UNKNOWN,
    ]
    assert {e.correlation_id for e in events} == {MESSAGE.correlation_id}
    assert {e.message_id for e in events} == {MESSAGE.message_id}
    assert {e.provider_message_id for e in events} == {SENT_ID}
    assert [e.bounce_type for e in events[2:4]] == ["hard", "soft"]
    assert events[2].reason == "550 5.1.1 no such user" and events[2].diagnostic == "5.1.1"
    assert events[1].diagnostic == "250 OK"
    assert events[5].raw["event"] == "group_resubscribe"  # unmapped, kept
    assert events[0].recipient == "user@example.org" and events[0].provider_event_id == "e1"


def test_lower_case_headers_as_a_framework_passes_them(keys) -> None:
    private, public = keys
    body = batch()
    headers = {k.lower(): v for k, v in signed(private, body).items()}
    assert len(SendGridWebhook(public).verify_and_parse(headers, body)) == 6


def reason_of(verifier: SendGridWebhook, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verifier.verify_and_parse(headers, body)
    assert "user@example.org" not in str(caught.value)  # never the body
    return caught.value.reason


def test_forged_signature_is_rejected(keys) -> None:
    _, public = keys
    body = batch()
    forged = {
        SIGNATURE_HEADER: base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),
        TIMESTAMP_HEADER: str(int(time.time())),
    }
    assert reason_of(SendGridWebhook(public), forged, body) == "bad_signature"
    garbage = {**forged, SIGNATURE_HEADER: "not base64!"}
    assert reason_of(SendGridWebhook(public), garbage, body) == "bad_signature"


def test_altered_body_is_rejected(keys) -> None:
    private, public = keys
    body = batch()
    headers = signed(private, body)
    assert reason_of(SendGridWebhook(public), headers, body.replace(b"bounce", b"delivered")) == "bad_signature"


def test_altered_timestamp_is_rejected(keys) -> None:
    private, public = keys
    body = batch()
    headers = signed(private, body)
    headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) - 1)
    assert reason_of(SendGridWebhook(public), headers, body) == "bad_signature"


def test_wrong_key_is_rejected(keys) -> None:
    _, public = keys
    other, _ = key_pair()
    body = batch()
    assert reason_of(SendGridWebhook(public), signed(other, body), body) == "bad_signature"


def test_stale_timestamp_is_rejected_even_when_signed(keys) -> None:
    private, public = keys
    body = batch()
    old = str(int(time.time()) - 3600)
    error_reason = reason_of(SendGridWebhook(public, max_age=600), signed(private, body, old), body)
    assert error_reason == "stale"
    assert len(SendGridWebhook(public, max_age=7200).verify_and_parse(signed(private, body, old), body)) == 6


def test_missing_headers_and_non_array_body_are_rejected(keys) -> None:
    private, public = keys
    assert reason_of(SendGridWebhook(public), {}, b"[]") == "missing_header"
    body = b'{"event": "delivered"}'
    assert reason_of(SendGridWebhook(public), signed(private, body), body) == "malformed"
    body = b"not json"
    assert reason_of(SendGridWebhook(public), signed(private, body), body) == "malformed"


def test_public_key_forms_and_bad_keys() -> None:
    private, _public = key_pair()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    body = b"[]"
    assert SendGridWebhook(pem.decode()).verify_and_parse(signed(private, body), body) == []
    with pytest.raises(ConfigurationError, match="not a base64 DER or PEM"):
        SendGridWebhook("abc!")
    _, p384 = key_pair(ec.SECP384R1())
    with pytest.raises(ConfigurationError, match="not an ECDSA P-256 key"):
        SendGridWebhook(p384)


def test_settings_and_registration_through_the_plugin(keys) -> None:
    _private, public = keys
    assert "sendgrid" in get_webhook_registry().providers()
    verifier = build_verifier("sendgrid", {"public_key": public, "max_age": "60"})
    assert isinstance(verifier, SendGridWebhook) and verifier.max_age == 60
    with pytest.raises(ConfigurationError, match="needs public_key"):
        build_verifier("sendgrid", {})
    with pytest.raises(ConfigurationError, match="unknown sendgrid webhook setting"):
        build_verifier("sendgrid", {"public_key": public, "public_kye": "x"})
    with pytest.raises(ConfigurationError, match="positive number"):
        build_verifier("sendgrid", {"public_key": public, "max_age": "0"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["event", "email", "timestamp", "sg_message_id", "type", "mailcore_id", "reason"]), json_values
    )
    | json_values
)
def test_map_event_never_raises_and_keeps_the_record(record) -> None:
    event = map_event(record, default_time=1796040000)
    assert event.provider == "sendgrid"
    assert event.timestamp.tzinfo is not None


def test_through_the_wsgi_receiver(keys) -> None:
    """make_app builds the plugin's verifier from settings; verified events reach dispatch, forged ones 403."""
    private, public = keys
    events = []
    app = make_app({"sendgrid": {"public_key": public}}, dispatch=events.append)
    body = batch()
    assert post(app, "/sendgrid", body, signed(private, body))[0] == 200
    assert len(events) == 6 and events[1].kind is EventKind.DELIVERED
    assert post(app, "/sendgrid", body.replace(b"spamreport", b"delivered"), signed(private, body))[0] == 403
    assert len(events) == 6


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Bounced Address", "bounce"),
        ("Unsubscribed Address", "unsubscribe"),
        ("Spam Reporting Address", "complaint"),
        ("Invalid", None),
        (None, None),
    ],
)
def test_dropped_names_sendgrids_own_suppression_list(reason, expected) -> None:
    record = {"event": "dropped", "email": "user@example.org", "reason": reason, "category": ["news", "weekly"]}
    event = map_event(record, default_time=1796040000)
    assert event.kind is EventKind.DROPPED and event.suppressed_by == expected
    assert event.categories == ("news", "weekly")
    assert map_event({"event": "bounce", "reason": "Bounced Address"}, default_time=0).suppressed_by is None
    assert map_event({"event": "unsubscribe", "category": "news"}, default_time=0).categories == ("news",)
