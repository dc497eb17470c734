"""End to end at the local SendGrid peer: send through the outbox worker, post the signed Event
Webhook for that message, and read the truth back (``mailcore status``, the suppression list,
a settled ``unknown`` row)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailcore import DeliveryFailed, Mailer, Message, RecipientSuppressed
from mailcore.cli import cli
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.outbox.suppressions import suppressions
from mailcore.testing.http_sink import Reply
from mailcore.testing.webhooks import post
from mailcore.webhooks.app import make_app
from mailcore_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER

API_KEY = "SG.test-key-0123456789abcdef"


@pytest.fixture
def world(tmp_path, sink):
    """An outbox file, a Mailer at the peer with the suppression layer on that file, and the
    webhook receiver storing into the same file."""
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = make_app({"sendgrid": {"public_key": base64.b64encode(public).decode()}}, outbox=url)
    mailer = Mailer(f"sendgrid://{API_KEY}@?endpoint_url={sink.url}&timeout=2", outbox=url, suppression=url, retry=None)
    yield url, private, app, mailer
    app.pipeline.close()
    mailer.close()


def deliver(mailer: Mailer, url: str, message: Message) -> None:
    """Enqueue and run the worker until nothing is due."""
    mailer.enqueue(message)
    worker = OutboxWorker(mailer, url, poll_interval=0.05)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()


def webhook(app, private, records: list[dict]) -> None:
    body = json.dumps(records).encode()
    stamp = str(int(time.time()))
    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    headers = {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}
    assert post(app, "/sendgrid", body, headers)[0] == 200
    assert app.pipeline.wait_idle(30)


def record(request, event: str, email: str, message_id_header: str, **extra) -> dict:
    """A SendGrid event record for a request the peer received: the custom args mailcore sent
    come back as top-level keys, ``sg_message_id`` starts with the X-Message-Id it answered."""
    custom_args = request.json()["personalizations"][0]["custom_args"]
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": event,
        "sg_event_id": f"{event}-{email}-{time.monotonic_ns()}",
        "sg_message_id": f"{message_id_header}.filter0001.1",
        **custom_args,
        **extra,
    }


def status(url: str, key: str) -> dict:
    result = CliRunner().invoke(cli, ["status", "--outbox", url, key, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_delivered_event_shows_in_status(world, sink) -> None:
    url, private, app, mailer = world
    message = Message("shop@example.com", ["ann@example.org"], "Receipt", text="Thanks")
    deliver(mailer, url, message)
    with open_outbox(url) as outbox:
        entry = outbox.find(message.message_id)
    assert entry.state == "sent" and sink.count == 1
    request = sink.requests[-1]
    webhook(app, private, [record(request, "processed", "ann@example.org", entry.provider_message_id),
                           record(request, "delivered", "ann@example.org", entry.provider_message_id,
                                  response="250 2.0.0 OK")])  # fmt: skip
    [found] = status(url, message.message_id)["messages"]
    assert found["outbox"]["state"] == "sent"
    assert found["recipients"] == {"ann@example.org": "delivered"}
    assert [item["what"] for item in found["timeline"]][:2] == ["enqueued", "1 delivery run(s)"]
    assert {"accepted", "delivered"} <= {item["what"] for item in found["timeline"]}
    # the correlation id and the provider's id find the same message
    assert status(url, message.correlation_id)["messages"][0]["message_id"] == message.message_id
    assert status(url, entry.provider_message_id)["messages"][0]["message_id"] == message.message_id
    text = CliRunner().invoke(cli, ["status", "--outbox", url, message.message_id])
    assert text.exit_code == 0 and "delivered" in text.output and "Thanks" not in text.output


def test_redelivered_webhook_is_stored_once(world, sink) -> None:
    url, private, app, mailer = world
    message = Message("shop@example.com", ["ann@example.org"], "Receipt", text="Thanks")
    deliver(mailer, url, message)
    with open_outbox(url) as outbox:
        entry = outbox.find(message.message_id)
    records = [record(sink.requests[-1], "delivered", "ann@example.org", entry.provider_message_id)]
    webhook(app, private, records)
    webhook(app, private, records)  # SendGrid retries a batch it thinks failed
    timeline = status(url, message.message_id)["messages"][0]["timeline"]
    assert [item["what"] for item in timeline].count("delivered") == 1


def test_hard_bounce_suppresses_and_the_next_send_is_refused_before_any_request(world, sink) -> None:
    url, private, app, mailer = world
    first = Message("shop@example.com", ["gone@example.org", "ann@example.org"], "News", text="Hi")
    deliver(mailer, url, first)
    with open_outbox(url) as outbox:
        entry = outbox.find(first.message_id)
    bounce = record(sink.requests[-1], "bounce", "gone@example.org", entry.provider_message_id,
                    type="bounce", reason="550 5.1.1 user unknown")  # fmt: skip
    webhook(app, private, [bounce])
    with open_outbox(url) as outbox:
        [listed] = suppressions(outbox, address="gone@example.org")
    assert (listed.scope, listed.reason, listed.source) == ("*", "hard_bounce", "sendgrid event")
    assert status(url, first.message_id)["messages"][0]["recipients"]["gone@example.org"] == "bounced (hard)"

    before = sink.count
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(Message("shop@example.com", ["Gone@Example.org"], "Again", text="Hi"))
    assert sink.count == before  # refused before any request reached the peer
    refusal = caught.value.last_error
    assert isinstance(refusal, RecipientSuppressed) and caught.value.outcome == "failed"
    assert "hard bounce" in refusal.recipients["Gone@Example.org"]
    # the others in a message still go; the suppressed one is listed as refused
    result = mailer.send(Message("shop@example.com", ["gone@example.org", "ann@example.org"], "Again", text="Hi"))
    assert sink.count == before + 1
    sent_to = [p["email"] for p in sink.requests[-1].json()["personalizations"][0]["to"]]
    assert sent_to == ["ann@example.org"]
    assert "hard bounce" in result.rejected["gone@example.org"]
    # an outbox message to the suppressed address fails at once with the reason, no request
    refused = Message("shop@example.com", ["gone@example.org"], "Queued", text="Hi")
    deliver(mailer, url, refused)
    with open_outbox(url) as outbox:
        parked = outbox.find(refused.message_id)
    assert parked.state == "failed" and "suppression list" in (parked.last_error or "")
    assert sink.count == before + 1


def test_unknown_row_is_settled_by_an_event(world, sink) -> None:
    url, private, app, mailer = world
    sink.script(Reply(action="close"))  # reads the request, never answers: maybe sent
    message = Message("shop@example.com", ["ann@example.org"], "Code", text="123456")
    deliver(mailer, url, message)
    with open_outbox(url) as outbox:
        assert outbox.find(message.message_id).state == "unknown"
    unsettled = status(url, message.message_id)["messages"][0]
    assert "waiting for a provider event" in unsettled["note"]
    webhook(app, private, [record(sink.requests[-1], "processed", "ann@example.org", "sg-late-id")])
    with open_outbox(url) as outbox:
        settled = outbox.find(message.message_id)
    assert (settled.state, settled.transport, settled.provider_message_id) == ("sent", "sendgrid", "sg-late-id")
    assert not settled.has_body  # the retention drops a sent message's content, settled or not
    assert sink.count == 1  # settled, not resent


def test_provider_suppression_drop_routes_the_next_message_around_sendgrid(world, sink) -> None:
    """SendGrid dropped a message (its own bounce list): the next one goes through the backup."""
    url, private, app, _ = world
    mailer = Mailer(
        f"failover(sendgrid://{API_KEY}@?endpoint_url={sink.url} memory://backup)", suppression=url, retry=None
    )
    try:
        result = mailer.send(Message("shop@example.com", ["old@example.org"], "One", text="x"))
        assert result.transport.startswith("sendgrid")
        dropped = record(sink.requests[-1], "dropped", "old@example.org", result.provider_message_id,
                         reason="Bounced Address")  # fmt: skip
        webhook(app, private, [dropped])
        second = mailer.send(Message("shop@example.com", ["old@example.org"], "Two", text="x"))
        assert second.transport == "memory://backup" and sink.count == 1
        assert [type(a.error).__name__ for a in second.attempts] == ["ProviderSuppressed", "NoneType"]
        # others still go through SendGrid
        assert mailer.send(Message("shop@example.com", ["new@example.org"], "Three", text="x")).transport.startswith(
            "sendgrid"
        )
    finally:
        mailer.close()
    with open_outbox(url) as outbox:
        [entry] = suppressions(outbox, address="old@example.org")
    assert (entry.scope, entry.reason) == ("provider:sendgrid", "provider")


def test_provider_drop_for_a_complaint_suppresses_everywhere(world, sink) -> None:
    """Off for complaints: someone who reported spam is not mailed through another provider."""
    url, private, app, mailer = world
    result = mailer.send(Message("shop@example.com", ["angry@example.org"], "One", text="x"))
    dropped = record(sink.requests[-1], "dropped", "angry@example.org", result.provider_message_id,
                     reason="Spam Reporting Address")  # fmt: skip
    webhook(app, private, [dropped])
    with open_outbox(url) as outbox:
        [entry] = suppressions(outbox, address="angry@example.org")
    assert (entry.scope, entry.reason) == ("*", "complaint")
