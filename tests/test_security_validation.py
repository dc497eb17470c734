"""Regression tests for issue 13's input-validation findings: each failed on the code before the
validation gate (:mod:`mailcore.validate`) and must keep passing.

Numbers in the test names are the findings of the issue: 1 bulk header injection, 2 RFC 2047
bypasses, 3 addresses that change on the wire, 5 unknown charsets, 6 ``?ehlo=``, 7
``provider_options``, 12 limits and plain-HTTP endpoints (8, Django ``Reply-To``, is in
``tests/django/test_conversion.py``).
"""

import csv
import json
import logging
import uuid

import pytest
from click.testing import CliRunner

from mailcore import Mailer, Message
from mailcore.adapters.logging import MailHandler
from mailcore.addresses import check_header_text
from mailcore.bulk import BulkTemplate, Recipient, send_bulk
from mailcore.cli import cli
from mailcore.config import parse, parse_url
from mailcore.errors import ConfigurationError, InvalidMessage
from mailcore.policy.ratelimit import parse_rate
from mailcore.render import render
from mailcore.testing import outbox
from mailcore.testing.http_sink import HTTPSink, mailgun_reply, sendgrid_reply
from mailcore_mailgun.bulk import build_batch_form
from mailcore_mailgun.payload import build_form
from mailcore_sendgrid.bulk import build_batch_payload
from mailcore_sendgrid.payload import build_payload
from mailcore_ses.bulk import build_bulk_request
from mailcore_smtp.settings import SMTPSettings

INJECTION = "x\r\nBcc: attacker@evil.example"
BYPASSES = [
    "=?UTF-8?Q? =0D=0ABcc:_attacker@evil.example?= hi",  # white space inside the word
    "=??Q?=0A?=",  # empty charset
    "hi =?UTF-8?Q?=0D=0ABcc:_a@evil.example",  # unterminated
    "=?utf-8?b?DQpCY2M6IGFAZXZpbC5leGFtcGxl?=",  # a well-formed word that decodes to CRLF
    "a=?utf-8?q?=0A?=b",  # glued to text (the stdlib still decodes it)
    "=?UTF-8*e n?Q?=0A?=",  # broken language tag
]


def msg(**fields):
    base = {"from_email": "app@example.com", "to": ["ann@example.org"], "subject": "Hi", "text": "body"}
    base.update(fields)
    return Message(**base)


def template(subject="Hi {first}", **fields):
    return msg(to=["app@example.com"], subject=subject, text="Dear {first}", **fields)


# -- 1: bulk ------------------------------------------------------------------------------------


def test_1_merged_subject_with_crlf_is_refused_before_any_payload():
    parsed = BulkTemplate(template())
    with pytest.raises(InvalidMessage, match="subject"):
        parsed.item(0, Recipient("bob@example.org", {"first": INJECTION}))


@pytest.mark.parametrize("value", [INJECTION, "=??Q?=0A?=", "=?x-unknown?Q?a?="])
def test_1_recipient_metadata_is_checked_like_message_metadata(value):
    parsed = BulkTemplate(template())
    with pytest.raises(InvalidMessage, match="metadata"):
        parsed.item(0, Recipient("bob@example.org", {"first": "Bob"}, metadata={"k": value}))


def test_1_batch_payloads_never_carry_a_line_break_in_a_header_value():
    """The SendGrid, Mailgun and SES batch payloads are built only from checked items."""
    from mailcore.bulk.model import Batch

    parsed = BulkTemplate(template(template_id="tpl"))
    item = parsed.item(0, Recipient("bob@example.org", {"first": "Bob"}, metadata={"k": "v"}))
    batch = Batch(parsed, [item])
    sendgrid = build_batch_payload(batch)
    personal = sendgrid["personalizations"][0]
    assert personal["subject"] == "Hi Bob" and personal["custom_args"]["k"] == "v"
    form = build_batch_form(batch, ignore_unsupported=True)
    assert json.loads(form.values("recipient-variables")[0])["bob@example.org"]["mc_subject"] == "Hi Bob"
    from mailcore_ses.payload import SesOptions

    ses = build_bulk_request(batch, SesOptions(ignore_unsupported=True))
    assert {"Name": "k", "Value": "v"} in ses["BulkEmailEntries"][0]["ReplacementTags"]


