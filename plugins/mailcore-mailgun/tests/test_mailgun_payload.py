"""The pure Message → Mailgun form mapping, without a network."""

import json

import pytest

from mailcore import Attachment, Message
from mailcore.errors import InvalidMessage
from mailcore_mailgun.payload import MAX_MESSAGE_BYTES, build_form


def full_message(**changes):
    message = Message(
        "Shop <shop@example.com>",
        ["Ann <ann@example.org>", "bob@example.org"],
        "Your order",
        text="plain body",
        html="<p>html <img src='cid:logo@shop'></p>",
        cc=["Cy <cy@example.org>"],
        bcc=["dee@example.org"],
        reply_to=["help@example.com", "Desk <desk@example.com>"],
        attachments=[
            Attachment("invoice.pdf", b"%PDF-1.4", "application/pdf"),
            Attachment("logo.png", b"\x89PNG", "image/png", inline=True, content_id="logo@shop"),
        ],
        headers={"X-Campaign": "spring"},
        tags=["orders", "receipts", "orders"],
        metadata={"order": "42"},
        message_id="<order-42@example.com>",
    )
    return message.replace(**changes) if changes else message


def test_every_field_is_mapped():
    form = build_form(full_message())
    assert form.values("from") == ["Shop <shop@example.com>"]
    assert form.values("to") == ["Ann <ann@example.org>", "bob@example.org"]
    assert form.values("cc") == ["Cy <cy@example.org>"]
    assert form.values("bcc") == ["dee@example.org"]
    assert form.values("subject") == ["Your order"]
    assert form.values("text") == ["plain body"]
    assert form.values("html") == ["<p>html <img src='cid:logo@shop'></p>"]
    assert form.values("h:Reply-To") == ["help@example.com, Desk <desk@example.com>"]
    assert form.values("h:X-Campaign") == ["spring"]
    assert form.values("h:X-Mailcore-ID") == ["order-42@example.com"]
    assert form.values("h:Message-Id") == ["<order-42@example.com>"]
    assert form.values("o:tag") == ["orders", "receipts"]
    assert form.values("v:order") == ["42"]
    assert form.values("v:mailcore_id") == ["order-42@example.com"]
    assert form.files == [
        ("attachment", ("invoice.pdf", b"%PDF-1.4", "application/pdf")),
        ("inline", ("logo@shop", b"\x89PNG", "image/png")),
    ]
    assert "recipient-variables" not in dict(form.fields)


def test_template_and_variables():
    form = build_form(full_message(html=None, template_id="welcome", template_data={"name": "Ann"}))
    assert form.values("template") == ["welcome"]
    assert json.loads(form.values("t:variables")[0]) == {"name": "Ann"}


def test_html_with_template_is_unsupported_unless_ignored():
    message = full_message(template_id="welcome")
    with pytest.raises(InvalidMessage, match="unsupported by Mailgun"):
        build_form(message)
    form = build_form(message, ignore_unsupported=True)
    assert form.values("html") == [] and form.values("template") == ["welcome"]


def test_passthrough_sets_fields_last():
    options = {
        "mailgun": {"o:tracking": True, "o:deliverytime": "Thu, 13 Oct 2011 18:02:00 +0000", "o:tag": ["x", "y"]}
    }
    form = build_form(full_message(provider_options=options))
    assert form.values("o:tracking") == ["yes"]
    assert form.values("o:deliverytime") == ["Thu, 13 Oct 2011 18:02:00 +0000"]
    assert form.values("o:tag") == ["x", "y"]


def test_cc_only_becomes_to_and_bcc_only_is_a_private_batch():
    form = build_form(Message("a@example.com", [], "s", text="x", cc=["c@example.org"]))
    assert form.values("to") == ["c@example.org"] and form.values("cc") == []
    form = build_form(Message("a@example.com", [], "s", text="x", bcc=["b1@example.org", "b2@example.org"]))
    assert form.values("to") == ["b1@example.org", "b2@example.org"]
    assert json.loads(form.values("recipient-variables")[0]) == {"b1@example.org": {}, "b2@example.org": {}}


def test_duplicates_are_sent_once():
    form = build_form(
        Message("a@example.com", ["x@example.org"], "s", text="x", cc=["X@example.org"], bcc=["x@example.org"])
    )
    assert form.values("to") == ["x@example.org"] and form.values("cc") == [] and form.values("bcc") == []


def test_recipient_limit():
    to = [f"r{i}@example.org" for i in range(1000)]
    assert len(build_form(Message("a@example.com", to, "s", text="x")).values("to")) == 1000
    with pytest.raises(InvalidMessage, match="bulk"):
        build_form(Message("a@example.com", [*to, "x@example.org"], "s", text="x"))


def test_size_limits():
    big = Attachment("big.bin", b"\0" * (MAX_MESSAGE_BYTES + 1))
    with pytest.raises(InvalidMessage, match="25 MB"):
        build_form(full_message(attachments=[big]))
    with pytest.raises(InvalidMessage, match="16 KB"):
        build_form(full_message(metadata={f"k{i}": "v" * 200 for i in range(100)}))


def test_display_names_are_quoted_and_non_ascii_local_parts_refused():
    form = build_form(full_message(to=[("Doe, Jane", "jane@example.org")]))
    assert form.values("to") == ['"Doe, Jane" <jane@example.org>']
    with pytest.raises(InvalidMessage, match="non-ASCII"):
        build_form(full_message(to=["jürgen@example.org"]))


def test_template_data_without_template_is_refused():
    with pytest.raises(InvalidMessage, match="template_id"):
        build_form(full_message(template_data={"a": 1}))
