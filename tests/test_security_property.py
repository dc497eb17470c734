"""Property test for issue 13: adversarial strings in every field of every path never inject.

Hypothesis builds strings from the pieces attacks are made of (CR, LF, NUL, Unicode line
separators, ``=?…?=`` fragments, fullwidth punctuation, long runs) and puts them into every
field of every path that reaches the wire: ``Message`` fields and ``from_dict``, bulk merge
values, recipient names and metadata (also through a CSV row), ``provider_options``, custom
headers, tags and the logging handler's subject. Whatever is not refused with
``InvalidMessage`` is rendered (``render`` for SMTP and the SES raw message) or turned into the
provider payload (SendGrid JSON, Mailgun form, SES request, and the three batch payloads), then
parsed by the stdlib with ``policy.default`` and ``compat32``, re-folded at 40 characters and
parsed again. The invariants:

* no header appears that the message did not ask for (never a ``Bcc``);
* every envelope address is a validated address, written the same way as it was validated;
* no header value in a JSON or form payload holds CR or LF, even after RFC 2047 decoding, and
  written into a header it yields exactly that header.

Budget: the ``security`` profile runs ``EXAMPLES`` (300) examples per test, derandomized (a
fixed seed, no example database), so every CI run on 3.11, 3.12 and 3.13 checks the same
1,500 generated inputs (300 for each of the five property tests). Raise it locally with ``MAILCORE_SECURITY_EXAMPLES=5000``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from email import policy
from email.parser import BytesParser, Parser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcore import Attachment, Message
from mailcore.adapters.logging import MailHandler
from mailcore.addresses import Address, parse_address
from mailcore.bulk.model import Batch, BulkTemplate, Recipient
from mailcore.cli.send_bulk import recipient_from_row
from mailcore.errors import InvalidMessage
from mailcore.render import render
from mailcore.testing import outbox
from mailcore_mailgun.bulk import build_batch_form
from mailcore_mailgun.payload import build_form
from mailcore_sendgrid.bulk import build_batch_payload, html_tag, text_tag
from mailcore_sendgrid.payload import build_payload
from mailcore_ses.bulk import build_bulk_request
from mailcore_ses.payload import SesOptions, build_send_email

EXAMPLES = int(os.environ.get("MAILCORE_SECURITY_EXAMPLES", "300"))
settings.register_profile(
    "security",
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SECURITY = settings.get_profile("security")

FRAGMENTS = [
    "\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\t", " ",
    "=?", "?=", "?Q?", "?B?", "?q?", "=?UTF-8?Q?", "=?utf-8?b?", "=??Q?", "=?x-unknown?Q?", "*en", "=0A",
    "=0D", "=0D=0A", "_", "Cg==", "DQo=", "DQpCY2M6IGFAZXZpbC5leGFtcGxl", "Bcc: attacker@evil.example",
    "\r\nBcc: attacker@evil.example", "Bcc:", ":", ";", ",", "<", ">", "@", '"', "\\", "(", ")", "，",
    "＠", "＞", "＜", "：", "　", "＝", "ß", "é", "\ufeff", "\u200b", "a" * 90, "x", "%mc:f%",
    "%recipient.f%", "{first}",
]  # fmt: skip
adversarial = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=8).map("".join)
GOOD = ["ann@example.org", "Ann <ann@example.org>", "bob@bücher.de", '"Doe, J." <j@example.net>']
addresses = st.one_of(
    st.sampled_from(GOOD),
    adversarial,
    adversarial.map(lambda s: f"u{s}@example.com"),
    adversarial.map(lambda s: f"u@ex{s}.com"),
    st.tuples(adversarial, st.sampled_from(["ann@example.org", "bob@bücher.de"])),
)

BASE_HEADERS = {
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "x-mailcore-id", "mime-version",
    "content-type", "content-transfer-encoding",
}  # fmt: skip
ASCII_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")
LINE_BREAK = re.compile(r"[\r\n\x00\x85\u2028\u2029]")
FOLD = re.compile(r"\r?\n(?=[ \t])")


# -- invariants -------------------------------------------------------------------------------


def parsings(raw: bytes | str):
    """The header block as each stdlib policy reads it, and again after re-folding at 40 columns.

    7-bit input is parsed as bytes; UTF-8 headers (SMTPUTF8, JSON values) as text, the way a
    provider that received them as text would.
    """
    text = raw if isinstance(raw, str) else raw.decode("utf-8")
    for pol in (policy.default, policy.compat32):
        if text.isascii():
            parsed = BytesParser(policy=pol).parsebytes(text.encode("ascii"))
            yield parsed
            yield BytesParser(policy=pol).parsebytes(parsed.as_bytes(policy=pol.clone(max_line_length=40)))
        else:
            parsed = Parser(policy=pol).parsestr(text)
            yield parsed
        yield Parser(policy=policy.default).parsestr(parsed.as_string(policy=pol.clone(max_line_length=40)))


def assert_only_asked_headers(raw: bytes | str, asked: set[str]) -> None:
    head = (raw if isinstance(raw, str) else raw.decode("utf-8")).split("\r\n\r\n", 1)[0]
    allowed = BASE_HEADERS | asked
    for parsed in parsings(head + "\r\n\r\nbody\r\n"):
        names = {name.lower() for name in parsed}
        assert names <= allowed, names - allowed
        assert "bcc" not in names
        for name, value in parsed.items():
            unfolded = FOLD.sub("", str(value))  # RFC 5322 unfolding; any other break is injected
            assert not LINE_BREAK.search(unfolded), (name, unfolded)


def assert_validated(address: Address) -> None:
    """An envelope address is one ``parse_address`` accepts unchanged, ASCII on the wire."""
    assert parse_address(address.email, "envelope").email == address.email
    if not address.needs_smtputf8:
        assert ASCII_ADDRESS.fullmatch(address.ascii_email), address.ascii_email
        assert parse_address(address.ascii_email, "wire").email == address.ascii_email


def assert_header_value(value: str) -> None:
    """A provider writes this into a header as it is: it must stay one header after parsing."""
    assert not LINE_BREAK.search(value), value
    assert_only_asked_headers(f"From: a@example.com\r\nX-Probe: {value}\r\n\r\nbody\r\n", {"x-probe"})


def assert_message_safe(message: Message) -> None:
    asked = {h.lower() for h in message.headers}
    checked(lambda raw: assert_only_asked_headers(raw, asked), lambda: render(message))  # 7-bit
    assert_only_asked_headers(render(message, smtputf8=True), asked)
    for address in (message.from_email, *message.recipients, *message.reply_to):
        assert_validated(address)
    checked(assert_sendgrid_payload, lambda: build_payload(message, ignore_unsupported=True))
    checked(assert_mailgun_form, lambda: build_form(message, ignore_unsupported=True).fields)
    checked(
        lambda r: assert_ses_request(r, message), lambda: build_send_email(message, SesOptions(ignore_unsupported=True))
    )


def checked(check, build) -> None:
    """Run ``check`` on what ``build`` makes, unless the provider's own rules refuse it first."""
    try:
        payload = build()
    except InvalidMessage:  # a provider limit (SES tag characters, a UTF-8 local part): nothing sent
        return
    check(payload)


