"""End to end through boto3 against moto's server mode on 127.0.0.1, messages read back."""

from __future__ import annotations

import email
import email.policy
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from mailcore import Attachment, Mailer, Message
from mailcore.errors import TransportRejected
from mailcore.testing import TransportContract
from mailcore_ses.transport import SesTransport

REGION = "eu-west-1"


class TestSesContractOnMoto(TransportContract):
    @pytest.fixture
    def transport(self, moto):
        with SesTransport(region=REGION, endpoint_url=moto.endpoint, timeout=5) as transport:
            yield transport

    @pytest.fixture
    def failing_transport(self, closed_port):
        return SesTransport(region=REGION, endpoint_url=f"http://127.0.0.1:{closed_port}", timeout=2)

    def unsupported_message(self):
        return Message("sender@example.com", ["r@example.org"], "s", text="ours", template_id="welcome")


def read_back(moto, result):
    raw = moto.sent(result.provider_message_id)
    return raw, email.message_from_string(raw["raw_data"], policy=email.policy.default)


def test_every_mapped_field_arrives_at_moto(moto):
    message = Message(
        from_email="Sénder Name <sender@example.com>",
        to=["To One <to1@example.org>"],
        cc=["cc@example.org"],
        bcc=["hidden@example.net"],
        reply_to=["reply@example.com"],
        subject="Grüße ✓",
        text="plain body",
        html='<p>html <img src="cid:logo@example.com"></p>',
        attachments=[
            Attachment("report.pdf", b"%PDF-1.4 fake", "application/pdf"),
            Attachment("logo.png", b"\x89PNG fake", "image/png", inline=True, content_id="logo@example.com"),
        ],
        headers={"X-Campaign": "spring"},
    )
    with Mailer(moto.url(timeout="5")) as mailer:
        result = mailer.send(message)
    raw, parsed = read_back(moto, result)
    assert raw["source"] == "sender@example.com"
    assert {"to1@example.org", "cc@example.org", "hidden@example.net"} <= set(raw["destinations"])
    assert parsed["From"] == "Sénder Name <sender@example.com>"
    assert parsed["To"] == "To One <to1@example.org>"
    assert parsed["Cc"] == "cc@example.org"
    assert parsed["Bcc"] is None, "Bcc must travel in the envelope only"
    assert parsed["Reply-To"] == "reply@example.com"
    assert parsed["Subject"] == "Grüße ✓"
    assert parsed["X-Campaign"] == "spring"
    assert parsed["X-Mailcore-ID"] == message.correlation_id
    assert parsed.get_body(("plain",)).get_content().strip() == "plain body"
    assert "cid:logo@example.com" in parsed.get_body(("html",)).get_content()
    attachments = {part.get_filename(): part.get_content() for part in parsed.iter_attachments()}
    assert attachments["report.pdf"] == b"%PDF-1.4 fake"
    inline = [p for p in parsed.walk() if p["Content-ID"] == "<logo@example.com>"]
    assert inline[0].get_content() == b"\x89PNG fake"
    assert result.transport.startswith("ses://?region=eu-west-1")


def test_unverified_sender_is_a_transport_problem(moto):
    transport = SesTransport(region=REGION, endpoint_url=moto.endpoint, timeout=5)
    with pytest.raises(TransportRejected) as caught:
        transport.send(Message("someone@unverified.example", ["r@example.org"], "s", text="t"))
    assert caught.value.transport == transport.name
    assert caught.value.response["code"] == "MessageRejected"


def test_one_client_is_shared_by_many_threads(moto, monkeypatch):
    created = []
    real_client = boto3.session.Session.client

    def counting_client(self, *args, **kwargs):
        created.append(threading.get_ident())
        return real_client(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting_client)
    transport = SesTransport(region=REGION, endpoint_url=moto.endpoint, timeout=5)
    messages = [Message("sender@example.com", [f"r{i}@example.org"], f"n{i}", text="t") for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(transport.send, messages))
    assert len({r.provider_message_id for r in results}) == 24
    assert len(created) == 1
    for message, result in zip(messages, results, strict=True):
        assert read_back(moto, result)[1]["Subject"] == message.subject
    transport.close()


ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailcore//test//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    "UID:1@example.com\r\nDTSTAMP:20260101T090000Z\r\nSUMMARY:Planning\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_transport_lacking_the_calendar_is_skipped_and_ses_delivers_the_invitation(moto):
    from mailcore.capabilities import CannotCarry

    message = Message(
        "sender@example.com", ["r@example.org"], "Planning", text="Join us", calendar=ICS, tags=["invite"]
    )
    mailer = Mailer(["memory://no-calendar?lacks=calendar", moto.url()], retry=None, breaker=None)
    result = mailer.send(message)
    assert isinstance(result.attempts[0].error, CannotCarry) and "calendar invitation" in str(result.attempts[0].error)
    assert result.transport.startswith("ses://")
    _, parsed = read_back(moto, result)
    parts = {part.get_content_type(): part for part in parsed.walk()}
    assert parts["text/calendar"].get_param("method") == "REQUEST"
    assert "SUMMARY:Planning" in parts["text/calendar"].get_content()


def test_a_message_with_an_envelope_sender_goes_through_ses_not_skipped(moto):
    """SES declares ``envelope_sender``: bounces are forwarded to it (FeedbackForwardingEmailAddress),
    so a message with ``envelope_from`` is delivered by SES rather than skipped as uncarriable."""
    message = Message("sender@example.com", ["r@example.org"], "Bounce here", text="t", envelope_from="b@example.com")
    mailer = Mailer([moto.url()], retry=None, breaker=None)
    result = mailer.send(message)
    assert result.transport.startswith("ses://") and len(result.attempts) == 1
    assert read_back(moto, result)[1]["Subject"] == "Bounce here"
