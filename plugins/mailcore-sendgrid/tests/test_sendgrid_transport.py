"""SendGridTransport against a local peer that validates each body against SendGrid's published spec."""

import base64
import subprocess
import sys
import threading

import pytest

from mailcore import Attachment, Mailer, Message
from mailcore.config import parse_url
from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    InvalidMessage,
    MessageRejected,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.plugins import get_registry
from mailcore.testing import TransportContract
from mailcore.testing.http_sink import HTTPSink, Reply, sendgrid_reply, unused_port
from mailcore_sendgrid.transport import SendGridTransport

API_KEY = "SG.test-key-0123456789abcdef"  # the key the validating peer expects (conftest)


def message(**changes):
    base = Message("Shop <shop@example.com>", ["ann@example.org"], "Hello", text="plain")
    return base.replace(**changes) if changes else base


@pytest.fixture
def transport(sink):
    with SendGridTransport(API_KEY, endpoint_url=sink.url, timeout=5) as t:
        yield t


class TestSendGridContract(TransportContract):
    secrets = (API_KEY,)

    @pytest.fixture
    def transport(self, sink):
        self.sink = sink
        with SendGridTransport(API_KEY, endpoint_url=sink.url, timeout=5) as t:
            yield t

    @pytest.fixture
    def failing_transport(self):
        return SendGridTransport(API_KEY, endpoint_url=f"http://127.0.0.1:{unused_port()}", timeout=2)

    def unsupported_message(self):
        return self.sample_message().replace(tags=[f"tag{i}" for i in range(11)])

    def io_count(self, transport):
        return self.sink.count


def test_every_mapped_field_arrives_at_the_peer(sink, transport):
    sent = Message(
        "Shop <shop@example.com>",
        ["Ann <ann@example.org>"],
        "Order",
        text="plain",
        html="<p>html</p>",
        cc=["cy@example.org"],
        bcc=["dee@example.org"],
        reply_to=["help@example.com"],
        attachments=[Attachment("a.pdf", b"%PDF"), Attachment("logo.png", b"PNG", inline=True, content_id="logo@x")],
        headers={"X-Campaign": "spring"},
        tags=["orders"],
        metadata={"order": "42"},
        template_id="d-abc",
        template_data={"name": "Ann"},
        provider_options={"sendgrid": {"ip_pool_name": "transactional"}},
    )
    result = transport.send(sent)
    assert sink.problems == []
    body = sink.last.json()
    [p] = body["personalizations"]
    assert p["to"] == [{"email": "ann@example.org", "name": "Ann"}]
    assert p["cc"] == [{"email": "cy@example.org"}] and p["bcc"] == [{"email": "dee@example.org"}]
    assert p["custom_args"] == {"order": "42", "mailcore_id": sent.correlation_id}
    assert p["dynamic_template_data"] == {"name": "Ann"}
    assert body["from"] == {"email": "shop@example.com", "name": "Shop"}
    assert body["reply_to"] == {"email": "help@example.com"}
    assert body["subject"] == "Order"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert base64.b64decode(body["attachments"][0]["content"]) == b"%PDF"
    assert body["attachments"][1]["content_id"] == "logo@x"
    assert body["headers"]["X-Campaign"] == "spring"
    assert body["headers"]["X-Mailcore-ID"] == sent.correlation_id
    assert body["categories"] == ["orders"]
    assert body["template_id"] == "d-abc"
    assert body["ip_pool_name"] == "transactional"
    assert result.provider_message_id.startswith("sg-")


def test_the_peer_catches_an_invalid_body(sink, transport):
    """The validating peer is real: a schema violation (passthrough) comes back as a 400."""
    with pytest.raises(MessageRejected):
        transport.send(message(provider_options={"sendgrid": {"ip_pool_name": "x"}}))
    assert sink.problems and "ip_pool_name" in sink.problems[0]


ANSWERS = [
    (Reply(400, body={"errors": [{"message": "bad", "field": "subject"}]}), MessageRejected),
    (
        Reply(
            400,
            body={
                "errors": [{"message": "The from address does not match a verified Sender Identity", "field": "from"}]
            },
        ),
        TransportRejected,
    ),
    (Reply(401, body={"errors": [{"message": "unauthorized"}]}), TransportRejected),
    (Reply(403, body={"errors": [{"message": "access forbidden"}]}), TransportRejected),
    (Reply(413, body=""), MessageRejected),
    (Reply(429, {"Retry-After": "12"}), RateLimited),
    (Reply(500), TransientError),
    (Reply(503, body={"errors": [{"message": "v3 Web API is not available"}]}), TransientError),
    (Reply(action="close"), SendTimeout),
]


@pytest.mark.parametrize(("reply", "expected"), ANSWERS)
def test_each_answer_gives_its_error_class_with_one_request(sink, transport, reply, expected):
    sink.script(reply)
    with pytest.raises(expected) as caught:
        transport.send(message())
    assert type(caught.value) is expected
    assert sink.count == 1, "exactly one HTTP request per attempt"
    assert caught.value.transport == transport.name
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value.response)


def test_rate_limit_reports_retry_after(sink, transport):
    sink.script(Reply(429, {"Retry-After": "12"}))
    with pytest.raises(RateLimited) as caught:
        transport.send(message())
    assert caught.value.retry_after == 12.0


