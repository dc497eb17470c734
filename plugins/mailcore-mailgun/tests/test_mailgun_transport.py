"""MailgunTransport against a local multipart peer checking fields against Mailgun's published spec."""

import contextlib
import json
import socket
import subprocess
import sys
import threading

import pytest
import trustme

from mailcore import Attachment, Mailer, Message
from mailcore.bulk import bulk_template
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
from mailcore.testing.http_sink import HTTPSink, Reply, mailgun_reply, unused_port
from mailcore_mailgun.transport import MailgunTransport

API_KEY = "key-mailgun-test-0123456789"  # what the validating peer expects (conftest)
DOMAIN = "mg.example.com"


def message(**changes):
    base = Message("Shop <shop@example.com>", ["ann@example.org"], "Hello", text="plain")
    return base.replace(**changes) if changes else base


@pytest.fixture
def transport(sink):
    with MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, timeout=5) as t:
        yield t


class TestMailgunContract(TransportContract):
    secrets = (API_KEY,)

    @pytest.fixture
    def transport(self, sink):
        self.sink = sink
        with MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, timeout=5) as t:
            yield t

    @pytest.fixture
    def failing_transport(self):
        return MailgunTransport(API_KEY, DOMAIN, endpoint_url=f"http://127.0.0.1:{unused_port()}", timeout=2)

    def unsupported_message(self):
        return self.sample_message().replace(html="<p>x</p>", template_id="welcome")

    def io_count(self, transport):
        return self.sink.count


def test_every_mapped_field_arrives_at_the_peer(sink, transport):
    sent = Message(
        "Shop <shop@example.com>",
        ["Ann <ann@example.org>", "bob@example.org"],
        "Order",
        text="plain",
        cc=["cy@example.org"],
        bcc=["dee@example.org"],
        reply_to=["help@example.com"],
        attachments=[Attachment("a.pdf", b"%PDF"), Attachment("logo.png", b"PNG", inline=True, content_id="logo@x")],
        headers={"X-Campaign": "spring"},
        tags=["orders", "receipts"],
        metadata={"order": "42"},
        template_id="welcome",
        template_data={"name": "Ann"},
        provider_options={"mailgun": {"o:tracking": False}},
    )
    result = transport.send(sent)
    assert sink.problems == []
    parts = sink.last.form()
    fields = {}
    for part in parts:
        fields.setdefault(part.name, []).append(part)
    values = {name: [p.text for p in items] for name, items in fields.items() if name not in ("attachment", "inline")}
    assert values["from"] == ["Shop <shop@example.com>"]
    assert values["to"] == ["Ann <ann@example.org>", "bob@example.org"]
    assert values["cc"] == ["cy@example.org"] and values["bcc"] == ["dee@example.org"]
    assert values["subject"] == ["Order"] and values["text"] == ["plain"]
    assert values["h:Reply-To"] == ["help@example.com"]
    assert values["h:X-Campaign"] == ["spring"]
    assert values["h:X-Mailcore-ID"] == [sent.correlation_id] and values["v:mailcore_id"] == [sent.correlation_id]
    assert values["h:Message-Id"] == [sent.message_id]
    assert values["o:tag"] == ["orders", "receipts"]
    assert values["v:order"] == ["42"]
    assert values["template"] == ["welcome"] and json.loads(values["t:variables"][0]) == {"name": "Ann"}
    assert values["o:tracking"] == ["no"]
    [attachment] = fields["attachment"]
    [inline] = fields["inline"]
    assert (attachment.filename, attachment.value) == ("a.pdf", b"%PDF")
    assert (inline.filename, inline.value, inline.content_type) == ("logo@x", b"PNG", "image/png")
    assert result.provider_message_id.startswith("<mg-")


def test_the_peer_catches_an_invalid_form(sink, transport):
    with pytest.raises(MessageRejected):
        transport.send(message(provider_options={"mailgun": {"o:not-an-option": "1"}}))
    assert sink.problems == ["unknown field 'o:not-an-option'"]


ANSWERS = [
    (Reply(400, body={"message": "'to' parameter is not a valid address"}), MessageRejected),
    (Reply(401, body="Forbidden"), TransportRejected),
    (Reply(402, body={"message": "Request Failed"}), TransportRejected),
    (Reply(403, body={"message": "Forbidden"}), TransportRejected),
    (Reply(404, body={"message": "Domain not found"}), TransportRejected),
    (Reply(413, body="too large"), MessageRejected),
    (Reply(429, body={"message": "limit exceeded, try again after 120 seconds"}), RateLimited),
    (Reply(500, body={"message": "Internal Server Error"}), TransientError),
    (Reply(action="close"), SendTimeout),
]


@pytest.mark.parametrize(("reply", "expected"), ANSWERS)
def test_each_answer_gives_its_error_class_with_one_request(sink, transport, reply, expected):
    sink.script(reply)
    with pytest.raises(expected) as caught:
        transport.send(message())
    assert type(caught.value) is expected
    assert sink.count == 1, "exactly one HTTP request per attempt"
    assert API_KEY not in str(caught.value)


def test_rate_limit_text_sets_retry_after(sink, transport):
    sink.script(Reply(429, body={"message": "try again after 120 seconds"}))
    with pytest.raises(RateLimited) as caught:
        transport.send(message())
    assert caught.value.retry_after == 120.0


def test_reset_and_timeout_after_sending_may_have_delivered(sink):
    sink.script(Reply(action="close"), Reply(action="hang", delay=1.0))
    with MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, timeout=0.3) as t:
        for _ in range(2):
            with pytest.raises(SendTimeout) as caught:
                t.send(message())
            assert caught.value.maybe_sent is True
    assert sink.count == 2


