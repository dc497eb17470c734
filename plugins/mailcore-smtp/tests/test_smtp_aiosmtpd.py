"""Against a real aiosmtpd on 127.0.0.1: STARTTLS (trustme CA via cafile) and AUTH."""

import email
import email.policy
import threading

import pytest
import trustme
from smtp_peers import PASSWORD, start_aiosmtpd

from mailcore import Attachment, Mailer, Message
from mailcore.errors import ConnectionFailed, MessageRejected, TransportRejected
from mailcore.testing import TransportContract
from mailcore_smtp.transport import SMTPTransport


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


class TestSMTPContract(TransportContract):
    secrets = (PASSWORD,)

    @pytest.fixture
    def transport(self, aio):
        with SMTPTransport(aio.url()) as transport:
            yield transport

    @pytest.fixture
    def failing_transport(self, aio):
        return SMTPTransport(aio.url(password="wrong-password"))


def test_received_bytes_are_intact(aio):
    pdf = bytes(range(256)) * 40
    message = Message(
        ("Zoë Ångström", "zoe@example.com"),
        [("Jürgen Groß", "jurgen@example.org"), "plain@example.org"],
        "Grüße — résumé attached ✓",
        text="Hallo Jürgen,\n.leading dot line\nbye",
        html="<p>Hallo <b>Jürgen</b></p>",
        cc=["cc@example.org"],
        bcc=["hidden@example.org"],
        reply_to=["replies@example.com"],
        headers={"X-Campaign": "spring-2025"},
        attachments=[Attachment("résumé.pdf", pdf, "application/pdf")],
    )
    result = SMTPTransport(aio.url()).send(message)
    assert result.provider_message_id == "Q1"
    [got] = aio.handler.messages
    assert got["tls"] is True
    assert got["mail_from"] == "zoe@example.com"
    assert got["rcpt_tos"] == ["jurgen@example.org", "plain@example.org", "cc@example.org", "hidden@example.org"]
    parsed = parse(got["data"])
    assert parsed["Subject"] == "Grüße — résumé attached ✓"
    assert parsed["From"].addresses[0].display_name == "Zoë Ångström"
    assert parsed["To"].addresses[0].display_name == "Jürgen Groß"
    assert parsed["Message-ID"] == message.message_id
    assert parsed["X-Campaign"] == "spring-2025"
    assert parsed["Reply-To"] == "replies@example.com"
    assert "Bcc" not in parsed and b"hidden@example.org" not in got["data"]
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain.rstrip("\n") == "Hallo Jürgen,\n.leading dot line\nbye"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hallo <b>Jürgen</b></p>"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "résumé.pdf"
    assert attachment.get_content() == pdf


def test_smtputf8_used_when_offered(aio):
    message = Message("sender@example.com", ["用户@例子.广告"], "utf8", text="hi")
    SMTPTransport(aio.url()).send(message)
    [got] = aio.handler.messages
    assert got["rcpt_tos"] == ["用户@例子.广告"]
    assert "SMTPUTF8" in got["options"]


def test_idn_domain_as_a_label_and_utf8_local_part_refused_without_smtputf8(server_context, cafile):
    server = start_aiosmtpd(server_context, cafile, enable_SMTPUTF8=False)
    try:
        transport = SMTPTransport(server.url())
        transport.send(Message("sender@example.com", ["info@bücher.example"], "idn", text="hi"))
        assert server.handler.messages[0]["rcpt_tos"] == ["info@xn--bcher-kva.example"]
        with pytest.raises(MessageRejected, match="SMTPUTF8"):
            transport.send(Message("sender@example.com", ["jürgen@example.org"], "utf8", text="hi"))
        assert len(server.handler.messages) == 1
    finally:
        server.controller.stop()


def test_untrusted_ca_is_refused_and_nothing_sent(aio, tmp_path):
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    transport = SMTPTransport(aio.url(cafile=str(other)))
    with pytest.raises(TransportRejected, match="certificate") as caught:
        transport.send(Message("a@example.com", ["b@example.org"], "x", text="x"))
    assert "never turned off" in str(caught.value)
    assert aio.handler.auth_attempts == 0 and aio.handler.messages == []


def test_certificate_for_another_name_is_refused(aio):
    url = aio.url().replace("127.0.0.1", "127.0.0.2")  # loopback too, but not in the certificate
    with pytest.raises((TransportRejected, ConnectionFailed)):
        SMTPTransport(url + "&timeout=3").send(Message("a@example.com", ["b@example.org"], "x", text="x"))
    assert aio.handler.messages == []


def test_wrong_password_is_transport_rejected_without_secret(aio):
    with pytest.raises(TransportRejected) as caught:
        SMTPTransport(aio.url(password="not-the-password")).send(
            Message("a@example.com", ["b@example.org"], "x", text="x")
        )
    assert caught.value.transport.startswith("smtp://***:***@127.0.0.1")
    assert "not-the-password" not in str(caught.value) and "not-the-password" not in repr(caught.value.response)


