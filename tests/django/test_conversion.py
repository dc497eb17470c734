"""Django EmailMessage / EmailMultiAlternatives → mailcore.Message (pure, nothing sent)."""

from __future__ import annotations

import email.message
from email.mime.image import MIMEImage

import django
import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import BadHeaderError
from django.utils.translation import gettext_lazy

from mailcore import InvalidMessage
from mailcore.adapters.django import InvalidEmailMessage, to_message

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def convert(msg, default_from="webmaster@example.com", site="webmaster@example.com"):
    return to_message(msg, default_from, site_default_from=site)


def test_plain_message_fields():
    msg = EmailMessage(
        "Hello", "Body", "Sender <from@example.com>", ["a@example.com"],
        cc=["c@example.com"], bcc=["b@example.com"], reply_to=["r@example.com"],
    )  # fmt: skip
    out = convert(msg)
    assert out.from_email.email == "from@example.com" and out.from_email.name == "Sender"
    assert [a.email for a in out.to] == ["a@example.com"]
    assert [a.email for a in out.cc] == ["c@example.com"]
    assert [a.email for a in out.bcc] == ["b@example.com"]
    assert [a.email for a in out.reply_to] == ["r@example.com"]
    assert (out.subject, out.text, out.html) == ("Hello", "Body", None)


def test_lazy_translation_strings_are_forced():
    msg = EmailMessage(gettext_lazy("Subject"), gettext_lazy("Body"), None, [gettext_lazy("a@example.com")])
    out = convert(msg)
    assert (out.subject, out.text) == ("Subject", "Body")
    assert out.to[0].email == "a@example.com"


def test_from_none_uses_default_and_backend_sender_overrides_site_default():
    msg = EmailMessage("s", "b", None, ["a@example.com"])  # Django fills DEFAULT_FROM_EMAIL in
    assert convert(msg).from_email.email == "webmaster@example.com"
    assert convert(msg, default_from="noreply@example.org").from_email.email == "noreply@example.org"
    chosen = EmailMessage("s", "b", "me@example.com", ["a@example.com"])
    assert convert(chosen, default_from="noreply@example.org").from_email.email == "me@example.com"


def test_html_alternative_and_attachment():
    msg = EmailMultiAlternatives("s", "text body", "f@example.com", ["a@example.com"])
    msg.attach_alternative("<p>html</p>", "text/html")
    msg.attach("report.csv", "a,b\n1,2\n", "text/csv")
    msg.attach("data.bin", b"\x00\x01", None)
    out = convert(msg)
    assert (out.text, out.html) == ("text body", "<p>html</p>")
    csv, binary = out.attachments
    assert (csv.filename, csv.content, csv.mimetype, csv.inline) == ("report.csv", b"a,b\n1,2\n", "text/csv", False)
    assert (binary.filename, binary.content, binary.mimetype) == ("data.bin", b"\x00\x01", "application/octet-stream")


def test_html_only_message():
    msg = EmailMessage("s", "<b>hi</b>", "f@example.com", ["a@example.com"])
    msg.content_subtype = "html"
    out = convert(msg)
    assert (out.text, out.html) == (None, "<b>hi</b>")


def test_empty_body_with_html_alternative_sends_html_only():
    msg = EmailMultiAlternatives("s", "", "f@example.com", ["a@example.com"], alternatives=[("<i>x</i>", "text/html")])
    assert (convert(msg).text, convert(msg).html) == (None, "<i>x</i>")


def test_inline_image_with_content_id():
    msg = EmailMultiAlternatives("s", "t", "f@example.com", ["a@example.com"])
    msg.attach_alternative('<img src="cid:logo@example.com">', "text/html")
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo@example.com>")
    with pytest.warns(Warning) if _warns_on_mimebase() else _nothing():
        msg.attach(image)
    (att,) = convert(msg).attachments
    assert (att.inline, att.content_id, att.mimetype, att.content) == (True, "logo@example.com", "image/png", PNG)
    assert att.filename == "" and att.api_filename == "logo.png"  # none invented (issue 14)


