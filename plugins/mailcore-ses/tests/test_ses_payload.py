"""The pure mapping Message → SendEmail kwargs, checked against botocore's own service model."""

from __future__ import annotations

import email
import email.policy
import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mailcore import Attachment, Message
from mailcore.errors import InvalidMessage
from mailcore_ses.payload import (
    CORRELATION_TAG,
    MAX_MESSAGE_BYTES,
    SesOptions,
    build_send_email,
    correlation_tag_value,
)

_SEND_EMAIL = botocore.session.get_session().get_service_model("sesv2").operation_model("SendEmail").input_shape


def valid_for_botocore(request):
    """botocore's client-side validation of the request against the sesv2 model."""
    report = ParamValidator().validate(request, _SEND_EMAIL)
    assert not report.has_errors(), report.generate_report()
    return request


def full_message(**changes):
    message = Message(
        from_email="Sénder Name <sender@example.com>",
        to=["To One <to1@example.org>", "to2@example.org"],
        cc=["cc@example.org"],
        bcc=["hidden@example.net"],
        reply_to=["Replies <reply@example.com>"],
        subject="Grüße from mailcore",
        text="plain body ✓",
        html='<p>html body <img src="cid:logo@example.com"></p>',
        attachments=[
            Attachment("report.pdf", b"%PDF-1.4 fake", "application/pdf"),
            Attachment("logo.png", b"\x89PNG fake", "image/png", inline=True, content_id="logo@example.com"),
        ],
        headers={"X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@example.com>"},
        tags=["welcome", "onboarding"],
        metadata={"user_id": "42", "plan": "pro-annual"},
    )
    return message.replace(**changes) if changes else message


def parse_raw(request):
    return email.message_from_bytes(request["Content"]["Raw"]["Data"], policy=email.policy.default)


def test_raw_request_carries_every_field():
    message = full_message()
    request = valid_for_botocore(build_send_email(message))
    assert request["FromEmailAddress"] == "sender@example.com"
    assert request["Destination"] == {
        "ToAddresses": ["to1@example.org", "to2@example.org"],
        "CcAddresses": ["cc@example.org"],
        "BccAddresses": ["hidden@example.net"],
    }
    parsed = parse_raw(request)
    assert parsed["From"] == "Sénder Name <sender@example.com>"
    assert parsed["To"] == "To One <to1@example.org>, to2@example.org"
    assert parsed["Cc"] == "cc@example.org"
    assert parsed["Reply-To"] == "Replies <reply@example.com>"
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Grüße from mailcore"
    assert parsed["X-Campaign"] == "spring"
    assert parsed["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert parsed["X-Mailcore-ID"] == message.correlation_id
    assert parsed.get_body(("plain",)).get_content().strip() == "plain body ✓"
    assert "html body" in parsed.get_body(("html",)).get_content()
    parts = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert parts["report.pdf"].get_content() == b"%PDF-1.4 fake"
    inline = [p for p in parsed.walk() if p["Content-ID"] == "<logo@example.com>"]
    assert inline and inline[0].get_content() == b"\x89PNG fake"


def test_tags_metadata_and_correlation_id_become_email_tags():
    message = full_message()
    tags = build_send_email(message)["EmailTags"]
    assert tags == [
        {"Name": CORRELATION_TAG, "Value": correlation_tag_value(message.correlation_id)},
        {"Name": "welcome", "Value": "true"},
        {"Name": "onboarding", "Value": "true"},
        {"Name": "user_id", "Value": "42"},
        {"Name": "plan", "Value": "pro-annual"},
    ]


def test_correlation_tag_value_fits_the_ses_charset():
    assert correlation_tag_value("0f1e.x@mail.example.com") == "0f1e_x_mail_example_com"
    assert len(correlation_tag_value("a" * 300 + "@x")) == 256


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tags": ["has space"]}, "tags[0]"),
        ({"tags": ["ok", "dotted.tag"]}, "tags[1]"),
        ({"metadata": {"user id": "1"}}, "metadata['user id']"),
        ({"metadata": {"email": "a@b.example"}}, "metadata['email']"),
        ({"metadata": {"welcome": "x"}}, "metadata['welcome']"),  # collides with a tag
        ({"tags": [CORRELATION_TAG], "metadata": {}}, "tags[0]"),
    ],
)
def test_tags_outside_the_ses_charset_are_rejected_naming_them(changes, field):
    with pytest.raises(InvalidMessage) as caught:
        build_send_email(full_message(**changes))
    assert caught.value.field == field


def test_configuration_set_is_sent():
    request = build_send_email(full_message(), SesOptions(configuration_set="transactional"))
    assert valid_for_botocore(request)["ConfigurationSetName"] == "transactional"


def test_destinations_are_deduplicated_across_to_cc_and_bcc():
    message = Message(
        "a@example.com", ["x@example.org"], "s", text="t", cc=["X@example.org", "y@example.org"], bcc=["y@example.org"]
    )
    assert build_send_email(message)["Destination"] == {
        "ToAddresses": ["x@example.org"],
        "CcAddresses": ["y@example.org"],
    }


def test_fifty_destinations_are_accepted_and_fifty_one_rejected():
    fifty = [f"r{i}@example.org" for i in range(50)]
    message = Message("a@example.com", fifty[:30], "s", text="t", cc=fifty[30:45], bcc=fifty[45:])
    assert sum(len(v) for v in build_send_email(message)["Destination"].values()) == 50
    with pytest.raises(InvalidMessage, match="at most 50") as caught:
        build_send_email(message.replace(bcc=[*fifty[45:], "one-more@example.org"]))
    assert caught.value.field == "to"
    assert "bulk" in caught.value.problem


