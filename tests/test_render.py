"""The fast renderer's output, read back by the stdlib parser."""

import email
import email.policy

import pytest

from mailcore import Attachment, Message
from mailcore.errors import InvalidMessage
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
    assert parsed.get_content() == "line 1\nline 2"  # exactly as given: no line break added


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


def lines_fit(raw: bytes, limit: int = 998) -> bool:
    return max(len(line) for line in raw.split(b"\r\n")) <= limit


def decoded_phrase(value: str) -> str:
    """RFC 2047 reading of a header value: white space between adjacent encoded words is dropped
    (the stdlib's address parser keeps it, so long names are compared through this)."""
    from email.header import decode_header, make_header

    return str(make_header(decode_header(value)))


def test_attachment_only_message_is_mixed_with_just_the_files():
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "Files",
        attachments=[Attachment("a.csv", b"x,y\n1,2\n"), Attachment("logo.png", b"\x89PNG", inline=True)],
    )
    parsed = parse(render(message))
    assert parsed.get_content_type() == "multipart/mixed"
    logo, csv = parsed.get_payload()  # with no body to relate to, inline parts come first
    assert (csv.get_filename(), csv.get_payload(decode=True)) == ("a.csv", b"x,y\n1,2\n")
    assert csv.get_content_disposition() == "attachment"
    assert logo.get_content_disposition() == "inline" and logo["Content-ID"] == f"<{message.attachments[1].content_id}>"
    assert parsed.get_body(("plain", "html")) is None
    assert not parsed.defects and not csv.defects


def test_template_only_message_has_an_empty_text_part():
    message = Message("s@example.com", ["r@example.org"], "Welcome", template_id="welcome-v2")
    raw = render(message)
    parsed = parse(raw)
    assert parsed.get_content_type() == "text/plain" and parsed.get_content() == ""
    assert parsed["Subject"] == "Welcome" and parsed["Message-ID"] == message.message_id
    assert b"welcome-v2" not in raw  # the template id is for the provider's API, not a header
    with_file = parse(render(message.replace(attachments=[Attachment("terms.pdf", b"%PDF")])))
    assert with_file.get_content_type() == "multipart/mixed"
    assert [part.get_filename() for part in with_file.get_payload()] == ["terms.pdf"]


@pytest.mark.parametrize(
    "filename", ["r" * 1200 + ".txt", "отчёт-за-квартал " * 40 + ".pdf", 'quote " and \\ backslash ' * 40]
)
def test_long_attachment_names_use_continuations_and_round_trip(filename):
    raw = render(Message("s@example.com", ["r@example.org"], "s", attachments=[Attachment(filename, b"x")]))
    assert raw.isascii() and lines_fit(raw)
    attachment = next(parse(raw).iter_attachments())
    assert attachment.get_filename() == filename.strip()  # the stdlib strips it
    assert attachment.get_param("name") == filename


@pytest.mark.parametrize("smtputf8", [False, True])
@pytest.mark.parametrize(
    "name", ["Zoë, Müller (Ops) <x>", 'Ünï "quoted" \\ name', "=?utf-8?q?ceo@bank.example?=", "Name " * 40]
)
def test_display_names_with_specials_round_trip(name, smtputf8):
    raw = render(Message((name, "a@example.com"), ["r@example.org"], "s", text="x"), smtputf8=smtputf8)
    assert lines_fit(raw, 78)
    if not smtputf8:
        assert raw.isascii()
    from_value = raw.split(b"\r\nTo:")[0].decode("utf-8")[len("From: ") :].replace("\r\n", "")
    if "=?" in from_value:  # encoded words: a decoder must give back the exact name
        assert decoded_phrase(from_value.rpartition(" <")[0]) == name.strip()
    else:
        assert (
            email.message_from_string(f"From: {from_value}\n\n", policy=email.policy.default)["From"]
            .addresses[0]
            .display_name
            == name.strip()
        )


def test_header_values_with_tabs_and_very_long_values_round_trip():
    headers = {"X-Tabbed": "a\tb\t c", "X-Token": "t" * 3000, "X-Words": " ".join(["wörd"] * 300)}
    raw = render(Message("s@example.com", ["r@example.org"], "tab\there", text="x", headers=headers))
    assert raw.isascii() and lines_fit(raw)
    parsed = parse(raw)
    assert parsed["Subject"] == "tab\there"
    for name, value in headers.items():
        assert parsed[name] == value