@pytest.mark.skipif(django.VERSION < (6, 0), reason="MIMEPart attachments are new in Django 6.0")
def test_mimepart_attachment_django6_style():
    part = email.message.MIMEPart()
    part.set_content(b"%PDF-1.4", maintype="application", subtype="pdf", disposition="attachment", filename="a.pdf")
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"], attachments=[part])
    (att,) = convert(msg).attachments
    assert (att.filename, att.content, att.mimetype, att.inline) == ("a.pdf", b"%PDF-1.4", "application/pdf", False)


def test_attached_email_message_rfc822():
    inner = EmailMessage("inner", "inner body", "x@example.com", ["y@example.com"])
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"])
    msg.attach("fwd.eml", inner, "message/rfc822")
    (att,) = convert(msg).attachments
    assert att.mimetype == "message/rfc822" and b"inner body" in att.content


def test_headers_reply_to_message_id_and_custom():
    msg = EmailMessage(
        "s", "t", "f@example.com", ["a@example.com"], reply_to=["ignored@example.com"],
        headers={"Reply-To": "Help <help@example.com>, b@example.com", "Message-ID": "<abc@example.com>",
                 "X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.com>"},
    )  # fmt: skip
    out = convert(msg)
    assert [(a.name, a.email) for a in out.reply_to] == [("Help", "help@example.com"), ("", "b@example.com")]
    assert out.message_id == "<abc@example.com>"
    assert dict(out.headers) == {"X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.com>"}


@pytest.mark.parametrize(
    "reply_to",
    ["alice@example.org)<bob@example.org>", "alice@example.org, <bob@example.org", '"a" b <x@example.org>',
     "=?UTF-8?Q? =0D=0ABcc:_attacker@evil.example?= <x@example.org>"],
)  # fmt: skip
def test_reply_to_header_uses_the_strict_parser(reply_to):
    """Issue 13 finding 8: the stdlib's lax getaddresses made two reply-to addresses of these."""
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"], headers={"Reply-To": reply_to})
    with pytest.raises(InvalidEmailMessage, match="Reply-To"):
        convert(msg)


def test_reply_to_header_keeps_quoted_commas():
    msg = EmailMessage(
        "s",
        "t",
        "f@example.com",
        ["a@example.com"],
        headers={"Reply-To": '"Desk, Help" <h@example.com>, b@example.com'},
    )
    assert [(a.name, a.email) for a in convert(msg).reply_to] == [
        ("Desk, Help", "h@example.com"),
        ("", "b@example.com"),
    ]


@pytest.mark.parametrize(
    "value", ["=?UTF-8?Q? =0D=0ABcc:_attacker@evil.example?= hi", "=??Q?=0A?=", "=?x-unknown?Q?a?="]
)
def test_encoded_word_bypasses_are_refused_in_subject_and_headers(value):
    with pytest.raises(InvalidEmailMessage, match="subject"):
        convert(EmailMessage(value, "t", "f@example.com", ["a@example.com"]))
    with pytest.raises(InvalidEmailMessage, match="X-Note"):
        convert(EmailMessage("s", "t", "f@example.com", ["a@example.com"], headers={"X-Note": value}))


def test_address_headers_use_the_strict_parser():
    for field in ("to", "cc", "bcc", "reply_to"):
        msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"])
        setattr(msg, field, ["alice@example.org)<bob@example.org>"])
        with pytest.raises(InvalidEmailMessage):
            convert(msg)
    with pytest.raises(InvalidEmailMessage):
        convert(EmailMessage("s", "t", "f@example.com", ["u@a，evil＠attacker.com"]))


def test_from_header_sets_visible_sender():
    msg = EmailMessage("s", "t", "bounce@example.com", ["a@example.com"], headers={"From": "Shop <shop@example.com>"})
    assert convert(msg).from_email.email == "shop@example.com"


def test_newline_in_header_raises_like_django():
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"], headers={"X-Evil": "a\r\nBcc: x@example.com"})
    with pytest.raises(BadHeaderError) as caught:
        convert(msg)
    assert isinstance(caught.value, InvalidMessage) and isinstance(caught.value, ValueError)
    assert "X-Evil" in str(caught.value)


