"""Bulk sending through real local peers: SendGrid and Mailgun HTTP sinks (HTTPS, trustme),
an SES-shaped HTTP sink, and aiosmtpd for pooled SMTP sessions."""

import json
import threading
import uuid

import pytest
from aiosmtpd.controller import Controller

from mailcore import Mailer
from mailcore.bulk import bulk_template
from mailcore.testing.http_sink import HTTPSink, Reply, mailgun_reply, sendgrid_reply
from mailcore.testing.tls import local_tls

KEY = "SG.bulk-test-key-0123456789"
TEMPLATE = bulk_template(
    "News <news@example.com>",
    "Hello {name}",
    text="Hi {name}, code {code}",
    html="<p>Hi {name} &amp; {code}</p>",
    metadata={"campaign": "spring"},
)


def people(n, start=0):
    return [{"email": f"user{i}@example.org", "name": f"User{i}", "code": f"<{i}>", "metadata": {"row": str(i)}}
            for i in range(start, start + n)]  # fmt: skip


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return local_tls(tmp_path_factory.mktemp("ca"))


def fast(**extra):
    return {"sleep": lambda s: None, "retry": {"first_delay": 0.0}, **extra}


# -- SendGrid ------------------------------------------------------------------------------------


@pytest.fixture
def sendgrid(tls, sendgrid_validator):
    context, cafile = tls
    with HTTPSink(default=sendgrid_reply, validator=sendgrid_validator, ssl_context=context) as sink:
        sink.transport_url = f"sendgrid://{KEY}@?endpoint_url={sink.url}&cafile={cafile}"
        yield sink


def personalizations(sink):
    return [p for request in sink.requests if request.method == "POST" for p in request.json()["personalizations"]]


def test_sendgrid_each_personalization_has_exactly_one_recipient(sendgrid):
    results = list(Mailer(sendgrid.transport_url, retry=None).send_bulk(TEMPLATE, people(1001)))
    assert all(r.ok for r in results) and len(results) == 1001
    assert sendgrid.problems == []  # every body valid against SendGrid's published schema
    sizes = [len(r.json()["personalizations"]) for r in sendgrid.requests]
    assert sorted(sizes) == [1, 1000]
    blocks = personalizations(sendgrid)
    assert len(blocks) == 1001
    for block in blocks:
        assert len(block["to"]) == 1 and "cc" not in block and "bcc" not in block
    first = next(b for b in blocks if b["to"][0]["email"] == "user7@example.org")
    assert first["subject"] == "Hello User7"
    assert first["substitutions"] == {"%mc:name%": "User7", "%mc:code%": "<7>", "%mc:name:html%": "User7",
                                      "%mc:code:html%": "&lt;7&gt;"}  # fmt: skip
    assert first["custom_args"]["campaign"] == "spring" and first["custom_args"]["row"] == "7"
    by_email = {r.email: r for r in results}
    assert first["headers"]["Message-ID"] == by_email["user7@example.org"].message_id
    body = sendgrid.requests[0].json()
    assert body["content"][0]["value"] == "Hi %mc:name%, code %mc:code%"
    assert "Message-ID" not in body.get("headers", {})  # never shared between recipients
    assert all(r.provider_message_id.startswith("sg-") for r in results)
    assert len({r.provider_message_id for r in results}) == 2  # one X-Message-Id per request


def test_sendgrid_batch_answered_503_then_202_is_retried_whole(sendgrid):
    sendgrid.script(Reply(503, body={"errors": [{"message": "busy"}]}))
    results = list(Mailer(sendgrid.transport_url, **fast()).send_bulk(TEMPLATE, people(40)))
    assert all(r.ok for r in results) and len(results[0].attempts) == 2
    assert [len(r.json()["personalizations"]) for r in sendgrid.requests] == [40, 40]


def test_sendgrid_400_isolates_the_bad_recipient(tls, sendgrid_validator):
    context, cafile = tls

    def answer(request):
        if b"bad.example" in request.body:
            return Reply(400, body={"errors": [{"message": "Does not contain a valid address.", "field": "to"}]})
        return sendgrid_reply(request)

    recipients = [*people(6), {"email": "x@bad.example", "name": "X", "code": "1"}, *people(5, start=6)]
    with HTTPSink(default=answer, ssl_context=context) as sink:
        url = f"sendgrid://{KEY}@?endpoint_url={sink.url}&cafile={cafile}"
        results = list(Mailer(url, **fast()).send_bulk(TEMPLATE, recipients))
    assert [r.email for r in results if not r.ok] == ["x@bad.example"]
    assert "400" in str(results[6].error)
    delivered = sorted(p["to"][0]["email"] for p in personalizations(sink) if p["to"][0]["email"] != "x@bad.example")
    # the good recipients were each accepted exactly once (refused requests delivered nothing)
    accepted = [
        p["to"][0]["email"] for r in sink.requests if b"bad.example" not in r.body for p in r.json()["personalizations"]
    ]
    assert sorted(accepted) == sorted(r.email for r in results if r.ok)
    assert len(set(delivered)) == 11


def test_sendgrid_fails_over_to_smtp_per_batch(sendgrid, smtp_peer):
    sendgrid.script(*[Reply(401, body={"errors": [{"message": "bad key"}]})])
    url = f"failover({sendgrid.transport_url} {smtp_peer.url})"
    name = f"bulk-{uuid.uuid4().hex[:6]}"
    results = list(
        Mailer(url, breaker={"failures": 100}, **fast()).send_bulk(TEMPLATE.replace(tags=(name,)), people(12))
    )
    assert all(r.ok and r.transport.startswith("smtp://") for r in results)
    assert sorted(smtp_peer.rcpts) == sorted([[f"user{i}@example.org"] for i in range(12)])