# -- issue 14: what Django (and the stdlib) deliver ---------------------------------------------


def test_single_part_body_ends_exactly_as_given():
    raw = render(Message("s@example.com", ["r@example.org"], "x", text="Content\n"))
    assert raw.endswith(b"\r\n\r\nContent\r\n")
    assert parse(raw).get_content() == "Content\n"
    multi = parse(render(Message("s@example.com", ["r@example.org"], "x", text="Content\n", html="<p>x</p>\n")))
    assert multi.get_body(("plain",)).get_content() == "Content\n"
    assert multi.get_body(("html",)).get_content() == "<p>x</p>\n"


def test_text_attachment_carries_utf8_charset_and_other_bytes_become_octet_stream():
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "x",
        text="t",
        attachments=[
            Attachment("note.txt", "Grüße – €\n", "text/plain"),
            Attachment("latin1.txt", "Grüße".encode("latin-1"), "text/plain"),
        ],
    )
    note, latin = parse(render(message)).iter_attachments()
    assert note["Content-Type"].params["charset"] == "utf-8"
    assert note.get_content() == "Grüße – €\n"
    assert latin.get_content_type() == "application/octet-stream"
    assert latin.get_content() == "Grüße".encode("latin-1")


def test_rfc822_attachment_is_not_base64_encoded():
    inner = b"From: a@example.com\nSubject: inner\n\nforwarded body\n"
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "fwd",
        text="t",
        attachments=[Attachment("fwd.eml", inner, "message/rfc822")],
    )
    raw = render(message)
    assert b"Content-Transfer-Encoding: 7bit" in raw and b"forwarded body\r\n" in raw
    [part] = parse(raw).iter_attachments()
    forwarded = part.get_content()
    assert forwarded["Subject"] == "inner" and forwarded.get_content() == "forwarded body\n"


def test_custom_address_headers_are_written_as_addresses():
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "x",
        text="t",
        headers={"Sender": "Zoë Ångström <zoe@bücher.example>", "Resent-To": '"Doe, J" <j@example.org>, k@example.org'},
    )
    parsed = parse(render(message))
    [sender] = parsed["Sender"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Zoë Ångström", "zoe@xn--bcher-kva.example")
    assert [a.addr_spec for a in parsed["Resent-To"].addresses] == ["j@example.org", "k@example.org"]
    assert parsed["Resent-To"].addresses[0].display_name == "Doe, J"
    with pytest.raises(InvalidMessage, match="Sender"):
        Message("s@example.com", ["r@example.org"], "x", text="t", headers={"Sender": "not an address"})


def test_date_is_numeric_utc_and_a_given_date_header_is_kept():
    raw = render(Message("s@example.com", ["r@example.org"], "x", text="t"))
    assert parse(raw)["Date"].endswith("+0000") and b"GMT" not in raw
    given = "Mon, 30 Nov 2026 20:00:00 +0100"
    dated = render(Message("s@example.com", ["r@example.org"], "x", text="t", headers={"Date": given}))
    assert dated.count(b"Date: ") == 1 and parse(dated)["Date"] == given
    with pytest.raises(InvalidMessage, match="RFC 5322 date"):
        Message("s@example.com", ["r@example.org"], "x", text="t", headers={"Date": "yesterday"})


def test_attachment_without_a_filename_gets_none_invented():
    message = Message(
        "s@example.com",
        ["r@example.org"],
        "x",
        html='<img src="cid:logo@x">',
        attachments=[Attachment(None, b"GIF89a", "image/gif", inline=True, content_id="logo@x")],
    )
    raw = render(message)
    assert b"filename" not in raw and b"name=" not in raw
    assert message.attachments[0].api_filename == "logo.gif"


def test_charset_writes_the_bodies_in_it():
    message = Message(
        "s@example.com", ["r@example.org"], "x", text="Sürname\n", html="<p>Sürname</p>", charset="ISO-8859-1"
    )
    raw = render(message)
    parsed = parse(raw)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain["Content-Type"].params["charset"] == "iso-8859-1"
    assert plain.get_content() == "Sürname\n" and html.get_content() == "<p>Sürname</p>"
    assert b"S=FCrname" in raw  # the latin-1 byte, quoted-printable
    with pytest.raises(InvalidMessage, match="cannot be written in"):
        message.replace(text="€")
    with pytest.raises(InvalidMessage, match="ASCII-compatible"):
        message.replace(charset="utf-16")