def test_reset_after_the_body_was_sent_may_have_delivered(sink, transport):
    sink.script(Reply(action="close"))
    with pytest.raises(SendTimeout) as caught:
        transport.send(message())
    assert caught.value.maybe_sent is True


def test_read_timeout_may_have_delivered(sink):
    sink.script(Reply(action="hang", delay=1.0))
    with SendGridTransport(API_KEY, endpoint_url=sink.url, timeout=0.3) as t, pytest.raises(SendTimeout) as caught:
        t.send(message())
    assert caught.value.maybe_sent is True and sink.count == 1


def test_connection_refused_is_connection_failed():
    t = SendGridTransport(API_KEY, endpoint_url=f"http://127.0.0.1:{unused_port()}", timeout=2)
    with pytest.raises(ConnectionFailed):
        t.send(message())


def test_success_with_unreadable_body_is_still_success(sink, transport):
    sink.script(Reply(202, {"X-Message-Id": "kept"}, body=b"\xff\xfe garbage"), Reply(202))
    assert transport.send(message()).provider_message_id == "kept"
    assert transport.send(message()).provider_message_id is None
    assert sink.count == 2


def test_invalid_message_is_refused_before_any_request(sink, transport):
    with pytest.raises(InvalidMessage):
        transport.send(message(to=[f"r{i}@example.org" for i in range(1001)]))
    assert sink.count == 0


def test_connection_is_reused_across_sends_and_threads(sink, transport):
    for _ in range(5):
        transport.send(message())
    assert sink.connections == 1

    failures = []

    def worker():
        try:
            for _ in range(10):
                transport.send(message())
        except Exception as error:  # collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sink.count == 85 and sink.problems == []
    assert sink.connections <= 9


def test_https_with_a_trusted_test_ca(tls_pair, validate_request):
    server_context, cafile = tls_pair
    with HTTPSink(default=sendgrid_reply, validator=validate_request, ssl_context=server_context) as sink:
        with SendGridTransport(API_KEY, endpoint_url=sink.url, cafile=cafile, timeout=5) as t:
            assert t.send(message()).provider_message_id
            assert t.send(message()).provider_message_id
        assert sink.connections == 1 and sink.problems == []
        untrusting = SendGridTransport(API_KEY, endpoint_url=sink.url, timeout=5)
        with pytest.raises(TransportRejected, match="certificate"):
            untrusting.send(message())


def test_check_reports_each_step_and_masks_the_key(sink, transport):
    steps = list(transport.check())
    assert [s.name for s in steps] == ["dns", "tcp", "tls", "credentials"]
    assert all(s.ok for s in steps)
    assert sink.last.path == "/v3/scopes"
    assert all(API_KEY not in f"{s.detail} {s.hint}" for s in steps)


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        (Reply(401, body={"errors": [{"message": "bad key"}]}), "401"),
        (Reply(200, body={"scopes": ["user.profile.read"]}), "mail.send"),
    ],
)
def test_check_fails_on_bad_key_or_missing_scope(sink, transport, reply, text):
    sink.script(reply)
    last = list(transport.check())[-1]
    assert last.name == "credentials" and not last.ok and text in last.detail and last.hint


def test_check_stops_when_the_host_is_unreachable():
    t = SendGridTransport(API_KEY, endpoint_url=f"http://127.0.0.1:{unused_port()}", timeout=2)
    steps = list(t.check())
    assert [s.name for s in steps] == ["dns", "tcp"] and not steps[-1].ok


def test_url_configuration(monkeypatch):
    t = SendGridTransport.from_url(parse_url(f"sendgrid://{API_KEY}@?region=eu&timeout=7&ignore_unsupported=true"))
    assert t.endpoint_url == "https://api.eu.sendgrid.com" and t.timeout == 7 and t.ignore_unsupported
    assert t.name == "sendgrid://***@?region=eu" and API_KEY not in repr(t)
    assert SendGridTransport.from_url(parse_url(f"sendgrid://{API_KEY}@")).endpoint_url == "https://api.sendgrid.com"
    monkeypatch.setenv("SENDGRID_API_KEY", "from-env")
    assert SendGridTransport.from_url(parse_url("sendgrid://"))._api_key.reveal() == "from-env"
    monkeypatch.delenv("SENDGRID_API_KEY")
    with pytest.raises(ConfigurationError, match="API key"):
        SendGridTransport.from_url(parse_url("sendgrid://"))
    with pytest.raises(ConfigurationError, match="unknown parameter"):
        SendGridTransport.from_url(parse_url(f"sendgrid://{API_KEY}@?regoin=eu"))
    with pytest.raises(ConfigurationError, match="region"):
        SendGridTransport.from_url(parse_url(f"sendgrid://{API_KEY}@?region=mars"))


def test_mailer_sends_through_the_registered_scheme(sink):
    assert get_registry().get("sendgrid").plugin == "sendgrid"
    with Mailer(f"sendgrid://{API_KEY}@?endpoint_url={sink.url}") as mailer:
        result = mailer.send(message())
    assert result.provider_message_id and sink.count == 1 and sink.problems == []


def test_entry_module_imports_nothing_heavy():
    code = (
        "import sys, mailcore_sendgrid.plugin; "
        "heavy = [m for m in ('sendgrid', 'python_http_client', 'requests', 'mailcore_sendgrid.transport') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
