"""Map a :class:`~mailcore.message.Message` to the keyword arguments of SES v2 ``SendEmail``.

A pure function, tested without a network. Two content shapes are used:

* **Raw** for every message without a template: :func:`mailcore.render.render` writes the whole
  MIME message (text and HTML alternatives, attachments, inline images with Content-ID, Reply-To,
  custom headers and the ``X-Mailcore-ID`` correlation header). Raw carries everything a
  ``Message`` can say, has no 15-header cap, and is what moto's server mode records end to end
  (its ``Simple`` path keeps only the subject and one body).
* **Template** when ``message.template_id`` is set: ``TemplateName`` (or ``TemplateArn`` for an
  ``arn:`` id), ``TemplateData`` as JSON, plus ``Headers`` and ``Attachments`` (botocore >= 1.44).

Envelope recipients always travel in ``Destination`` (Bcc is never written into the MIME
headers). Tags and metadata become SES ``EmailTags``, which SES echoes in its sending events
and which recipients never see; mailcore's correlation id goes into the ``X-Mailcore-ID``
header and into the ``mailcore-id`` tag, because SES replaces the ``Message-ID``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailcore.addresses import Address
from mailcore.errors import InvalidMessage
from mailcore.message import CORRELATION_HEADER, Attachment, Message
from mailcore.render import render

__all__ = [
    "CORRELATION_TAG",
    "MAX_DESTINATIONS",
    "MAX_MESSAGE_BYTES",
    "PROVIDER_KEY",
    "SesOptions",
    "build_send_email",
    "correlation_tag_value",
]

#: SES accepts at most 50 destinations (to + cc + bcc) per ``SendEmail`` call.
MAX_DESTINATIONS = 50
#: SES v2 message size limit: the MIME message with its base64-encoded attachments (40 MB, read
#: conservatively as 40,000,000 bytes). The JSON transport encoding of ``Raw.Data`` is not counted.
MAX_MESSAGE_BYTES = 40_000_000
#: The ``EmailTags`` name carrying mailcore's correlation id.
CORRELATION_TAG = "mailcore-id"
#: The key of ``message.provider_options`` merged into the request.
PROVIDER_KEY = "ses"
#: ``Headers`` of a templated message: at most 15, printable ASCII values of at most 995 chars.
MAX_TEMPLATE_HEADERS = 15
_MAX_HEADER_VALUE = 995
_MAX_TEMPLATE_DATA = 262_144
_TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")
_NOT_TAG_CHAR = re.compile(r"[^A-Za-z0-9_-]")
_TAG_RULE = "SES tag names and values allow only ASCII letters, digits, '_' and '-' (1-256 characters)"


@dataclass(frozen=True, slots=True)
class SesOptions:
    """Transport-level choices that shape the request."""

    configuration_set: str | None = None
    ignore_unsupported: bool = False
    max_message_bytes: int = MAX_MESSAGE_BYTES


def build_send_email(message: Message, options: SesOptions = SesOptions()) -> dict[str, Any]:
    """Return the ``SendEmail`` keyword arguments for ``message``.

    Raises :class:`~mailcore.errors.InvalidMessage` naming the field when SES cannot carry the
    message as built (too many destinations, too large, a tag outside SES's character set, a
    feature a template cannot carry unless ``ignore_unsupported``). Nothing is sent then.
    """
    destination = _destination(message)
    request: dict[str, Any] = {"Destination": destination}
    if message.template_id is not None:
        request["FromEmailAddress"] = _display_address(message.from_email, "from_email")
        if message.reply_to:
            request["ReplyToAddresses"] = [
                _display_address(a, f"reply_to[{i}]") for i, a in enumerate(message.reply_to)
            ]
        request["Content"] = {"Template": _template_content(message, options)}
    else:
        request["FromEmailAddress"] = _ascii_email(message.from_email, "from_email")
        request["Content"] = {"Raw": {"Data": _raw_content(message, options)}}
    if message.envelope_from is not None:  # SES owns MAIL FROM; bounces and complaints go here
        request["FeedbackForwardingEmailAddress"] = _ascii_email(message.envelope_from, "envelope_from")
    request["EmailTags"] = _email_tags(message)
    if options.configuration_set:
        request["ConfigurationSetName"] = options.configuration_set
    extra = message.provider_options.get(PROVIDER_KEY)
    if extra:
        _merge(request, copy.deepcopy(dict(extra)))
    return request


def correlation_tag_value(correlation_id: str) -> str:
    """The ``mailcore-id`` tag value for a correlation id (``Message.correlation_id``).

    SES tag values allow only ``[A-Za-z0-9_-]``, so every other character (``@``, ``.``) becomes
    ``_``. Event consumers apply the same function to find a message by its id.
    """
    return _NOT_TAG_CHAR.sub("_", correlation_id)[:256]


# -- recipients ----------------------------------------------------------------------------------


def _destination(message: Message) -> dict[str, list[str]]:
    count = len(message.recipients)
    if count > MAX_DESTINATIONS:
        raise InvalidMessage(
            "to",
            f"{count} destinations (to + cc + bcc); SES accepts at most {MAX_DESTINATIONS} per message. "
            "Send one message per recipient group (bulk sending is a separate feature)",
        )
    seen: set[str] = set()
    destination: dict[str, list[str]] = {}
    for key, field_name, addresses in (
        ("ToAddresses", "to", message.to),
        ("CcAddresses", "cc", message.cc),
        ("BccAddresses", "bcc", message.bcc),
    ):
        emails = []
        for i, address in enumerate(addresses):
            email = _ascii_email(address, f"{field_name}[{i}]")
            if email.lower() not in seen:
                seen.add(email.lower())
                emails.append(email)
        if emails:
            destination[key] = emails
    return destination


def _ascii_email(address: Address, field_name: str) -> str:
    if address.needs_smtputf8:
        raise InvalidMessage(field_name, f"{address.email!r}: SES does not accept a non-ASCII local part (SMTPUTF8)")
    return address.ascii_email


def _display_address(address: Address, field_name: str) -> str:
    """``Name <local@a-label>``, the name as an RFC 2047 encoded word when it is not ASCII."""
    email = _ascii_email(address, field_name)
    if not address.name:
        return email
    name = address.name
    if not name.isascii():
        name = _encoded_word(name)
    elif any(c in '()<>[]:;@\\,".' for c in name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def _encoded_word(text: str) -> str:
    """RFC 2047 base64 encoded words, separated by spaces (SES header values allow no CRLF)."""
    words, chunk = [], b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


# -- content -------------------------------------------------------------------------------------


def _raw_content(message: Message, options: SesOptions) -> bytes:
    raw = render(message)  # attachments are already base64 inside the MIME message
    _check_size(len(raw), options)
    return raw


def _template_content(message: Message, options: SesOptions) -> dict[str, Any]:
    _check_template_only(message, options)
    if message.calendar is not None:
        raise InvalidMessage("calendar", "an SES template cannot carry a calendar part; send it without template_id")
    template: dict[str, Any] = {}
    template_id = message.template_id or ""
    template["TemplateArn" if template_id.startswith("arn:") else "TemplateName"] = template_id
    try:
        data = json.dumps(dict(message.template_data), ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidMessage("template_data", f"must be JSON-serializable for SES: {error}") from None
    if len(data) > _MAX_TEMPLATE_DATA:
        raise InvalidMessage("template_data", f"{len(data)} characters as JSON; SES allows {_MAX_TEMPLATE_DATA}")
    template["TemplateData"] = data
    template["Headers"] = _template_headers(message, options)
    if message.attachments:
        template["Attachments"] = [_attachment(a) for a in message.attachments]
    size = len(data.encode("utf-8")) + sum(_b64_len(len(a.content)) for a in message.attachments)
    _check_size(size, options)
    return template


def _check_template_only(message: Message, options: SesOptions) -> None:
    """A stored SES template brings its own subject and bodies; say so instead of dropping ours."""
    if options.ignore_unsupported:
        return
    for field_name, value in (("subject", message.subject), ("text", message.text), ("html", message.html)):
        if value:
            raise InvalidMessage(
                field_name,
                f"SES templates carry their own {field_name}; leave it empty with template_id "
                "(or set ignore_unsupported=true on the ses:// URL)",
            )


def _template_headers(message: Message, options: SesOptions) -> list[dict[str, str]]:
    headers = [{"Name": CORRELATION_HEADER, "Value": message.correlation_id}]
    for name, value in message.headers.items():
        if not value.isascii():
            value = _encoded_word(value)
        if len(value) > _MAX_HEADER_VALUE:
            raise InvalidMessage(
                f"headers[{name!r}]", f"SES allows header values of at most {_MAX_HEADER_VALUE} characters"
            )
        headers.append({"Name": name, "Value": value})
    if len(headers) > MAX_TEMPLATE_HEADERS:
        if not options.ignore_unsupported:
            raise InvalidMessage(
                "headers",
                f"{len(headers)} headers with X-Mailcore-ID; SES templated messages carry at most "
                f"{MAX_TEMPLATE_HEADERS} (set ignore_unsupported=true to drop the rest)",
            )
        headers = headers[:MAX_TEMPLATE_HEADERS]
    return headers


def _attachment(attachment: Attachment) -> dict[str, Any]:
    part: dict[str, Any] = {
        "RawContent": attachment.content,
        "FileName": attachment.api_filename,
        "ContentType": attachment.mimetype,
        "ContentDisposition": "INLINE" if attachment.inline else "ATTACHMENT",
        "ContentTransferEncoding": "BASE64",
    }
    if attachment.content_id:
        part["ContentId"] = attachment.content_id
    return part


def _b64_len(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _check_size(size: int, options: SesOptions) -> None:
    if size > options.max_message_bytes:
        raise InvalidMessage(
            "attachments",
            f"the message is {size:,} bytes after base64; SES accepts at most {options.max_message_bytes:,}",
        )


# -- tags ----------------------------------------------------------------------------------------


def _email_tags(message: Message) -> list[dict[str, str]]:
    """Tags as ``{tag: "true"}``, metadata as ``{key: value}``, plus the correlation tag."""
    tags = [{"Name": CORRELATION_TAG, "Value": correlation_tag_value(message.correlation_id)}]
    names = {CORRELATION_TAG}
    pairs: Iterable[tuple[str, str, str]] = [
        *((f"tags[{i}]", tag, "true") for i, tag in enumerate(message.tags)),
        *((f"metadata[{key!r}]", key, value) for key, value in message.metadata.items()),
    ]
    for field_name, name, value in pairs:
        if not _TAG_TEXT.fullmatch(name):
            raise InvalidMessage(field_name, f"{name!r} cannot be an SES tag name: {_TAG_RULE}")
        if not _TAG_TEXT.fullmatch(value):
            raise InvalidMessage(field_name, f"value {value!r} cannot be an SES tag value: {_TAG_RULE}")
        if name in names:
            raise InvalidMessage(
                field_name,
                f"SES tag name {name!r} is used twice (tags, metadata and {CORRELATION_TAG!r} share one namespace)",
            )
        names.add(name)
        tags.append({"Name": name, "Value": value})
    return tags


# -- passthrough ---------------------------------------------------------------------------------


def _merge(request: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``provider_options["ses"]`` into the request: dicts recursively, lists extended,
    anything else replaced."""
    for key, value in extra.items():
        current = request.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list | tuple):
            request[key] = [*current, *value]
        else:
            request[key] = value