def assert_sendgrid_payload(payload: dict) -> None:
    for block in [payload, *payload["personalizations"]]:
        if "subject" in block:
            substituted = block["subject"]
            for tag, value in block.get("substitutions", {}).items():  # SendGrid expands them in subjects
                substituted = substituted.replace(tag, value)
            assert_header_value(substituted)
        for name, value in block.get("headers", {}).items():
            assert_header_value(name)
            assert_header_value(value)
        for value in block.get("custom_args", {}).values():
            assert_header_value(value)
        for key in ("to", "cc", "bcc"):
            for entry in block.get(key, []):
                assert_header_value(entry.get("name", ""))
                assert_validated(parse_address(entry["email"], key))
    for value in payload.get("categories", []):
        assert_header_value(value)
    for key in ("from", "reply_to"):
        if key in payload:
            assert_header_value(payload[key].get("name", ""))
            assert_validated(parse_address(payload[key]["email"], key))


BODY_FIELDS = {"text", "html", "amp-html", "t:variables"}


def assert_mailgun_form(fields: list[tuple[str, str]]) -> None:
    for name, value in fields:
        if name in BODY_FIELDS:
            continue
        if name == "recipient-variables":
            for variables in json.loads(value).values():
                for key in ("mc_subject", "mc_id", *(k for k in variables if k.startswith("mc_meta_"))):
                    if key in variables:
                        assert_header_value(variables[key])
            continue
        assert_header_value(value)
        if name in ("to", "cc", "bcc", "from", "h:Reply-To"):
            for piece in Parser(policy=policy.default).parsestr(f"To: {value}\r\n\r\n")["to"].addresses:
                assert_validated(parse_address(piece.addr_spec, name))


def assert_ses_request(request: dict, message: Message) -> None:
    for group in request.get("Destination", {}).values():
        for email in group:
            assert_validated(parse_address(email, "Destination"))
    for tag in request.get("EmailTags", []):
        assert_header_value(tag["Name"])
        assert_header_value(tag["Value"])
    raw = request.get("Content", {}).get("Raw", {}).get("Data")
    if raw is not None:
        assert_only_asked_headers(raw, {h.lower() for h in message.headers})