def _write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["email", "first", "meta.k"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(
    ("scheme", "reply"), [("sendgrid://KEY@", sendgrid_reply), ("mailgun://KEY@mg.example.com", mailgun_reply)]
)
def test_1_send_bulk_csv_exits_non_zero_and_sends_no_injected_row(tmp_path, scheme, reply):
    rows = [
        {"email": "ann@example.org", "first": "Ann", "meta.k": "1"},
        {"email": "bob@example.org", "first": INJECTION, "meta.k": "2"},
        {"email": "cy@example.org", "first": "Cy", "meta.k": "3\r\nBcc: attacker@evil.example"},
        {"email": "dee@example.org", "first": "=?UTF-8?Q? =0D=0ABcc:_attacker@evil.example?=", "meta.k": "4"},
    ]
    recipients = _write_csv(tmp_path / "r.csv", rows)
    with HTTPSink(default=reply) as sink:
        result = CliRunner().invoke(
            cli,
            ["send-bulk", "--url", f"{scheme}?endpoint_url={sink.url}", "--from", "news@example.com",
             "--subject", "Hi {first}", "--text", "Dear {first}", "--csv", str(recipients)],
        )  # fmt: skip
        bodies = [r.body for r in sink.requests]
    assert result.exit_code != 0, result.output
    assert len(bodies) == 1  # the good row went out, in one request
    assert b"attacker" not in bodies[0] and b"\\r\\n" not in bodies[0]


# -- 2 and 5: RFC 2047 ----------------------------------------------------------------------


@pytest.mark.parametrize("value", BYPASSES)
def test_2_encoded_word_bypasses_are_refused_in_every_header_field(value):
    with pytest.raises(InvalidMessage, match="subject"):
        msg(subject=value)
    with pytest.raises(InvalidMessage, match="headers"):
        msg(headers={"X-Note": value})
    with pytest.raises(InvalidMessage, match="to"):
        msg(to=[(value, "ann@example.org")])
    with pytest.raises(InvalidMessage, match="metadata"):
        msg(metadata={"k": value})
    with pytest.raises(InvalidMessage):
        Message.from_dict({**msg().to_dict(), "subject": value})


@pytest.mark.parametrize("value", ["=?x-unknown?Q?a?=", "=?UTF-8*en?Q?a?=", "=?base64?B?YQ==?="])
def test_5_unknown_charset_or_language_is_invalid_message_not_lookup_error(value):
    with pytest.raises(InvalidMessage):
        msg(subject=value)


def test_5_one_bad_row_does_not_abort_a_bulk_run():
    name = f"sec-{uuid.uuid4().hex[:6]}"
    rows = [{"email": "ann@example.org", "first": "=?x-unknown?Q?a?="}, {"email": "bob@example.org", "first": "Bob"}]
    results = list(send_bulk(Mailer(f"memory://{name}"), template(), rows))
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, InvalidMessage)
    assert [m.subject for m in outbox(name)] == ["Hi Bob"]


def test_valid_encoded_words_and_literal_question_marks_still_pass():
    assert msg(subject="Caf=?utf-8?q?=C3=A9?= ok").subject.startswith("Caf")
    assert msg(subject="what =? means, 1+1=?").subject
    check_header_text("x", "=?utf-8?b?w6k=?=")