def test_newline_in_subject_raises_invalid_email_message():
    msg = EmailMessage("Hi\nBcc: x@example.com", "t", "f@example.com", ["a@example.com"])
    with pytest.raises(InvalidEmailMessage, match="subject"):
        convert(msg)


def test_bcc_header_is_refused_as_django_refuses_it():
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"], headers={"Bcc": "x@example.com"})
    with pytest.raises(ValueError, match="Bcc"):
        convert(msg)


def test_unsupported_alternative_is_refused_not_dropped():
    msg = EmailMultiAlternatives("s", "t", "f@example.com", ["a@example.com"])
    msg.attach_alternative("<amp>", "text/x-amp-html")
    with pytest.raises(InvalidEmailMessage, match="x-amp-html"):
        convert(msg)


def test_anymail_style_tags_and_metadata():
    msg = EmailMessage("s", "t", "f@example.com", ["a@example.com"])
    msg.tags = ["welcome"]
    msg.metadata = {"user_id": 42}
    out = convert(msg)
    assert out.tags == ("welcome",) and dict(out.metadata) == {"user_id": "42"}


def _warns_on_mimebase() -> bool:
    return django.VERSION >= (6, 0)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# -- issue 14: Django's own semantics ---------------------------------------------------------


def test_from_header_override_keeps_from_email_as_the_envelope_sender():
    msg = EmailMessage(
        "s", "b", "bounces+123@shop.example", ["a@example.com"], headers={"From": "Shop <shop@shop.example>"}
    )
    message = convert(msg)
    assert (message.from_email.name, message.from_email.email) == ("Shop", "shop@shop.example")
    assert message.envelope_from is not None and message.envelope_from.email == "bounces+123@shop.example"
    same = convert(
        EmailMessage("s", "b", "shop@shop.example", ["a@example.com"], headers={"From": "Shop <shop@shop.example>"})
    )
    assert same.envelope_from is None


def test_encoding_becomes_the_body_charset():
    msg = EmailMessage("s", "Sürname", "f@example.com", ["a@example.com"])
    msg.encoding = "iso-8859-1"
    assert convert(msg).charset == "iso-8859-1"
    msg.body = "€ is not in latin-1"
    with pytest.raises(InvalidEmailMessage, match="iso-8859-1"):
        convert(msg)
    msg.encoding = "utf-8"
    assert convert(msg).charset is None


def test_date_header_and_localtime():
    msg = EmailMessage(
        "s", "b", "f@example.com", ["a@example.com"], headers={"Date": "Fri, 09 Nov 2001 01:08:47 -0000"}
    )
    assert convert(msg).headers["Date"] == "Fri, 09 Nov 2001 01:08:47 -0000"
    local = to_message(EmailMessage("s", "b", "f@example.com", ["a@example.com"]), "f@example.com", localtime=True)
    assert "Date" in local.headers


def test_custom_sender_header_is_an_address_header():
    msg = EmailMessage("s", "b", "f@example.com", ["a@example.com"], headers={"Sender": "Zoë <z@example.com>"})
    assert convert(msg).headers["Sender"] == "Zoë <z@example.com>"
    with pytest.raises(InvalidEmailMessage):
        convert(EmailMessage("s", "b", "f@example.com", ["a@example.com"], headers={"Sender": "nobody"}))


ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_calendar_alternative_becomes_the_invitation():
    msg = EmailMultiAlternatives("Planning", "Join us", "f@example.com", ["a@example.com"])
    msg.attach_alternative(ICS, "text/calendar")
    message = to_message(msg, "default@example.com")
    assert message.text == "Join us" and message.calendar is not None
    assert message.calendar.method == "REQUEST" and "UID:1@x" in message.calendar.ics


def test_calendar_alternative_method_parameter_must_match_the_ics():
    msg = EmailMultiAlternatives("Planning", "Join us", "f@example.com", ["a@example.com"])
    msg.attach_alternative(ICS, "text/calendar; method=CANCEL")
    with pytest.raises(InvalidMessage, match="METHOD:REQUEST"):
        to_message(msg, "default@example.com")
