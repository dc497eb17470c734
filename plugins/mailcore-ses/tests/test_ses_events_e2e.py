"""End to end on 127.0.0.1: send through moto (SES), post the SNS-signed SES event for that
message to the receiver, and read the truth back (``mailcore status``, suppression, settling).

The SES record carries the ``X-Mailcore-ID`` header read back from the raw message moto stored,
as SES echoes it; SNS signs with a certificate a local CA issued (the verifier trusts only it).
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
import trustme
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from mailcore import DeliveryFailed, Mailer, Message, RecipientSuppressed
from mailcore.cli import cli
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.outbox.suppressions import suppressions
from mailcore.testing.webhooks import post
from mailcore.webhooks.app import make_app
from mailcore_ses.webhook import SesSnsWebhook, string_to_sign

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-e2e.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"


@pytest.fixture(scope="module")
def signer():
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("sns.amazonaws.com", key_type=trustme.KeyType.RSA)
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    return ca, leaf.cert_chain_pems[0].bytes(), key


def world_for(tmp_path, signer, stack: str):
    ca, cert_pem, _ = signer
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    app = make_app({"ses": {}}, outbox=url)
    app.verifiers["ses"] = SesSnsWebhook(
        fetcher=lambda _url: cert_pem, issuers=[x509.load_pem_x509_certificate(ca.cert_pem.bytes())], topics=[TOPIC]
    )
    return url, app, Mailer(stack, outbox=url, suppression=url, retry=None)


def deliver(mailer: Mailer, url: str, message: Message):
    mailer.enqueue(message)
    worker = OutboxWorker(mailer, url, poll_interval=0.05)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()
    with open_outbox(url) as outbox:
        return outbox.find(message.message_id)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def publish(app, signer, event_type: str, ses_message_id: str, headers: list[dict], **section) -> None:
    """Post one SNS notification carrying an SES event record, signed like SNS (version 2)."""
    _, _, key = signer
    mail = {"timestamp": iso(time.time()), "messageId": ses_message_id, "destination": ["x@example.org"],
            "headers": headers}  # fmt: skip
    record = {"eventType": event_type, "mail": mail, event_type[0].lower() + event_type[1:]: section}
    message = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": json.dumps(record),
        "Timestamp": iso(time.time()),
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
    }
    signature = key.sign(string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
    body = json.dumps({**message, "Signature": base64.b64encode(signature).decode()}).encode()
    assert post(app, "/ses", body, {"Content-Type": "text/plain; charset=UTF-8"})[0] == 200
    assert app.pipeline.wait_idle(30)


def echoed_headers(moto, ses_message_id: str) -> list[dict]:
    """The headers of the raw message moto stored, in the form SES event records echo them."""
    parsed = email.message_from_string(moto.sent(ses_message_id)["raw_data"], policy=email.policy.default)
    return [{"name": name, "value": str(value)} for name, value in parsed.items()]


def raw_count(moto) -> int:
    with urllib.request.urlopen(f"{moto.endpoint}/moto-api/data.json", timeout=5) as answer:
        return len(json.load(answer).get("ses", {}).get("RawMessage", []))


def status(url: str, key: str) -> dict:
    result = CliRunner().invoke(cli, ["status", "--outbox", url, key, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_delivery_bounce_and_refusal_before_any_request(tmp_path, signer, moto) -> None:
    url, app, mailer = world_for(tmp_path, signer, moto.url(timeout="5"))
    try:
        message = Message("shop@example.com", ["ann@example.org"], "Receipt", text="Thanks")
        entry = deliver(mailer, url, message)
        assert entry.state == "sent"
        headers = echoed_headers(moto, entry.provider_message_id)
        publish(app, signer, "Delivery", entry.provider_message_id, headers,
                recipients=["ann@example.org"], smtpResponse="250 2.6.0 Message received")  # fmt: skip
        [found] = status(url, message.message_id)["messages"]
        assert found["recipients"] == {"ann@example.org": "delivered"}

        gone = Message("shop@example.com", ["gone@example.org"], "News", text="Hi")
        entry = deliver(mailer, url, gone)
        publish(app, signer, "Bounce", entry.provider_message_id, echoed_headers(moto, entry.provider_message_id),
                bounceType="Permanent", bounceSubType="General",
                bouncedRecipients=[{"emailAddress": "gone@example.org", "diagnosticCode": "smtp; 550 5.1.1"}])  # fmt: skip
        with open_outbox(url) as outbox:
            assert [e.reason for e in suppressions(outbox, address="gone@example.org")] == ["hard_bounce"]
        before = raw_count(moto)
        with pytest.raises(DeliveryFailed) as caught:
            mailer.send(Message("shop@example.com", ["gone@example.org"], "Again", text="Hi"))
        assert isinstance(caught.value.last_error, RecipientSuppressed)
        assert raw_count(moto) == before  # nothing reached SES
    finally:
        app.pipeline.close()
        mailer.close()


def test_unknown_row_is_settled_by_a_send_event(tmp_path, signer, scripted) -> None:
    url, app, mailer = world_for(tmp_path, signer, scripted.url(timeout="2"))
    try:
        scripted.reply(hang_up=True)  # reads SendEmail, never answers: maybe sent
        message = Message("shop@example.com", ["ann@example.org"], "Code", text="123456")
        assert deliver(mailer, url, message).state == "unknown"
        headers = [{"name": "X-Mailcore-ID", "value": message.correlation_id}]
        publish(app, signer, "Send", "0102-late-ses-id", headers)
        with open_outbox(url) as outbox:
            settled = outbox.find(message.message_id)
        assert (settled.state, settled.transport, settled.provider_message_id) == ("sent", "ses", "0102-late-ses-id")
        assert len(scripted.requests) == 1
    finally:
        app.pipeline.close()
        mailer.close()