@pytest.mark.parametrize("value", [*BYPASSES, "=?x-unknown?Q?a?=", INJECTION])
def test_2_5_mail_handler_still_sends_the_alert_with_a_safe_subject(value):
    name = f"sec-{uuid.uuid4().hex[:6]}"
    handler = MailHandler(f"memory://{name}", "app@example.com", ["ops@example.org"], subject="%(message)s")
    logger = logging.getLogger(f"sec.{name}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.error(value)
    finally:
        logger.removeHandler(handler)
        handler.close()
    sent = outbox(name)
    assert len(sent) == 1
    check_header_text("subject", sent[0].subject)


@pytest.mark.parametrize("value", BYPASSES[:3])
def test_2_cli_send_refuses_the_bypasses(value):
    name = f"sec-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(
        cli, ["send", "--url", f"memory://{name}", "--from", "app@example.com", "--to", "ann@example.org",
              "--subject", value, "--text", "x"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert outbox(name) == []


# -- 3: addresses on the wire ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "u@a，evil＠attacker.com",  # IDNA 2003 turned it into u@a,evil@attacker.com
        "u@example.com＞　NOTIFY＝SUCCESS　ORCPT＝rfc822;a＠example.org",  # ESMTP parameters in RCPT
        "u＞x@example.com",  # fullwidth in the local part
        "u\u3000x@example.com",  # ideographic space in the local part
        "u@ｅxample.com",  # fullwidth letters: mapped to another spelling on the wire
        "u@xn--zz.example",  # not a valid A-label
        "u@" + ".".join(["a" * 60] * 4) + ".example.com",  # 255 > 253 characters
    ],
)
def test_3_addresses_that_would_change_on_the_wire_are_refused(address):
    with pytest.raises(InvalidMessage, match="to"):
        msg(to=[address])


def test_3_sharp_s_is_idna_2008_not_fass():
    message = msg(to=["user@faß.de"])
    assert message.to[0].ascii_domain == "xn--fa-hia.de"
    assert b"user@xn--fa-hia.de" in render(message) and b"fass.de" not in render(message)
    assert build_form(message).values("to") == ["user@xn--fa-hia.de"]


def test_3_idn_domains_still_work():
    assert msg(to=["ann@bücher.de"]).to[0].ascii_domain == "xn--bcher-kva.de"
    assert msg(to=["ann@BÜCHER.de"]).to[0].ascii_email == "ann@xn--bcher-kva.de"


# -- 6: ehlo ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ehlo", ["x%0D%0AMAIL%20FROM:<evil@x.example>", "a%20b", "bad_name..x", "%5Bnot-an-ip%5D"])
def test_6_ehlo_must_be_a_host_name_or_address_literal(ehlo):
    with pytest.raises(ConfigurationError, match="ehlo"):
        SMTPSettings.from_url(parse_url(f"smtp://relay.example.com:587?ehlo={ehlo}"))


@pytest.mark.parametrize(
    "url",
    ["sendgrid://KEY@?region=eu%0D%0AX:1", "ses://?region=eu-west-1&configuration_set=a%0Ab", "memory://x?a%00=1"],
)
def test_6_no_url_parameter_holds_a_control_character(url):
    with pytest.raises(ConfigurationError, match="control character"):
        parse_url(url)


@pytest.mark.parametrize("ehlo", ["mail.example.com", "%5B192.0.2.1%5D", "%5BIPv6:2001:db8::1%5D", "localhost"])
def test_6_good_ehlo_names_pass(ehlo):
    assert SMTPSettings.from_url(parse_url(f"smtp://relay.example.com:587?ehlo={ehlo}")).ehlo


# -- 7: provider_options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"sendgrid": {"subject": INJECTION}},
        {"sendgrid": {"headers": {"X-A": INJECTION}}},
        {"sendgrid": {"headers": {"Bcc": "attacker@evil.example"}}},
        {"sendgrid": {"headers": {"X-A": "=??Q?=0A?="}}},
        {"sendgrid": {"personalization": {"bcc": [{"email": "attacker@evil.example"}]}}},
        {"sendgrid": {"personalizations": [{"to": [{"email": "attacker@evil.example"}]}]}},
        {"mailgun": {"bcc": "attacker@evil.example"}},
        {"mailgun": {"h:X-A": INJECTION}},
        {"mailgun": {"h:Bcc:": "x"}},
        {"mailgun": {"o:tag": INJECTION}},
        {"ses": {"Destination": {"BccAddresses": ["attacker@evil.example"]}}},
        {"ses": {"ReplyToAddresses": ["attacker@evil.example"]}},
        {"ses": {"EmailTags": [{"Name": "a", "Value": INJECTION}]}},
    ],
)
def test_7_provider_options_go_through_the_same_gate(options):
    with pytest.raises(InvalidMessage, match="provider_options"):
        msg(provider_options=options)


