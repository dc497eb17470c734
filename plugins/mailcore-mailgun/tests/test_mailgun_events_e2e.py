"""End to end at the local Mailgun peer: send through the outbox worker, post the signed webhook
for that message, and read the truth back (``mailcore status``, suppression, settling)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid

import pytest
from click.testing import CliRunner

from mailcore import DeliveryFailed, Mailer, Message, RecipientSuppressed
from mailcore.cli import cli
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.outbox.suppressions import suppressions
from mailcore.testing.http_sink import Reply
from mailcore.testing.webhooks import post
from mailcore.webhooks.app import make_app

API_KEY = "key-mailgun-test-0123456789"
DOMAIN = "mg.example.com"
SIGNING_KEY = "key-test-" + "1" * 24


@pytest.fixture
def world(tmp_path, sink):
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    app = make_app({"mailgun": {"signing_key": SIGNING_KEY}}, outbox=url)
    mailer = Mailer(f"mailgun://{API_KEY}@{DOMAIN}?endpoint_url={sink.url}&timeout=2", suppression=url, retry=None)
    yield url, app, mailer
    app.pipeline.close()
    mailer.close()


def deliver(mailer: Mailer, url: str, message: Message):
    mailer.outbox_url = url
    mailer.enqueue(message)
    worker = OutboxWorker(mailer, url, poll_interval=0.05)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()
    with open_outbox(url) as outbox:
        return outbox.find(message.message_id)


def event(request, name: str, recipient: str, provider_id: str, **extra) -> dict:
    """Mailgun's event-data for a request the peer received: the ``v:`` variables come back as
    ``user-variables``, ``message.headers.message-id`` is the send answer's id without brackets."""
    variables = {p.name[2:]: p.text for p in request.form() if p.name.startswith("v:")}
    return {
        "event": name,
        "id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "recipient": recipient,
        "message": {"headers": {"message-id": provider_id.strip("<>")}},
        "user-variables": variables,
        **extra,
    }


def webhook(app, record: dict) -> None:
    stamp, token = str(int(time.time())), secrets.token_hex(25)
    signature = hmac.new(SIGNING_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    body = json.dumps({"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": record})
    assert post(app, "/mailgun", body.encode())[0] == 200
    assert app.pipeline.wait_idle(30)


def status(url: str, key: str) -> dict:
    result = CliRunner().invoke(cli, ["status", "--outbox", url, key, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_delivered_then_bounce_then_refused_before_any_request(world, sink) -> None:
    url, app, mailer = world
    message = Message("shop@example.com", ["ann@example.org"], "Receipt", text="Thanks")
    entry = deliver(mailer, url, message)
    assert entry.state == "sent" and sink.count == 1
    webhook(app, event(sink.requests[-1], "delivered", "ann@example.org", entry.provider_message_id,
                       **{"delivery-status": {"code": 250, "message": "OK"}}))  # fmt: skip
    [found] = status(url, message.message_id)["messages"]
    assert found["recipients"] == {"ann@example.org": "delivered"}

    second = Message("shop@example.com", ["gone@example.org"], "News", text="Hi")
    entry = deliver(mailer, url, second)
    webhook(app, event(sink.requests[-1], "failed", "gone@example.org", entry.provider_message_id,
                       severity="permanent", reason="bounce"))  # fmt: skip
    assert status(url, second.message_id)["messages"][0]["recipients"] == {"gone@example.org": "bounced (hard)"}
    with open_outbox(url) as outbox:
        assert [e.reason for e in suppressions(outbox, address="gone@example.org")] == ["hard_bounce"]
    before = sink.count
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(Message("shop@example.com", ["gone@example.org"], "Again", text="Hi"))
    assert isinstance(caught.value.last_error, RecipientSuppressed)
    assert sink.count == before


def test_unknown_row_is_settled_by_an_accepted_event(world, sink) -> None:
    url, app, mailer = world
    sink.script(Reply(action="close"))
    message = Message("shop@example.com", ["ann@example.org"], "Code", text="123456")
    assert deliver(mailer, url, message).state == "unknown"
    webhook(app, event(sink.requests[-1], "accepted", "ann@example.org", "<late@mg.example.com>"))
    with open_outbox(url) as outbox:
        settled = outbox.find(message.message_id)
    assert (settled.state, settled.transport, settled.provider_message_id) == (
        "sent",
        "mailgun",
        "<late@mg.example.com>",
    )
    assert sink.count == 1


def test_unsubscribe_is_scoped_to_the_message_categories(world, sink) -> None:
    url, app, mailer = world
    news = Message("shop@example.com", ["reader@example.org"], "News", text="Hi", tags=["newsletter"])
    entry = deliver(mailer, url, news)
    webhook(app, event(sink.requests[-1], "unsubscribed", "reader@example.org", entry.provider_message_id,
                       tags=["newsletter"]))  # fmt: skip
    with open_outbox(url) as outbox:
        [listed] = suppressions(outbox, address="reader@example.org")
    assert (listed.scope, listed.reason) == ("newsletter", "unsubscribe")
    before = sink.count
    with pytest.raises(DeliveryFailed):
        mailer.send(Message("shop@example.com", ["reader@example.org"], "More news", text="Hi", tags=["newsletter"]))
    assert sink.count == before
    mailer.send(Message("shop@example.com", ["reader@example.org"], "Your receipt", text="Hi", tags=["receipts"]))
    assert sink.count == before + 1
