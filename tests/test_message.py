import json

import pytest

from mailcore import Attachment, InvalidMessage, Message
from mailcore.addresses import Address


def full_message(**overrides):
    fields = dict(
        from_email="Sender Ä <sender@example.com>",
        to=["Zoë <zoe@exämple.org>", "bob@example.org"],
        subject="Grüße",
        text="hello",
        html="<p>hello <img src='cid:logo@example.com'></p>",
        cc=["cc@example.org"],
        bcc=["hidden@example.org"],
        reply_to=["replies@example.com"],
        attachments=[
            Attachment("report.pdf", b"%PDF-1.4 \x00\xff"),
            Attachment("logo.png", b"\x89PNG", inline=True, content_id="logo@example.com"),
        ],
        headers={"X-Campaign": "spring"},
        tags=["otp", "login"],
        metadata={"user_id": "42"},
        template_id=None,
        provider_options={"sendgrid": {"asm": {"group_id": 1}}},
    )
    fields.update(overrides)
    return Message(**fields)


def test_to_dict_round_trips_losslessly_through_json():
    message = full_message()
    again = Message.from_dict(json.loads(json.dumps(message.to_dict())))
    assert again == message
    assert again.attachments[0].content == b"%PDF-1.4 \x00\xff"
    assert again.message_id == message.message_id


def test_message_id_is_assigned_once_and_kept():
    message = full_message()
    assert message.message_id.startswith("<") and message.message_id.endswith("@example.com>")
    assert message.replace(subject="other").message_id == message.message_id
    assert full_message().message_id != message.message_id


def test_given_message_id_is_normalized_and_validated():
    assert full_message(message_id="abc@example.com").message_id == "<abc@example.com>"
    with pytest.raises(InvalidMessage, match="message_id"):
        full_message(message_id="<no-at-sign>")


def test_at_least_one_recipient_is_required():
    with pytest.raises(InvalidMessage, match="at least one recipient") as caught:
        Message("a@example.com", [], "s", text="t")
    assert caught.value.field == "to"


def test_bcc_alone_is_enough_and_recipients_are_deduplicated():
    message = Message("a@example.com", ["x@example.org"], "s", text="t", cc=["X@example.org"], bcc=["y@example.org"])
    assert [r.email for r in message.recipients] == ["x@example.org", "y@example.org"]
    assert Message("a@example.com", [], "s", text="t", bcc=["y@example.org"]).recipients


def test_a_body_is_required():
    with pytest.raises(InvalidMessage, match="text or html"):
        Message("a@example.com", ["b@example.org"], "s")


@pytest.mark.parametrize("name", ["From", "to", "Subject", "Message-ID", "Content-Type", "Bcc", "X-Mailcore-ID"])
def test_reserved_headers_point_to_the_field(name):
    with pytest.raises(InvalidMessage, match="cannot be set as a custom header"):
        full_message(headers={name: "x"})


def test_header_names_must_be_tokens():
    with pytest.raises(InvalidMessage, match="header name"):
        full_message(headers={"Bad Name": "x"})


def test_repr_shows_no_body_and_no_metadata():
    message = full_message(text="secret-otp-123456", metadata={"token": "tok-abc"})
    shown = repr(message)
    assert "secret-otp-123456" not in shown and "tok-abc" not in shown
    assert message.message_id in shown


def test_attachment_guesses_mimetype_and_generates_content_id_for_inline():
    attachment = Attachment("photo.jpg", b"x", inline=True)
    assert attachment.mimetype == "image/jpeg"
    assert attachment.content_id and "@" in attachment.content_id
    assert "x" not in repr(attachment).split("photo.jpg")[1].split("bytes")[0].replace("<1 ", "")


def test_attachment_rejects_bad_filename_and_mimetype():
    with pytest.raises(InvalidMessage):
        Attachment("evil\r\nname.txt", b"x")
    with pytest.raises(InvalidMessage, match="type/subtype"):
        Attachment("a.txt", b"x", mimetype="text")


def test_message_is_immutable():
    message = full_message()
    with pytest.raises(AttributeError):
        message.subject = "changed"  # type: ignore[misc]


def test_serialized_version_is_checked():
    data = full_message().to_dict()
    data["version"] = 99
    with pytest.raises(InvalidMessage, match="version"):
        Message.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mimetype": "téxt/plain"}, "attachment 'f.txt'"),
        ({"inline": True, "content_id": "lögo@example.com"}, "attachment 'f.txt' content_id"),
        ({"inline": True, "content_id": "two words"}, "attachment 'f.txt' content_id"),
    ],
)
def test_attachment_header_parts_must_be_ascii(kwargs, field):
    with pytest.raises(InvalidMessage) as caught:
        Attachment("f.txt", b"x", **kwargs)
    assert caught.value.field == field


def test_an_empty_content_id_on_an_inline_part_gets_a_generated_one():
    assert Attachment("logo.png", b"x", inline=True, content_id="<>").content_id.endswith("@mailcore")
    assert Attachment("a.txt", b"x", content_id="").content_id is None


@pytest.mark.parametrize("message_id", ["<ïd@example.com>", "<a b@example.com>", "<a@b@example.com>"])
def test_message_id_must_be_printable_ascii(message_id):
    with pytest.raises(InvalidMessage, match="message_id"):
        Message("s@example.com", ["r@example.org"], "s", text="x", message_id=message_id)


def test_display_names_keep_specials_and_non_ascii_and_headers_keep_tabs():
    message = Message(
        '"Zoë, Müller (Ops)" <a@example.com>',
        [('Ünï "q" <x>', "r@example.org")],
        "s",
        text="x",
        headers={"X-Tab": "a\tb", "X-Long": "v" * 5000},
    )
    assert message.from_email.name == "Zoë, Müller (Ops)"
    assert message.to[0].name == 'Ünï "q" <x>'
    assert message.headers == {"X-Tab": "a\tb", "X-Long": "v" * 5000}
    with pytest.raises(InvalidMessage, match="display name contains"):
        Message("Zoë, Müller <a@example.com>", ["r@example.org"], "s", text="x")
    with pytest.raises(InvalidMessage, match="header injection"):
        Message("s@example.com", ["r@example.org"], "s", text="x", headers={"X-A": "a\r\n\tBcc: x@y.z"})


def test_envelope_from_and_charset_round_trip_and_validate():
    message = Message(
        "Shop <shop@example.com>",
        ["r@example.org"],
        "x",
        text="t",
        envelope_from="Bounces <b+1@example.com>",
        charset="latin-1",
    )
    assert message.envelope_from == Address("b+1@example.com")  # MAIL FROM carries no name
    assert message.envelope_sender.email == "b+1@example.com"
    assert Message.from_dict(message.to_dict()) == message
    assert Message("s@example.com", ["r@example.org"], "x", text="t").envelope_sender.email == "s@example.com"
    with pytest.raises(InvalidMessage, match="envelope_from"):
        Message("s@example.com", ["r@example.org"], "x", text="t", envelope_from="not-an-address")
    with pytest.raises(InvalidMessage, match="surrogates"):
        Message("s@example.com", ["r@example.org"], "x", text="bad \udcfc byte")