def test_connection_refused_is_connection_failed():
    t = MailgunTransport(API_KEY, DOMAIN, endpoint_url=f"http://127.0.0.1:{unused_port()}", timeout=2)
    with pytest.raises(ConnectionFailed):
        t.send(message())


def test_success_with_unreadable_body(sink, transport):
    sink.script(Reply(200, body=b"<html>not json</html>"))
    assert transport.send(message()).provider_message_id is None
    assert sink.count == 1


def test_invalid_message_is_refused_before_any_request(sink, transport):
    with pytest.raises(InvalidMessage):
        transport.send(message(to=[f"r{i}@example.org" for i in range(1001)]))
    assert sink.count == 0


def test_bcc_only_message_is_a_valid_private_batch(sink, transport):
    transport.send(Message("a@example.com", [], "s", text="x", bcc=["b1@example.org", "b2@example.org"]))
    assert sink.problems == []
    names = [p.name for p in sink.last.form()]
    assert names.count("to") == 2 and "recipient-variables" in names


def test_session_is_shared_across_sends_and_threads(sink, transport):
    for _ in range(3):
        transport.send(message())
    assert sink.connections == 1
    failures = []

    def worker():
        try:
            for _ in range(5):
                transport.send(message())
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and sink.count == 23 and sink.connections <= 5


def test_https_with_a_trusted_test_ca(tls_pair, validate_request):
    server_context, cafile = tls_pair
    with HTTPSink(default=mailgun_reply, validator=validate_request, ssl_context=server_context) as sink:
        with MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, cafile=cafile, timeout=5) as t:
            assert t.send(message()).provider_message_id
        with pytest.raises(TransportRejected, match="certificate"):
            MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, timeout=5).send(message())
        assert sink.problems == []


def test_check_reports_each_step(sink, transport):
    steps = list(transport.check())
    assert [s.name for s in steps] == ["dns", "tcp", "tls", "credentials"] and all(s.ok for s in steps)
    assert sink.last.path == f"/v3/domains/{DOMAIN}"
    assert all(API_KEY not in f"{s.detail} {s.hint}" for s in steps)


@pytest.mark.parametrize(("status", "hint"), [(401, "wrong"), (404, "region=eu")])
def test_check_explains_a_bad_key_or_unknown_domain(sink, transport, status, hint):
    sink.script(Reply(status, body={"message": "nope"}))
    last = list(transport.check())[-1]
    assert not last.ok and hint in last.hint


def test_url_configuration(monkeypatch):
    t = MailgunTransport.from_url(parse_url(f"mailgun://{API_KEY}@example.com?region=eu&timeout=4"))
    assert t.endpoint_url == "https://api.eu.mailgun.net" and t.domain == "example.com" and t.timeout == 4
    assert t.name == "mailgun://***@example.com?region=eu" and API_KEY not in repr(t)
    monkeypatch.setenv("MAILGUN_API_KEY", "env-key")
    assert MailgunTransport.from_url(parse_url("mailgun://example.com"))._api_key.reveal() == "env-key"
    with pytest.raises(ConfigurationError, match="domain"):
        MailgunTransport.from_url(parse_url(f"mailgun://{API_KEY}@"))
    with pytest.raises(ConfigurationError, match="unknown parameter"):
        MailgunTransport.from_url(parse_url(f"mailgun://{API_KEY}@example.com?zone=eu"))


def test_mailer_sends_through_the_registered_scheme(sink):
    assert get_registry().get("mailgun").plugin == "mailgun"
    with Mailer(f"mailgun://{API_KEY}@{DOMAIN}?endpoint_url={sink.url}") as mailer:
        assert mailer.send(message()).provider_message_id
    assert sink.count == 1 and sink.problems == []


def test_entry_module_imports_nothing_heavy():
    code = (
        "import sys, mailcore_mailgun.plugin; "
        "heavy = [m for m in ('requests', 'urllib3', 'mailcore_mailgun.transport') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cafile_wins_over_requests_ca_bundle_in_send_and_batch(tls_pair, validate_request, tmp_path, monkeypatch):
    """requests lets $REQUESTS_CA_BUNDLE replace a session's verify; ours is passed per request."""
    server_context, cafile = tls_pair
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    with HTTPSink(default=mailgun_reply, validator=validate_request, ssl_context=server_context) as sink:
        with MailgunTransport(API_KEY, DOMAIN, endpoint_url=sink.url, cafile=cafile, timeout=5) as t:
            assert t.send(message()).provider_message_id
            template = bulk_template("shop@example.com", "Hi {name}", text="Hello {name}")
            results = list(Mailer(t, retry=None).send_bulk(template, [{"email": "ann@example.org", "name": "Ann"}]))
            assert [r.ok for r in results] == [True]
        assert sink.count == 2 and sink.problems == []


def test_a_2xx_whose_body_breaks_off_is_a_success_without_id():
    """Status line and headers arrived, the body did not: Mailgun has the message; never resend."""
    answer = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": "<x'
    with _raw_peer(answer) as (url, requests_seen), MailgunTransport(API_KEY, DOMAIN, endpoint_url=url) as t:
        assert t.send(message()).provider_message_id is None
    assert requests_seen == [1]


@contextlib.contextmanager
def _raw_peer(answer):
    """A one-shot HTTP peer on 127.0.0.1 that reads one request and writes ``answer`` verbatim."""
    server = socket.create_server(("127.0.0.1", 0))
    seen = []

    def serve():
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    v for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
                )
            )
            while len(body) < length:
                body += conn.recv(65536)
            seen.append(1)
            conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    finally:
        thread.join(5)
        server.close()
