"""The pure Message → SendGrid body mapping, without a network."""

import json

import pytest

from mailcore import Attachment, Message
from mailcore.errors import InvalidMessage
from mailcore_sendgrid.payload import MAX_BODY_BYTES, build_payload, encode_payload


def full_message(**changes):
    message = Message(
        "Shop <shop@example.com>",
        ["Ann <ann@example.org>", "bob@example.org"],
        "Your order",
        text="plain body",
        html="<p>html body <img src='cid:logo@shop'></p>",
        cc=["Cy <cy@example.org>"],
        bcc=["dee@example.org"],
        reply_to=["help@example.com"],
        attachments=[
            Attachment("invoice.pdf", b"%PDF-1.4", "application/pdf"),
            Attachment("logo.png", b"\x89PNG", "image/png", inline=True, content_id="logo@shop"),
        ],
        headers={"X-Campaign": "spring"},
        tags=["orders", "receipts"],
        metadata={"order": "42", "user": "7"},
        message_id="<order-42@example.com>",
    )
    return message.replace(**changes) if changes else message


def test_every_field_is_mapped():
    body = build_payload(full_message())
    assert body["from"] == {"email": "shop@example.com", "name": "Shop"}
    assert body["subject"] == "Your order"
    [p] = body["personalizations"]
    assert p["to"] == [{"email": "ann@example.org", "name": "Ann"}, {"email": "bob@example.org"}]
    assert p["cc"] == [{"email": "cy@example.org", "name": "Cy"}]
    assert p["bcc"] == [{"email": "dee@example.org"}]
    assert p["custom_args"] == {"order": "42", "user": "7", "mailcore_id": "order-42@example.com"}
    assert body["reply_to"] == {"email": "help@example.com"}
    assert body["content"] == [
        {"type": "text/plain", "value": "plain body"},
        {"type": "text/html", "value": "<p>html body <img src='cid:logo@shop'></p>"},
    ]
    invoice, logo = body["attachments"]
    assert invoice == {
        "content": "JVBERi0xLjQ=",
        "filename": "invoice.pdf",
        "type": "application/pdf",
        "disposition": "attachment",
    }
    assert logo["disposition"] == "inline" and logo["content_id"] == "logo@shop"
    assert body["headers"] == {
        "X-Campaign": "spring",
        "X-Mailcore-ID": "order-42@example.com",
        "Message-ID": "<order-42@example.com>",
    }
    assert body["categories"] == ["orders", "receipts"]
    assert "custom_args" not in body, (
        "top-level custom_args is typed string in the spec: metadata goes per personalization"
    )


def test_several_reply_to_use_reply_to_list():
    body = build_payload(full_message(reply_to=["a@example.com", "b@example.com"]))
    assert body["reply_to_list"] == [{"email": "a@example.com"}, {"email": "b@example.com"}]
    assert "reply_to" not in body


def test_template_id_and_data():
    body = build_payload(full_message(template_id="d-123", template_data={"name": "Ann", "items": [1, 2]}))
    assert body["template_id"] == "d-123"
    assert body["personalizations"][0]["dynamic_template_data"] == {"name": "Ann", "items": [1, 2]}


def test_template_data_without_template_is_refused():
    with pytest.raises(InvalidMessage, match="template_id"):
        build_payload(full_message(template_data={"a": 1}))


def test_passthrough_is_deep_merged():
    options = {
        "sendgrid": {
            "asm": {"group_id": 5},
            "mail_settings": {"sandbox_mode": {"enable": True}},
            "headers": {"X-Extra": "1"},
            "personalization": {"send_at": 1700000000},
        }
    }
    body = build_payload(full_message(provider_options=options))
    assert body["asm"] == {"group_id": 5}
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert body["headers"]["X-Extra"] == "1" and body["headers"]["X-Campaign"] == "spring"
    assert body["personalizations"][0]["send_at"] == 1700000000


def test_recipients_keep_their_visibility():
    body = build_payload(
        Message("a@example.com", ["t@example.org"], "s", text="x", cc=["c@example.org"], bcc=["b@example.org"])
    )
    assert len(body["personalizations"]) == 1, "one personalization: To and Cc see each other, Bcc is hidden"


def test_cc_only_becomes_to():
    body = build_payload(Message("a@example.com", [], "s", text="x", cc=["c1@example.org", "c2@example.org"]))
    [p] = body["personalizations"]
    assert [a["email"] for a in p["to"]] == ["c1@example.org", "c2@example.org"] and "cc" not in p