def test_fifty_messages_in_one_mailer_use_one_session(aio):
    with Mailer(aio.url()) as mailer:
        for i in range(50):
            mailer.send(Message("a@example.com", [f"r{i}@example.org"], f"n{i}", text="x"))
    assert len(aio.handler.messages) == 50
    assert aio.session_count == 1
    assert len({m["session"] for m in aio.handler.messages}) == 1


def test_without_open_each_send_has_its_own_session(aio):
    transport = SMTPTransport(aio.url())
    for i in range(3):
        transport.send(Message("a@example.com", [f"r{i}@example.org"], "x", text="x"))
    assert aio.session_count == 3


def test_max_messages_per_session(aio):
    with SMTPTransport(aio.url(max_messages="10")) as transport:
        for i in range(25):
            transport.send(Message("a@example.com", [f"r{i}@example.org"], "x", text="x"))
    assert aio.session_count == 3


def test_pool_threads_use_separate_sessions(aio):
    messages = [Message("a@example.com", [f"r{i}@example.org"], f"n{i}", text="x") for i in range(40)]
    transport = SMTPTransport(aio.url(pool="4"))
    results = transport.send_many(messages, concurrency=4)
    assert all(r.transport == transport.name for r in results)
    assert len(aio.handler.messages) == 40
    assert 1 <= aio.session_count <= 4
    assert [r.message_id for r in results] == [m.message_id for m in messages]


def test_concurrent_sends_from_threads(aio):
    transport = SMTPTransport(aio.url(pool="3"))
    errors = []

    def worker(n):
        try:
            for i in range(10):
                transport.send(Message("a@example.com", [f"t{n}-{i}@example.org"], "x", text="x"))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    with transport:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(aio.handler.messages) == 30
    assert aio.session_count <= 3


def test_mailer_from_gmail_style_url_needs_tls(aio):
    # STARTTLS required explicitly on loopback: the real server offers it, so this works
    result = SMTPTransport(aio.url(tls="starttls")).send(Message("a@example.com", ["b@example.org"], "x", text="x"))
    assert result.provider_message_id


def test_check_reports_each_step_without_sending(aio):
    steps = list(SMTPTransport(aio.url()).check())
    names = [s.name for s in steps]
    assert names[0] == "settings"
    assert any(n.startswith("TCP 127.0.0.1") for n in names)
    for expected in ("greeting", "EHLO", "STARTTLS", "EHLO after TLS", "AUTH"):
        assert expected in names
    assert all(s.ok for s in steps), steps
    tls = next(s for s in steps if s.name == "STARTTLS")
    assert "certificate verified" in tls.detail and "expires" in tls.detail and "issuer" in tls.detail
    assert aio.handler.messages == []
    assert all(PASSWORD not in f"{s.detail} {s.hint}" for s in steps)


def test_check_shows_bad_password_with_hint(aio):
    steps = list(SMTPTransport(aio.url(password="wrong-pass")).check())
    assert steps[-1].name == "AUTH" and not steps[-1].ok
    assert "app password" in steps[-1].hint
    assert all("wrong-pass" not in f"{s.detail} {s.hint}" for s in steps)


def test_check_untrusted_certificate_hint(aio, tmp_path):
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    steps = list(SMTPTransport(aio.url(cafile=str(other))).check())
    assert steps[-1].name == "STARTTLS" and not steps[-1].ok
    assert "cafile" in steps[-1].hint


def test_smtps_implicit_tls_send_and_check(server_context, cafile):
    from aiosmtpd.controller import Controller
    from smtp_peers import AioServer, Authenticator, RecordingHandler, free_port

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, ssl_context=server_context, server_hostname="127.0.0.1",
        authenticator=Authenticator(handler), auth_require_tls=False,  # aiosmtpd: implicit TLS is not "tls" to it
    )  # fmt: skip
    controller.start()
    try:
        server = AioServer(controller, handler, cafile, port)
        transport = SMTPTransport(server.url(scheme="smtps"))
        assert transport.settings.tls == "implicit"
        transport.send(Message("a@example.com", ["b@example.org"], "x", text="x"))
        steps = list(transport.check())
        assert [s.name for s in steps if s.name.startswith("TLS")] == ["TLS handshake"]
        assert all(s.ok for s in steps), steps
    finally:
        controller.stop()


def test_idle_session_is_probed_with_noop(aio, monkeypatch):
    import mailcore_smtp.transport as module

    monkeypatch.setattr(module, "IDLE_PROBE", 0.0)
    with SMTPTransport(aio.url()) as transport:
        for i in range(3):
            transport.send(Message("a@example.com", [f"r{i}@example.org"], "x", text="x"))
    assert aio.session_count == 1 and len(aio.handler.messages) == 3
