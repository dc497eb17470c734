"""The real path: Django's mail API → mailcore backend → mailcore-smtp → aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
from email.mime.image import MIMEImage

import django
import pytest
from conftest import BACKEND, needs_mailers
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test import override_settings

from mailcore import DeliveryFailed

pytestmark = pytest.mark.usefixtures("smtp_plugin")


@pytest.fixture
def email_settings(mailcore_settings, smtp_sink):
    """Only EMAIL_BACKEND changed: the existing EMAIL_* settings point at the local server."""
    del mailcore_settings.MAILCORE
    mailcore_settings.EMAIL_HOST = smtp_sink.host
    mailcore_settings.EMAIL_PORT = smtp_sink.port
    mailcore_settings.EMAIL_USE_TLS = False
    mailcore_settings.EMAIL_TIMEOUT = 5
    return mailcore_settings


def parsed(received):
    return email.message_from_bytes(received.data, policy=email.policy.default)


def test_send_mail_over_smtp(email_settings, smtp_sink):
    assert mail.send_mail("Über", "Grüße", "from@example.com", ["to@example.com"], html_message="<p>Grüße</p>") == 1
    (got,) = smtp_sink.messages
    assert got.mail_from == "from@example.com" and got.rcpt_tos == ["to@example.com"]
    msg = parsed(got)
    assert msg["Subject"] == "Über"
    assert msg.get_body(("plain",)).get_content().strip() == "Grüße"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Grüße</p>"


def test_send_mass_mail_and_mail_admins_over_smtp(email_settings, smtp_sink):
    data = [("a", "1", None, ["x@example.com"]), ("b", "2", None, ["y@example.com"])]
    assert mail.send_mass_mail(data) == 2
    mail.mail_admins("alert", "details")
    assert [parsed(m)["Subject"] for m in smtp_sink.messages] == ["a", "b", "[Django] alert"]
    assert smtp_sink.messages[2].rcpt_tos == ["admin@example.com"]


def test_email_message_with_bcc_attachment_and_inline_image(email_settings, smtp_sink):
    msg = EmailMultiAlternatives(
        "Report", "see attached", "f@example.com", ["a@example.com"], bcc=["hidden@example.com"]
    )
    msg.attach_alternative('<img src="cid:logo@example.com">', "text/html")
    msg.attach("report.csv", "a,b\n", "text/csv")
    image = MIMEImage(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "png")
    image.add_header("Content-ID", "<logo@example.com>")
    if django.VERSION >= (6, 0):
        with pytest.warns(Warning, match="MIMEBase"):
            msg.attach(image)
    else:
        msg.attach(image)
    assert msg.send() == 1
    (got,) = smtp_sink.messages
    assert sorted(got.rcpt_tos) == ["a@example.com", "hidden@example.com"]
    raw = parsed(got)
    assert raw["Bcc"] is None
    names = {part.get_filename() for part in raw.iter_attachments()}
    assert "report.csv" in names
    assert b"Content-ID: <logo@example.com>" in got.data


def test_plain_email_message_send(email_settings, smtp_sink):
    assert EmailMessage("s", "b", None, ["a@example.com"], headers={"X-Tag": "t1"}).send() == 1
    assert parsed(smtp_sink.messages[0])["X-Tag"] == "t1"


def test_server_down_raises_and_fail_silently_returns_zero(email_settings, smtp_sink):
    from conftest import free_port

    email_settings.EMAIL_PORT = free_port()  # nothing listens there
    email_settings.MAILCORE = {"RETRY": {"attempts": 1}}
    with pytest.raises(DeliveryFailed):
        mail.send_mail("s", "b", "f@example.com", ["a@example.com"])
    assert mail.send_mail("s", "b", "f@example.com", ["a@example.com"], fail_silently=True) == 0


def test_sendtestemail_over_smtp(email_settings, smtp_sink):
    from django.core.management import call_command

    call_command("sendtestemail", "ops@example.com")
    (got,) = smtp_sink.messages
    assert got.rcpt_tos == ["ops@example.com"] and "Test email from" in parsed(got)["Subject"]


@needs_mailers
def test_mailers_with_djangos_smtp_options_over_smtp(smtp_sink):
    options = {"host": smtp_sink.host, "port": smtp_sink.port, "timeout": 5}
    with override_settings(MAILERS={"default": {"BACKEND": BACKEND, "OPTIONS": options}}):
        assert mail.send_mail("via MAILERS", "b", None, ["a@example.com"]) == 1
    assert parsed(smtp_sink.messages[0])["Subject"] == "via MAILERS"


def test_send_mail_per_call_reuses_one_process_wide_session(email_settings, smtp_sink):
    """Django builds a backend per send_mail(); the connection is still opened only once."""
    from mailcore.shared import close_all

    close_all()
    for i in range(5):
        assert mail.send_mail(f"s{i}", "b", "from@example.com", ["to@example.com"]) == 1
    assert len(smtp_sink.messages) == 5
    assert len(set(smtp_sink.peers)) == 1, smtp_sink.peers
    close_all()  # QUIT now rather than at exit
    assert mail.send_mail("after", "b", "from@example.com", ["to@example.com"]) == 1
    assert len(set(smtp_sink.peers)) == 2
