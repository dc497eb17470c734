"""Never silently degraded, at real peers: aiosmtpd (STARTTLS + AUTH) and the SendGrid/Mailgun
sinks that validate each request against the providers' published schemas."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mailcore import InvalidMessage, Mailer, Message
from mailcore.calendar import calendar_part
from mailcore.capabilities import CannotCarry
from mailcore.errors import DeliveryFailed, TransientError
from mailcore.templates import LocalTemplate
from mailcore.testing.http_sink import HTTPSink, Reply, mailgun_reply, sendgrid_reply
from mailcore.testing.specs import require_spec, sendgrid_mail_send_validator

REPO_ROOT = Path(__file__).resolve().parents[3]
SENDGRID_SPEC = REPO_ROOT.parent / "shared" / "specs" / "sendgrid_tsg_mail_v3.json"
X_SMTPAPI_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "x-smtpapi.schema.json").read_text())


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


@pytest.fixture
def sendgrid_sink():
    validator = sendgrid_mail_send_validator(require_spec(SENDGRID_SPEC), object_custom_args=True)

    def validate(request):
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(request.json())]

    with HTTPSink(default=sendgrid_reply, validator=validate) as sink:
        yield sink


def otp(**fields) -> Message:
    return Message(
        "auth@example.com",
        ["user@example.org"],
        "",
        template_id="d-otp",
        template_data={"code": "482913", "name": "Ann <admin>"},
        **fields,
    )


def stack(*urls: str) -> Mailer:
    return Mailer(list(urls), retry={"attempts": 1}, breaker=None)


def test_provider_template_only_skips_smtp_with_the_reason_and_fails_clearly(aio, sendgrid_sink):
    sendgrid_sink.script(Reply(503))
    mailer = stack(f"sendgrid://SG.key@?endpoint_url={sendgrid_sink.url}", aio.url())
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(otp())
    attempts = caught.value.attempts
    assert isinstance(attempts[0].error, TransientError) and attempts[0].transport.startswith("sendgrid://")
    skip = attempts[-1]
    assert isinstance(skip.error, CannotCarry) and skip.transport.startswith("smtp://")
    assert "cannot carry a provider template" in str(skip.error)
    assert aio.handler.messages == []  # nothing empty was delivered
    assert sendgrid_sink.problems == []


def test_provider_template_only_succeeds_through_another_template_capable_transport(aio, sendgrid_sink):
    sendgrid_sink.script(Reply(503))
    with HTTPSink(default=mailgun_reply) as mailgun:
        mailer = stack(
            f"sendgrid://SG.key@?endpoint_url={sendgrid_sink.url}",
            aio.url(),
            f"mailgun://key-1@mg.example.com?endpoint_url={mailgun.url}",
        )
        result = mailer.send(otp())
        assert result.transport.startswith("mailgun://")
        assert isinstance(result.attempts[1].error, CannotCarry)
        form = {part.name: part.text for part in mailgun.requests[0].form()}
        assert form["template"] == "d-otp" and json.loads(form["t:variables"])["code"] == "482913"
    assert aio.handler.messages == []


def test_only_smtp_configured_refuses_a_provider_template_before_any_attempt(aio):
    with pytest.raises(InvalidMessage) as caught:
        stack(aio.url()).send(otp())
    assert "cannot carry a provider template (provider_template)" in str(caught.value)
    assert "local template" in str(caught.value)
    assert aio.handler.messages == [] and aio.session_count == 0


def test_with_a_local_template_smtp_delivers_the_rendered_otp(aio, sendgrid_sink):
    sendgrid_sink.script(Reply(503))
    local = LocalTemplate(
        subject="Your code: {{ code }}",
        text="Hello {{ name }}, your code is {{ code }}.",
        html="<p>Hello {{ name }}, your code is <b>{{ code }}</b>.</p>",
        engine="jinja2",
    )
    mailer = stack(f"sendgrid://SG.key@?endpoint_url={sendgrid_sink.url}", aio.url())
    result = mailer.send(otp(local_template=local))
    assert result.transport.startswith("smtp://")
    [got] = aio.handler.messages
    parsed = parse(got["data"])
    assert parsed["Subject"] == "Your code: 482913"
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello Ann <admin>, your code is 482913."
    html = parsed.get_body(("html",)).get_content()
    assert "Ann &lt;admin&gt;" in html and "<b>482913</b>" in html  # autoescaped HTML
    # the provider got the provider template, not the local rendering
    body = sendgrid_sink.requests[0].json()
    assert body["template_id"] == "d-otp" and "content" not in body


def test_tags_and_metadata_arrive_as_neutral_headers(aio):
    message = Message(
        "app@example.com", ["user@example.org"], "Hi", text="hello",
        tags=["welcome", "é-tag"], metadata={"user_id": "42", "plan": "pro=yes"},
    )  # fmt: skip
    stack(aio.url()).send(message)
    parsed = parse(aio.handler.messages[0]["data"])
    assert json.loads(parsed["X-Mailcore-Tags"]) == ["welcome", "é-tag"]
    assert json.loads(parsed["X-Mailcore-Metadata"]) == {"user_id": "42", "plan": "pro=yes"}
    assert parsed["X-Mailcore-Tags"].isascii()


def test_sendgrid_relay_form_matches_the_x_smtpapi_schema(aio):
    message = Message(
        "app@example.com", ["user@example.org"], "Hi", text="hello",
        tags=["welcome", "otp"], metadata={"user_id": "42", "note": "a " * 300},
    )  # fmt: skip
    stack(aio.url(relay="sendgrid")).send(message)
    raw = aio.handler.messages[0]["data"]
    parsed = parse(raw)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    smtpapi = json.loads(parsed["X-SMTPAPI"])
    Draft202012Validator(X_SMTPAPI_SCHEMA).validate(smtpapi)
    assert smtpapi["category"] == ["welcome", "otp"]
    assert smtpapi["unique_args"]["user_id"] == "42"
    assert smtpapi["unique_args"]["mailcore_id"] == message.correlation_id
    assert "X-Mailcore-Tags" not in parsed


def test_mailgun_and_ses_relay_forms(aio):
    message = Message(
        "app@example.com", ["user@example.org"], "Hi", text="hello", tags=["welcome", "otp"], metadata={"user_id": "42"}
    )
    stack(aio.url(relay="mailgun")).send(message)
    stack(aio.url(relay="ses")).send(message)
    mailgun, ses = (parse(m["data"]) for m in aio.handler.messages)
    assert mailgun.get_all("X-Mailgun-Tag") == ["welcome", "otp"]
    assert json.loads(mailgun["X-Mailgun-Variables"]) == {"user_id": "42", "mailcore_id": message.correlation_id}
    pairs = dict(item.split("=") for item in ses["X-SES-MESSAGE-TAGS"].split(", "))
    assert pairs["welcome"] == "true" and pairs["user_id"] == "42" and "mailcore-id" in pairs


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailcore//test//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:1@example.com\r\nDTSTAMP:20260101T090000Z\r\nDTSTART:20260105T090000Z\r\n"
    "SUMMARY:Planning\r\nORGANIZER:mailto:app@example.com\r\nATTENDEE:mailto:user@example.org\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_calendar_invitation_arrives_as_a_text_calendar_alternative(aio):
    message = Message(
        "app@example.com", ["user@example.org"], "Planning", text="Join us", html="<p>Join us</p>",
        calendar=calendar_part(ICS),
    )  # fmt: skip
    stack(aio.url()).send(message)
    parsed = parse(aio.handler.messages[0]["data"])
    assert parsed.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in parsed.iter_parts()]
    assert types == ["text/plain", "text/html", "text/calendar"]
    calendar = list(parsed.iter_parts())[2]
    assert calendar.get_param("method") == "REQUEST"
    assert "SUMMARY:Planning" in calendar.get_content()


def test_a_calendar_invitation_through_sendgrid_passes_the_schema(sendgrid_sink):
    message = Message("app@example.com", ["user@example.org"], "Planning", text="Join us", calendar=ICS)
    stack(f"sendgrid://SG.key@?endpoint_url={sendgrid_sink.url}").send(message)
    assert sendgrid_sink.problems == []
    content = sendgrid_sink.requests[0].json()["content"]
    assert [c["type"] for c in content] == ["text/plain", "text/calendar; method=REQUEST"]


def test_mailgun_cannot_carry_a_calendar_so_smtp_does(aio):
    with HTTPSink(default=mailgun_reply) as mailgun:
        message = Message("app@example.com", ["user@example.org"], "Planning", text="Join us", calendar=ICS)
        result = stack(f"mailgun://key-1@mg.example.com?endpoint_url={mailgun.url}", aio.url()).send(message)
        assert mailgun.count == 0
    assert result.transport.startswith("smtp://")
    assert "cannot carry a calendar invitation" in str(result.attempts[0].error)


def test_html_only_gets_a_text_part_unless_opted_out(aio):
    html = "<h1>Welcome</h1><p>Your <a href='https://example.com/start'>account</a> is ready.</p>"
    stack(aio.url()).send(Message("app@example.com", ["user@example.org"], "Hi", html=html))
    stack(aio.url()).send(Message("app@example.com", ["user@example.org"], "Hi", html=html, auto_text=False))
    first, second = (parse(m["data"]) for m in aio.handler.messages)
    text = first.get_body(("plain",)).get_content()
    assert "Welcome" in text and "account (https://example.com/start)" in text
    assert second.get_content_type() == "text/html"


def test_relay_headers_never_clash_with_the_senders_own(aio):
    own = {"X-SMTPAPI": '{"asm_group_id": 7}'}
    stack(aio.url(relay="sendgrid")).send(Message("a@example.com", ["b@example.org"], "s", text="t", headers=own))
    assert parse(aio.handler.messages[0]["data"]).get_all("X-SMTPAPI") == ['{"asm_group_id": 7}']
    with pytest.raises(InvalidMessage, match="X-SMTPAPI"):
        stack(aio.url(relay="sendgrid")).send(
            Message("a@example.com", ["b@example.org"], "s", text="t", headers=own, tags=["x"])
        )


def test_an_unfoldable_metadata_value_is_refused_not_mangled(aio):
    message = Message("a@example.com", ["b@example.org"], "s", text="t", metadata={"blob": "x" * 1000})
    with pytest.raises(InvalidMessage, match="without a space"):
        stack(aio.url()).send(message)
    assert aio.handler.messages == []


def test_ses_relay_refuses_tags_ses_cannot_read(aio):
    message = Message("a@example.com", ["b@example.org"], "s", text="t", tags=["has space"])
    with pytest.raises(InvalidMessage, match="SES message tag"):
        stack(aio.url(relay="ses")).send(message)


def test_known_relay_hosts_are_recognised():
    from mailcore_smtp.relay import relay_for_host

    assert relay_for_host("smtp.sendgrid.net") == "sendgrid"
    assert relay_for_host("SMTP.EU.MAILGUN.ORG.") == "mailgun"
    assert relay_for_host("email-smtp.eu-west-1.amazonaws.com") == "ses"
    assert relay_for_host("smtp.example.com") == "neutral"
    assert relay_for_host("smtp.sendgrid.net", "neutral") == "neutral"
