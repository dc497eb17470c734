"""The fast renderer's output, read back by the stdlib parser."""

import email
import email.policy

import pytest

from mailcore import Attachment, Message
from mailcore.render import render


def parse(raw: bytes):
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)


def test_text_only_message_renders_required_headers():
    message = Message("Sender <s@example.com>", ["r@example.org"], "Hello", text="line 1\nline 2")
    parsed = parse(render(message))
    assert parsed["From"] == "Sender <s@example.com>"
    assert parsed["To"] == "r@example.org"
    assert parsed["Subject"] == "Hello"
    assert parsed["Message-ID"] == message.message_id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Date"]
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == "line 1\nline 2\n"


def test_bcc_never_appears_in_headers():
    message = Message("s@example.com", ["r@example.org"], "Hi", text="x", bcc=["hidden@example.org"])
    assert b"hidden@example.org" not in render(message)


def test_non_ascii_names_subject_and_body_survive():
    message = Message(
        "Jürgen Groß <j@example.com>",
        ["Zoë Ñandú <zoe@exämple.org>", '"Doe, John" <john@example.org>'],
        "Grüße aus Köln – 東京 " * 4,
        text="Schöne Grüße 🙂\n" + "x" * 1200,
        html="<p>Grüße</p>",
    )
    raw = render(message)
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = parse(raw)
    assert parsed["Subject"] == "Grüße aus Köln – 東京 " * 4
    assert parsed["From"].addresses[0].display_name == "Jürgen Groß"
    to = parsed["To"].addresses
    assert to[0].display_name == "Zoë Ñandú" and to[0].domain == "xn--exmple-cua.org"
    assert to[1].display_name == "Doe, John"
    plain = parsed.get_body(("plain",)).get_content()
    assert plain.startswith("Schöne Grüße 🙂\n") and "x" * 1200 in plain
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Grüße</p>"


def test_smtputf8_keeps_utf8_addresses():
    message = Message("s@example.com", ["zoë@exämple.org"], "Hi", text="x")
    assert "zoë@exämple.org".encode() in render(message, smtputf8=True)


def test_alternatives_attachments_and_inline_images_have_the_right_structure():
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "Report",
        text="see attached",
        html='<p><img src="cid:logo@example.com"></p>',
        attachments=[
            Attachment("report.pdf", bytes(range(256)) * 10),
            Attachment("logo.png", b"\x89PNG\r\n", inline=True, content_id="logo@example.com"),
            Attachment("naïve résumé.txt", "ünïcode"),
        ],
        headers={"X-Campaign": "spring", "X-Note": "Ünïcode value"},
    )
    parsed = parse(render(message))
    assert parsed.get_content_type() == "multipart/mixed"
    related, pdf, text_file = parsed.get_payload()
    assert related.get_content_type() == "multipart/related"
    alternative, logo = related.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert logo["Content-ID"] == "<logo@example.com>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_payload(decode=True) == b"\x89PNG\r\n"
    assert pdf.get_filename() == "report.pdf"
    assert pdf.get_payload(decode=True) == bytes(range(256)) * 10
    assert text_file.get_filename() == "naïve résumé.txt"
    assert parsed["X-Campaign"] == "spring"
    assert parsed["X-Note"] == "Ünïcode value"


def test_long_ascii_subject_is_folded_and_unfolds_identically():
    subject = " ".join(f"word{i}" for i in range(60))
    raw = render(Message("s@example.com", ["r@example.org"], subject, text="x"))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert parse(raw)["Subject"] == subject


@pytest.mark.parametrize(
    "body", ["a\r\nb\rc\n", "trailing spaces   \nnext", "=?utf-8?q?x?= literal", ".\n.leading dot"]
)
def test_body_edge_cases_round_trip(body):
    parsed = parse(render(Message("s@example.com", ["r@example.org"], "s", text=body)))
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    assert parsed.get_content().rstrip("\n") == expected.rstrip("\n")