def test_bcc_only_gives_each_recipient_a_private_copy():
    body = build_payload(Message("a@example.com", [], "s", text="x", bcc=["b1@example.org", "b2@example.org"]))
    assert [p["to"] for p in body["personalizations"]] == [[{"email": "b1@example.org"}], [{"email": "b2@example.org"}]]
    assert all("bcc" not in p for p in body["personalizations"])


def test_duplicate_addresses_are_sent_once():
    message = Message(
        "a@example.com",
        ["x@example.org", "X@example.org"],
        "s",
        text="x",
        cc=["x@example.org", "y@example.org"],
        bcc=["y@example.org"],
    )
    [p] = build_payload(message)["personalizations"]
    assert p["to"] == [{"email": "x@example.org"}] and p["cc"] == [{"email": "y@example.org"}] and "bcc" not in p


def test_one_thousand_recipients_fit_one_more_is_refused():
    to = [f"r{i}@example.org" for i in range(600)]
    bcc = [f"b{i}@example.org" for i in range(400)]
    assert len(build_payload(Message("a@example.com", to, "s", text="x", bcc=bcc))["personalizations"]) == 1
    with pytest.raises(InvalidMessage, match="bulk") as caught:
        build_payload(Message("a@example.com", to, "s", text="x", bcc=[*bcc, "one-more@example.org"]))
    assert caught.value.field == "to"


@pytest.mark.parametrize("header", ["X-SG-ID", "x-sg-eid", "Received", "DKIM-Signature"])
def test_reserved_headers_are_refused(header):
    with pytest.raises(InvalidMessage, match="reserves") as caught:
        build_payload(full_message(headers={header: "v"}))
    assert header in caught.value.field


def test_more_than_ten_tags_is_unsupported_unless_ignored():
    tags = [f"t{i}" for i in range(11)]
    with pytest.raises(InvalidMessage, match="unsupported by SendGrid") as caught:
        build_payload(full_message(tags=tags))
    assert caught.value.field == "tags"
    assert build_payload(full_message(tags=tags), ignore_unsupported=True)["categories"] == tags[:10]


def test_tags_are_deduplicated():
    assert build_payload(full_message(tags=["a", "a", "b"]))["categories"] == ["a", "b"]


def test_display_name_with_comma_is_unsupported_unless_ignored():
    message = full_message(to=[("Doe, Jane", "jane@example.org")])
    with pytest.raises(InvalidMessage, match="';' or ','"):
        build_payload(message)
    assert build_payload(message, ignore_unsupported=True)["personalizations"][0]["to"] == [
        {"email": "jane@example.org", "name": "Doe Jane"}
    ]


def test_empty_attachment_is_unsupported_unless_ignored():
    message = full_message(attachments=[Attachment("empty.txt", b"")])
    with pytest.raises(InvalidMessage, match="empty attachment"):
        build_payload(message)
    assert "attachments" not in build_payload(message, ignore_unsupported=True)


def test_non_ascii_local_part_is_refused_and_idn_domain_is_encoded():
    with pytest.raises(InvalidMessage, match="non-ASCII"):
        build_payload(Message("a@example.com", ["jürgen@example.org"], "s", text="x"))
    body = build_payload(Message("a@example.com", ["j@bücher.example"], "s", text="x"))
    assert body["personalizations"][0]["to"] == [{"email": "j@xn--bcher-kva.example"}]


def test_attachment_only_message_gets_a_blank_text_part():
    body = build_payload(Message("a@example.com", ["b@example.org"], "s", attachments=[Attachment("a.txt", b"x")]))
    assert body["content"] == [{"type": "text/plain", "value": " "}]


def test_empty_subject_is_omitted():
    assert "subject" not in build_payload(full_message(subject=""))


def test_huge_metadata_is_refused():
    with pytest.raises(InvalidMessage, match="10,000 bytes"):
        build_payload(full_message(metadata={f"k{i}": "v" * 100 for i in range(100)}))


def test_thirty_megabytes_is_refused_before_sending():
    big = Attachment("big.bin", b"\0" * (MAX_BODY_BYTES * 3 // 4 + 10))
    with pytest.raises(InvalidMessage, match="30 MB"):
        encode_payload(build_payload(full_message(attachments=[big])))


def test_encoding_is_compact_utf8_json():
    body = encode_payload(build_payload(full_message(subject="Grüße")))
    assert json.loads(body)["subject"] == "Grüße" and "Grüße".encode() in body