def test_7_documented_passthrough_still_works():
    options = {
        "sendgrid": {"asm": {"group_id": 5}, "headers": {"X-Extra": "1"}, "personalization": {"send_at": 1},
                     "mail_settings": {"footer": {"enable": True, "text": "line 1\nline 2"}}},
        "mailgun": {"o:tracking": False, "o:tag": ["a", "b"], "h:X-Extra": "1"},
        "ses": {"ListManagementOptions": {"ContactListName": "news"}, "EmailTags": [{"Name": "a", "Value": "1"}]},
    }  # fmt: skip
    message = msg(provider_options=options)
    assert build_payload(message)["headers"]["X-Extra"] == "1"
    assert build_form(message).values("h:X-Extra") == ["1"]


# -- 12: limits ---------------------------------------------------------------------------------


def test_12_deep_nesting_is_a_configuration_error_not_recursion_error():
    with pytest.raises(ConfigurationError, match="nests"):
        parse("failover(" * 1000 + "memory://" + ")" * 1000)


@pytest.mark.parametrize(
    "url",
    ["weighted(memory://a?weight=nan memory://b)", "weighted(memory://a?weight=inf memory://b)",
     "failover(memory://a?rate=1/0s)", "smtp://ho%00st:25", "smtp://ho\x00st:25"],
)  # fmt: skip
def test_12_bad_numbers_and_hosts_are_configuration_errors(url):
    with pytest.raises(ConfigurationError):
        if "rate" in url:
            parse_rate("1/0s")
        Mailer.from_url(url)


def test_12_long_header_names_and_message_ids_are_refused():
    with pytest.raises(InvalidMessage, match="header name"):
        msg(headers={"X-" + "a" * 1000: "v"})
    with pytest.raises(InvalidMessage, match="message_id"):
        msg(message_id="<" + "a" * 1000 + "@example.com>")
    lines = render(msg(headers={"X-" + "a" * 890: "v " * 600})).split(b"\r\n")
    assert max(len(line) for line in lines) <= 998


def test_12_plain_http_endpoint_only_for_loopback_or_opt_in():
    from mailcore.validate import check_endpoint_url

    assert check_endpoint_url("sendgrid", "http://127.0.0.1:8080")
    assert check_endpoint_url("sendgrid", "http://[::1]:8080")
    assert check_endpoint_url("sendgrid", "http://localhost:8080")
    with pytest.raises(ConfigurationError, match="insecure_http"):
        Mailer.from_url("sendgrid://KEY@?endpoint_url=http://api.example.com")
    with pytest.raises(ConfigurationError, match="insecure_http"):
        Mailer.from_url("mailgun://KEY@mg.example.com?endpoint_url=http://api.example.com")
    with pytest.raises(ConfigurationError, match="insecure_http"):
        Mailer.from_url("ses://?region=eu-west-1&endpoint_url=http://ses.example.com")
    Mailer.from_url("sendgrid://KEY@?endpoint_url=http://api.example.com&insecure_http=true").close()


def test_12_check_does_not_mark_skipped_tls_as_passed():
    with HTTPSink(default=sendgrid_reply) as sink:
        result = CliRunner().invoke(cli, ["check", f"sendgrid://KEY@?endpoint_url={sink.url}"])
    tls_line = next(line for line in result.output.splitlines() if " tls " in line)
    assert "✓" not in tls_line and "skipped" in tls_line