# -- paths ------------------------------------------------------------------------------------


@SECURITY
@given(
    subject=adversarial, header=adversarial, tag=adversarial, meta=adversarial, to=addresses, reply=addresses,
    filename=adversarial, options=adversarial,
)  # fmt: skip
def test_message_fields_and_passthrough(subject, header, tag, meta, to, reply, filename, options):
    try:
        message = Message(
            "App <app@example.com>", [to], subject, text="body", reply_to=[reply],
            headers={"X-Note": header}, tags=[tag], metadata={"k": meta},
            attachments=[Attachment(filename or "f.txt", b"x")],
            provider_options={
                "sendgrid": {"subject": options, "headers": {"X-Extra": options}, "asm": {"note": options}},
                "mailgun": {"h:X-Extra": options, "o:tag": options, "v:k": options},
                "ses": {"EmailTags": [{"Name": "extra", "Value": options}]},
            },
        )  # fmt: skip
    except InvalidMessage:
        return
    assert_message_safe(message)
    assert_message_safe(Message.from_dict(json.loads(json.dumps(message.to_dict()))))


@SECURITY
@given(data=st.fixed_dictionaries({k: adversarial for k in ("subject", "name", "header", "tag", "meta")}), to=addresses)
def test_from_dict_path(data, to):
    try:
        message = Message.from_dict(
            {
                "from_email": {"email": "app@example.com", "name": data["name"]},
                "to": [to if isinstance(to, str) else {"email": to[1], "name": to[0]}],
                "subject": data["subject"], "text": "x", "headers": {"X-Note": data["header"]},
                "tags": [data["tag"]], "metadata": {"k": data["meta"]},
            }
        )  # fmt: skip
    except InvalidMessage:
        return
    assert_message_safe(message)


@SECURITY
@given(first=adversarial, name=adversarial, meta=adversarial, email=addresses.filter(lambda a: isinstance(a, str)))
def test_bulk_merge_values_and_metadata(first, name, meta, email):
    template = Message("app@example.com", ["app@example.com"], "Hi {first}", text="Dear {first}", html="<p>{first}")
    parsed = BulkTemplate(template)
    for recipient in (
        Recipient(email, {"first": first}, {"k": meta}, name),
        recipient_from_row({"email": email, "name": name, "first": first, "meta.k": meta}),  # the CSV path
    ):
        try:
            item = parsed.item(0, recipient)
        except InvalidMessage:
            continue
        assert_validated(item.address)
        assert_message_safe(parsed.render(item))
        batch = Batch(parsed, [item])
        checked(assert_sendgrid_payload, lambda: build_batch_payload(batch))
        checked(assert_mailgun_form, lambda: build_batch_form(batch).fields)


@SECURITY
@given(first=adversarial, meta=adversarial)
def test_bulk_template_payloads(first, meta):
    template = Message("app@example.com", ["app@example.com"], "", template_id="tpl", template_data={"a": 1})
    parsed = BulkTemplate(template)
    try:
        item = parsed.item(0, Recipient("ann@example.org", {"first": first}, {"k": meta}))
    except InvalidMessage:
        return
    batch = Batch(parsed, [item])
    checked(assert_ses_bulk, lambda: build_bulk_request(batch, SesOptions(ignore_unsupported=True)))
    checked(assert_sendgrid_payload, lambda: build_batch_payload(batch))


def assert_ses_bulk(request: dict) -> None:
    for entry in request["BulkEmailEntries"]:
        for tag in entry["ReplacementTags"]:
            assert_header_value(tag["Value"])
        for email in entry["Destination"]["ToAddresses"]:
            assert_validated(parse_address(email, "ToAddresses"))


_HANDLER_OUTBOX = f"prop-{uuid.uuid4().hex[:8]}"
_HANDLER = MailHandler(
    f"memory://{_HANDLER_OUTBOX}", "app@example.com", ["ops@example.org"], subject="%(message)s", max_mails=10**9
)


@SECURITY
@given(line=adversarial)
def test_logging_handler_subject(line):
    before = len(outbox(_HANDLER_OUTBOX))
    _HANDLER.emit(logging.LogRecord("app", logging.ERROR, __file__, 1, line, None, None))
    sent = outbox(_HANDLER_OUTBOX)
    assert len(sent) == before + 1  # the alert is never lost to a bad subject
    assert_message_safe(sent[-1])


def test_substitution_tags_are_what_the_payload_check_expands():
    assert text_tag("f") == "%mc:f%" and html_tag("f") == "%mc:f:html%"