def test_size_limit_is_checked_after_base64():
    just_under = Message(
        "a@example.com", ["b@example.org"], "s", attachments=[Attachment("big.bin", b"\0" * 29_000_000)]
    )
    assert len(build_send_email(just_under)["Content"]["Raw"]["Data"]) < MAX_MESSAGE_BYTES
    too_big = just_under.replace(attachments=[Attachment("big.bin", b"\0" * 30_000_001)])  # ~41 MB as MIME
    with pytest.raises(InvalidMessage, match="after base64") as caught:
        build_send_email(too_big)
    assert caught.value.field == "attachments"


def test_idn_domains_become_a_labels_and_utf8_local_parts_are_refused():
    message = Message("a@example.com", ["user@bücher.example"], "s", text="t")
    assert build_send_email(message)["Destination"]["ToAddresses"] == ["user@xn--bcher-kva.example"]
    with pytest.raises(InvalidMessage, match="SMTPUTF8") as caught:
        build_send_email(message.replace(bcc=["jürgen@example.org"]))
    assert caught.value.field == "bcc[0]"


def template_message(**changes):
    base = Message(
        "Sénder <sender@example.com>",
        ["to@example.org"],
        "",
        template_id="welcome-v2",
        template_data={"name": "Ada", "items": [1, 2]},
        reply_to=["reply@example.com"],
        headers={"X-Campaign": "spring", "X-Note": "café"},
        attachments=[Attachment("terms.pdf", b"%PDF", "application/pdf")],
        tags=["welcome"],
    )
    return base.replace(**changes) if changes else base


def test_template_request_names_the_template_and_carries_its_data():
    message = template_message()
    request = valid_for_botocore(build_send_email(message))
    template = request["Content"]["Template"]
    assert template["TemplateName"] == "welcome-v2"
    assert json.loads(template["TemplateData"]) == {"name": "Ada", "items": [1, 2]}
    assert template["Headers"] == [
        {"Name": "X-Mailcore-ID", "Value": message.correlation_id},
        {"Name": "X-Campaign", "Value": "spring"},
        {"Name": "X-Note", "Value": "=?utf-8?b?Y2Fmw6k=?="},
    ]
    assert template["Attachments"] == [
        {
            "RawContent": b"%PDF",
            "FileName": "terms.pdf",
            "ContentType": "application/pdf",
            "ContentDisposition": "ATTACHMENT",
            "ContentTransferEncoding": "BASE64",
        }
    ]
    assert request["FromEmailAddress"] == "=?utf-8?b?U8OpbmRlcg==?= <sender@example.com>"
    assert request["ReplyToAddresses"] == ["reply@example.com"]
    assert {"Name": "welcome", "Value": "true"} in request["EmailTags"]
    assert "Raw" not in request["Content"]


def test_template_arn_is_sent_as_template_arn():
    arn = "arn:aws:ses:eu-west-1:123456789012:template/welcome"
    template = build_send_email(template_message(template_id=arn))["Content"]["Template"]
    assert template["TemplateArn"] == arn and "TemplateName" not in template


@pytest.mark.parametrize("field", ["subject", "text", "html"])
def test_template_with_own_body_is_unsupported_unless_ignored(field):
    message = template_message(**{field: "ours"})
    with pytest.raises(InvalidMessage, match="SES templates") as caught:
        build_send_email(message)
    assert caught.value.field == field
    request = build_send_email(message, SesOptions(ignore_unsupported=True))
    assert "ours" not in json.dumps(request["Content"]["Template"], default=str)


def test_template_header_cap_is_unsupported_unless_ignored():
    message = template_message(headers={f"X-H{i}": "v" for i in range(15)})
    with pytest.raises(InvalidMessage, match="at most 15") as caught:
        build_send_email(message)
    assert caught.value.field == "headers"
    headers = build_send_email(message, SesOptions(ignore_unsupported=True))["Content"]["Template"]["Headers"]
    assert len(headers) == 15 and headers[0]["Name"] == "X-Mailcore-ID"


def test_template_data_must_be_json():
    with pytest.raises(InvalidMessage) as caught:
        build_send_email(template_message(template_data={"when": object()}))
    assert caught.value.field == "template_data"


def test_provider_options_are_merged_without_touching_the_message():
    extra = {
        "ListManagementOptions": {"ContactListName": "news", "TopicName": "weekly"},
        "EmailTags": [{"Name": "extra", "Value": "1"}],
        "ConfigurationSetName": "override",
    }
    message = full_message(provider_options={"ses": extra})
    request = valid_for_botocore(build_send_email(message, SesOptions(configuration_set="default")))
    assert request["ListManagementOptions"] == {"ContactListName": "news", "TopicName": "weekly"}
    assert request["EmailTags"][-1] == {"Name": "extra", "Value": "1"}
    assert request["EmailTags"][0]["Name"] == CORRELATION_TAG
    assert request["ConfigurationSetName"] == "override"
    assert message.provider_options["ses"]["EmailTags"] == [{"Name": "extra", "Value": "1"}]


def test_options_for_other_providers_are_ignored():
    request = build_send_email(full_message(provider_options={"sendgrid": {"asm": {"group_id": 1}}}))
    assert "asm" not in request


def test_envelope_from_becomes_the_feedback_forwarding_address():
    """SES sets MAIL FROM itself; its equivalent of the envelope sender is where feedback goes."""
    message = Message(
        "Shop <shop@example.com>", ["r@example.org"], "x", text="t", envelope_from="bounces@bücher.example"
    )
    request = valid_for_botocore(build_send_email(message))  # a field of the sesv2 model
    assert request["FeedbackForwardingEmailAddress"] == "bounces@xn--bcher-kva.example"
    assert "FeedbackForwardingEmailAddress" not in build_send_email(message.replace(envelope_from=None))
