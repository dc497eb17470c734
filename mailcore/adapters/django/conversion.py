"""Turn Django's ``EmailMessage`` / ``EmailMultiAlternatives`` into a :class:`mailcore.Message`.

Pure: nothing is sent and no setting is read (the caller passes the default sender). What
maps where:

* ``subject``, ``body``, addresses: lazy translation strings are forced to ``str``;
* ``content_subtype = "html"`` and ``text/html`` alternatives → ``Message.html``; a second
  HTML part or any other alternative type is refused (mailcore never drops content silently);
* a ``text/calendar`` alternative (``attach_alternative(ics, "text/calendar")``) →
  ``Message.calendar``, its ``method`` from the ``.ics`` (or a ``; method=`` parameter);
* ``attachments``: ``(filename, content, mimetype)`` tuples, ``EmailAttachment``, legacy
  ``MIMEBase`` parts and Django 6's ``email.message.MIMEPart`` objects; a part with a
  ``Content-ID`` (``MIMEImage`` for ``<img src="cid:logo">``) becomes an inline attachment;
* ``from_email`` is the envelope sender (SMTP ``MAIL FROM``) as in Django's SMTP backend; a
  ``From`` header override sets what recipients see (``Message.from_email``) and, when it
  differs, ``from_email`` becomes ``Message.envelope_from``;
* ``extra_headers``: ``Reply-To`` sets the reply-to list (split and parsed by mailcore's strict parser, never the
  stdlib's lax ``getaddresses``), ``Message-ID`` the message id,
  ``Date`` the date; ``To``/``Cc`` overrides cannot be expressed and are ignored with a warning
  on the ``mailcore`` logger; ``Bcc`` is refused as Django refuses it; everything else
  (``Sender``, ``Resent-*`` as addresses) goes to ``Message.headers``;
* ``encoding`` becomes ``Message.charset``: the bodies are written in it (headers stay RFC
  2047 UTF-8, which every reader decodes);
* ``tags`` and ``metadata`` attributes (the django-anymail convention) are carried over, and so
  are ``priority`` (``"high"``, ``"normal"``, ``"low"``), ``expires`` (an aware datetime or a
  timedelta from now) and ``idempotency_key``, set as attributes of the ``EmailMessage``.

Invalid input raises :class:`InvalidEmailMessage`, which is both mailcore's
:class:`~mailcore.errors.InvalidMessage` and Django's ``BadHeaderError`` (a ``ValueError``), so
existing ``except BadHeaderError`` / ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import email.message
import logging
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime, formatdate
from typing import Any

import django  # type: ignore[import-untyped,unused-ignore]
from django.core.mail.message import BadHeaderError  # type: ignore[import-untyped,unused-ignore]
from django.utils.encoding import force_str  # type: ignore[import-untyped,unused-ignore]

from mailcore.addresses import parse_address, split_addresses
from mailcore.calendar import Calendar, calendar_part
from mailcore.errors import InvalidMessage
from mailcore.message import Attachment, Message
from mailcore.redact import install_log_filter
from mailcore.validate import check_header_text

__all__ = ["InvalidEmailMessage", "to_message"]

log = install_log_filter(logging.getLogger("mailcore"))
DEFAULT_MIMETYPE = "application/octet-stream"
_IGNORED_HEADERS = {"to", "cc"}
#: Django's wording, kept in our errors so code matching Django's messages keeps working.
_DJANGO_NEWLINE = (
    "Header values can't contain newlines"
    if django.VERSION < (6, 0)
    else "Header values may not contain linefeed or carriage return characters"
)
_ADDRESS_FIELDS = {"from_email", "to", "cc", "bcc", "reply_to", "envelope_from"}
_DJANGO_BCC = 'Bcc is not a valid email header. Use the "bcc" argument to specify blind carbon copy recipients.'


class InvalidEmailMessage(InvalidMessage, BadHeaderError):  # type: ignore[misc,unused-ignore]
    """The Django message cannot be sent as built; nothing was sent.

    A :class:`mailcore.InvalidMessage` and Django's ``BadHeaderError`` (``ValueError``).
    """


def to_message(
    django_message: Any,
    default_from: str,
    *,
    site_default_from: str | None = None,
    localtime: bool = False,
) -> Message:
    """Convert one Django email message.

    ``default_from`` is used when the message has no sender, or when its sender is
    ``site_default_from`` (Django fills ``DEFAULT_FROM_EMAIL`` in when ``from_email=None``).
    ``localtime=True`` (Django's ``EMAIL_USE_LOCALTIME``) dates the message in local time now;
    otherwise the transport dates it in UTC when it renders it.
    """
    try:
        return _convert(django_message, default_from, site_default_from, localtime)
    except InvalidEmailMessage:
        raise
    except InvalidMessage as error:
        problem = error.problem
        if error.field.split("[")[0] in _ADDRESS_FIELDS:
            problem = f"Invalid address: {problem}"
        if "line break" in problem:
            problem = f"{problem}. {_DJANGO_NEWLINE} ({error.field})"
        raise InvalidEmailMessage(error.field, problem) from None


def _convert(msg: Any, default_from: str, site_default_from: str | None, localtime: bool) -> Message:
    headers, special = _split_headers(getattr(msg, "extra_headers", None) or {})
    if localtime and not any(name.lower() == "date" for name in headers):
        headers["Date"] = formatdate(localtime=True)
    attachments = [_attachment(att, i) for i, att in enumerate(getattr(msg, "attachments", None) or ())]
    text, html, calendar = _bodies(msg, has_attachments=bool(attachments))
    envelope = _str_or_none(msg.from_email)
    if not envelope or envelope == site_default_from:
        envelope = default_from
    sender = special.get("from") or envelope
    reply_to: list[Any] = _strings(getattr(msg, "reply_to", None) or ())
    if "reply-to" in special:
        reply_to = split_addresses(special["reply-to"], "headers['Reply-To']")
    return Message(
        from_email=sender,
        to=_strings(msg.to or ()),
        subject=force_str(msg.subject or ""),
        text=text,
        html=html,
        cc=_strings(getattr(msg, "cc", None) or ()),
        bcc=_strings(getattr(msg, "bcc", None) or ()),
        reply_to=reply_to,
        attachments=attachments,
        headers=headers,
        tags=_tags(getattr(msg, "tags", None)),
        metadata=_metadata(getattr(msg, "metadata", None)),
        message_id=special.get("message-id"),
        envelope_from=_envelope_from(envelope, sender),
        charset=_charset(getattr(msg, "encoding", None)),
        calendar=calendar,
        priority=getattr(msg, "priority", None) or "normal",
        expires=getattr(msg, "expires", None),
        idempotency_key=_str_or_none(getattr(msg, "idempotency_key", None)),
    )


def _envelope_from(envelope: str, header_from: str) -> str | None:
    """Django sends ``MAIL FROM`` from ``from_email`` even when a ``From`` header overrides what
    recipients see; mailcore models that as ``envelope_from`` when the two addresses differ."""
    if envelope == header_from:
        return None
    envelope_address = parse_address(envelope, "from_email")
    if envelope_address.email.lower() == parse_address(header_from, "headers['From']").email.lower():
        return None
    return envelope_address.email


def _charset(encoding: Any) -> str | None:
    """``EmailMessage.encoding`` (a name or an ``email.charset.Charset``) as a charset name."""
    if not encoding:
        return None
    return str(getattr(encoding, "input_charset", encoding))


# -- headers -------------------------------------------------------------------------------


def _split_headers(extra: Mapping[Any, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Custom headers for ``Message.headers``, and the ones mailcore models as fields."""
    headers: dict[str, str] = {}
    special: dict[str, str] = {}
    for raw_name, raw_value in extra.items():
        name = force_str(raw_name)
        value = format_datetime(raw_value) if isinstance(raw_value, datetime) else force_str(raw_value)
        lowered = name.lower()
        where = f"headers[{name!r}]"
        check_header_text(where, value)
        if lowered == "bcc":
            raise InvalidEmailMessage(where, _DJANGO_BCC)
        if lowered in ("from", "reply-to", "message-id"):
            special[lowered] = value
        elif lowered in _IGNORED_HEADERS:
            log.warning("the %s header override is ignored: mailcore sets it from the message fields", name)
        else:
            headers[name] = value
    return headers, special


# -- bodies --------------------------------------------------------------------------------


def _bodies(msg: Any, *, has_attachments: bool) -> tuple[str | None, str | None, Calendar | None]:
    """(text, html, calendar) the way Django lays them out: an empty body is left out when there
    are alternatives or attachments to carry the message. A ``text/calendar`` alternative
    (``attach_alternative(ics, "text/calendar")``) becomes the message's calendar invitation."""
    body = force_str(msg.body or "")
    subtype = getattr(msg, "content_subtype", "plain")
    alternatives = list(getattr(msg, "alternatives", None) or ())
    text: str | None = None
    html: str | None = None
    calendar: Calendar | None = None
    if subtype == "html":
        html = body
    elif subtype == "plain":
        text = body if body or not (alternatives or has_attachments) else None
    else:
        raise InvalidEmailMessage("body", f"content_subtype {subtype!r} is not supported; use 'plain' or 'html'")
    for index, alternative in enumerate(alternatives):
        content, mimetype = alternative
        kind, _, params = str(mimetype).lower().partition(";")
        kind = kind.strip()
        where = f"alternatives[{index}]"
        if kind == "text/calendar" and calendar is None:
            method = _param_value(params, "method")
            calendar = calendar_part(_text_content(content), method=method.upper() if method else None)
        elif kind == "text/html" and html is None:
            html = _text_content(content)
        elif kind == "text/plain" and text is None:
            text = _text_content(content)
        elif kind in ("text/html", "text/plain"):
            raise InvalidEmailMessage(where, f"a second {kind} body; mailcore sends one text and one HTML body")
        else:
            raise InvalidEmailMessage(
                where,
                f"{kind} alternatives are not supported; mailcore sends text/plain, text/html and one text/calendar",
            )
    return text, html, calendar


def _param_value(params: str, name: str) -> str | None:
    """The value of ``name=`` in a ``;``-separated MIME parameter list, unquoted."""
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip() == name:
            return value.strip().strip('"') or None
    return None


def _text_content(content: Any) -> str:
    if isinstance(content, bytes):
        return content.decode("utf-8")
    return str(force_str(content))


# -- attachments ---------------------------------------------------------------------------


def _attachment(attachment: Any, index: int) -> Attachment:
    if isinstance(attachment, email.message.Message):  # MIMEBase, MIMEPart, email EmailMessage
        return _from_mime_part(attachment, index)
    try:
        filename, content, mimetype = attachment
    except (TypeError, ValueError):
        raise InvalidEmailMessage(
            f"attachments[{index}]", "must be (filename, content, mimetype) or an email MIME part"
        ) from None
    mimetype = str(mimetype) if mimetype else _guess_type(filename)
    return Attachment(
        filename=force_str(filename) if filename else None,
        content=_content_bytes(content, mimetype),
        mimetype=mimetype,
    )


def _from_mime_part(part: email.message.Message, index: int) -> Attachment:
    mimetype = part.get_content_type()
    if mimetype == "message/rfc822":
        inner = part.get_payload(0)
        content = inner.as_bytes() if isinstance(inner, email.message.Message) else b""
    elif part.is_multipart():
        raise InvalidEmailMessage(
            f"attachments[{index}]", f"{mimetype} attachments are not supported; attach each file on its own"
        )
    else:
        decoded = part.get_payload(decode=True)
        content = decoded if isinstance(decoded, bytes) else b""
    content_id = part.get("Content-ID")
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (content_id is not None and disposition is None)
    cid = str(content_id).strip().strip("<>") if content_id else None
    filename = part.get_filename()
    return Attachment(filename=filename, content=content, mimetype=mimetype, inline=inline, content_id=cid)


def _content_bytes(content: Any, mimetype: str) -> bytes:
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    if isinstance(content, email.message.Message):
        return bytes(content.as_bytes())
    if hasattr(content, "message") and mimetype.startswith("message/"):  # a Django EmailMessage
        return bytes(content.message().as_bytes())
    return str(force_str(content)).encode("utf-8")


def _guess_type(filename: Any) -> str:
    if not filename:
        return DEFAULT_MIMETYPE
    return mimetypes.guess_type(force_str(filename))[0] or DEFAULT_MIMETYPE


# -- small helpers -------------------------------------------------------------------------


def _strings(values: Iterable[Any]) -> list[Any]:
    return [force_str(v) for v in values if v]


def _str_or_none(value: Any) -> str | None:
    return force_str(value) if value else None


def _tags(value: Any) -> Sequence[str]:
    if not value or isinstance(value, str):
        return [value] if value else []
    return [force_str(v) for v in value]


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {force_str(k): force_str(v) for k, v in value.items()}