def test_sendgrid_dynamic_template_data_per_recipient(sendgrid):
    template = bulk_template("news@example.com", "", template_id="d-123", template_data={"brand": "Acme"})
    results = list(Mailer(sendgrid.transport_url, retry=None).send_bulk(template, people(3)))
    assert all(r.ok for r in results)
    blocks = personalizations(sendgrid)
    assert blocks[1]["dynamic_template_data"] == {"brand": "Acme", "code": "<1>"}
    assert "substitutions" not in blocks[1] and sendgrid.problems == []


# -- Mailgun -------------------------------------------------------------------------------------


def test_mailgun_batch_send_with_recipient_variables(tls):
    context, cafile = tls
    with HTTPSink(default=mailgun_reply, ssl_context=context) as sink:
        url = f"mailgun://key-123@mg.example.com?endpoint_url={sink.url}&cafile={cafile}"
        results = list(Mailer(url, retry=None).send_bulk(TEMPLATE, people(1001)))
    assert all(r.ok for r in results) and len(results) == 1001
    assert sorted(len([p for p in r.form() if p.name == "to"]) for r in sink.requests) == [1, 1000]
    request = next(r for r in sink.requests if len(r.form()) > 50)
    form = request.form()
    fields = {p.name: p.text for p in form if p.name != "to"}
    to = [p.text for p in form if p.name == "to"]
    variables = json.loads(fields["recipient-variables"])
    # Mailgun sends each "to" its own copy when recipient-variables names every one of them
    assert sorted(variables) == sorted(a.split("<")[1].rstrip(">") for a in to)
    assert fields["subject"] == "%recipient.mc_subject%"
    assert fields["text"] == "Hi %recipient.name%, code %recipient.code%"
    assert fields["html"] == "<p>Hi %recipient.name__html% &amp; %recipient.code__html%</p>"
    assert fields["v:mailcore_id"] == "%recipient.mc_id%" and fields["v:row"] == "%recipient.mc_meta_row%"
    assert "h:Message-Id" not in fields and "cc" not in fields and "bcc" not in fields
    three = variables["user3@example.org"]
    assert three["mc_subject"] == "Hello User3" and three["code__html"] == "&lt;3&gt;" and three["mc_meta_row"] == "3"
    assert three["mc_id"] == next(r.message_id for r in results if r.email == "user3@example.org")[1:-1]
    assert request.headers["authorization"].startswith("Basic ")


# -- SES -----------------------------------------------------------------------------------------


def ses_answer(request):
    """SESv2 over HTTP: SendBulkEmail answers per entry (one 'refused' entry), SendEmail an id."""
    if request.path.endswith("/outbound-bulk-emails"):
        entries = request.json()["BulkEmailEntries"]
        results = [
            {"Status": "MESSAGE_REJECTED", "Error": "address on suppression list"}
            if e["Destination"]["ToAddresses"][0].startswith("refused")
            else {"Status": "SUCCESS", "MessageId": f"ses-{i}"}
            for i, e in enumerate(entries)
        ]
        return Reply(200, body={"BulkEmailEntryResults": results})
    return Reply(200, body={"MessageId": "ses-single"})


@pytest.fixture
def ses_sink(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with HTTPSink(default=ses_answer) as sink:
        yield sink


def test_ses_send_bulk_email_with_a_template_50_per_request(ses_sink):
    template = bulk_template("news@example.com", "", template_id="Welcome", template_data={"brand": "Acme"})
    recipients = [*people(60), {"email": "refused@example.org", "name": "R", "code": "0"}]
    url = f"ses://?region=eu-west-1&endpoint_url={ses_sink.url}"
    results = list(Mailer(url, retry=None).send_bulk(template, recipients))
    assert sorted(len(r.json()["BulkEmailEntries"]) for r in ses_sink.requests) == [11, 50]
    assert [r.email for r in results if not r.ok] == ["refused@example.org"]
    assert sum(r.ok for r in results) == 60
    entry = next(r for r in ses_sink.requests if len(r.json()["BulkEmailEntries"]) == 50).json()["BulkEmailEntries"][2]
    assert entry["Destination"] == {"ToAddresses": ["user2@example.org"]}
    data = json.loads(entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"])
    assert data == {"brand": "Acme", "code": "<2>"}


def test_ses_without_a_template_sends_one_message_each(ses_sink):
    url = f"ses://?region=eu-west-1&endpoint_url={ses_sink.url}"
    results = list(Mailer(url, retry=None).send_bulk(TEMPLATE, people(5), concurrency=2))
    assert all(r.ok and r.provider_message_id == "ses-single" for r in results)
    assert all(r.path.endswith("/outbound-emails") for r in ses_sink.requests) and ses_sink.count == 5


# -- SMTP ----------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self):
        self.rcpts = []
        self.bodies = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.rcpts.append(list(envelope.rcpt_tos))
            self.bodies.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_peer():
    handler = _Recorder()
    from mailcore.testing.http_sink import unused_port

    port = unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}?tls=none"
    try:
        yield handler
    finally:
        controller.stop()


def test_smtp_pooled_sessions_one_envelope_recipient_each(smtp_peer):
    results = list(Mailer(smtp_peer.url, retry=None).send_bulk(TEMPLATE, people(30), concurrency=4))
    assert all(r.ok for r in results)
    assert sorted(smtp_peer.rcpts) == sorted([[f"user{i}@example.org"] for i in range(30)])
    body = next(b for b, r in zip(smtp_peer.bodies, smtp_peer.rcpts, strict=True) if r == ["user4@example.org"])
    assert b"Subject: Hello User4" in body and b"Hi User4, code <4>" in body
