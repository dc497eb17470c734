"""Turn Django's ``EmailMessage`` / ``EmailMultiAlternatives`` into a :class:`mailcore.Message`.

Pure: nothing is sent and no setting is read (the caller passes the default sender). What
maps where:

* ``subject``, ``body``, addresses: lazy translation strings are forced to ``str``;
* ``content_subtype = "html"`` and ``text/html`` alternatives → ``Message.html``; a second
  HTML part or any other alternative type is refused (mailcore never drops content silently);
* ``attachments``: ``(filename, content, mimetype)`` tuples, ``EmailAttachment``, legacy
  ``MIMEBase`` parts and Django 6's ``email.message.MIMEPart`` objects; a part with a
  ``Content-ID`` (``MIMEImage`` for ``<img src="cid:logo">``) becomes an inline attachment;
* ``extra_headers``: ``From`` sets the sender (what recipients see), ``Reply-To`` the reply-to
  list, ``Message-ID`` the message id; ``To``/``Cc``/``Date`` overrides cannot be expressed and
  are ignored with a warning on the ``mailcore`` logger; ``Bcc`` is refused as Django refuses
  it; everything else goes to ``Message.headers``;
* ``tags`` and ``metadata`` attributes (the django-anymail convention) are carried over.

Invalid input raises :class:`InvalidEmailMessage`, which is both mailcore's
:class:`~mailcore.errors.InvalidMessage` and Django's ``BadHeaderError`` (a ``ValueError``), so
existing ``except BadHeaderError`` / ``except ValueError`` code keeps working.
"""

from __future__ import annotations

import email.message
import logging
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from email.utils import getaddresses
from typing import Any

from django.core.mail.message import BadHeaderError  # type: ignore[import-untyped,unused-ignore]
from django.utils.encoding import force_str  # type: ignore[import-untyped,unused-ignore]

from mailcore.addresses import check_header_text
from mailcore.errors import InvalidMessage
from mailcore.message import Attachment, Message
from mailcore.redact import install_log_filter

__all__ = ["InvalidEmailMessage", "to_message"]

log = install_log_filter(logging.getLogger("mailcore"))
DEFAULT_MIMETYPE = "application/octet-stream"
_IGNORED_HEADERS = {"to", "cc", "date"}


class InvalidEmailMessage(InvalidMessage, BadHeaderError):  # type: ignore[misc,unused-ignore]
    """The Django message cannot be sent as built; nothing was sent.

    A :class:`mailcore.InvalidMessage` and Django's ``BadHeaderError`` (``ValueError``).
    """


def to_message(
    django_message: Any,
    default_from: str,
    *,
    site_default_from: str | None = None,
) -> Message:
    """Convert one Django email message.

    ``default_from`` is used when the message has no sender, or when its sender is
    ``site_default_from`` (Django fills ``DEFAULT_FROM_EMAIL`` in when ``from_email=None``).
    """
    try:
        return _convert(django_message, default_from, site_default_from)
    except InvalidEmailMessage:
        raise
    except InvalidMessage as error:
        raise InvalidEmailMessage(error.field, error.problem) from None


def _convert(msg: Any, default_from: str, site_default_from: str | None) -> Message:
    headers, special = _split_headers(getattr(msg, "extra_headers", None) or {})
    attachments = [_attachment(att, i) for i, att in enumerate(getattr(msg, "attachments", None) or ())]
    text, html = _bodies(msg, has_attachments=bool(attachments))
    sender = special.get("from") or _str_or_none(msg.from_email)
    if not sender or sender == site_default_from:
        sender = default_from
    reply_to: list[Any] = _strings(getattr(msg, "reply_to", None) or ())
    if "reply-to" in special:
        reply_to = _address_pairs(special["reply-to"])
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
    )


# -- headers -------------------------------------------------------------------------------


def _split_headers(extra: Mapping[Any, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Custom headers for ``Message.headers``, and the ones mailcore models as fields."""
    headers: dict[str, str] = {}
    special: dict[str, str] = {}
    for raw_name, raw_value in extra.items():
        name = force_str(raw_name)
        value = force_str(raw_value)
        lowered = name.lower()
        where = f"headers[{name!r}]"
        check_header_text(where, value)
        if lowered == "bcc":
            raise InvalidEmailMessage(where, 'Bcc is not a valid email header; use the "bcc" argument')
        if lowered in ("from", "reply-to", "message-id"):
            special[lowered] = value
        elif lowered in _IGNORED_HEADERS:
            log.warning("the %s header override is ignored: mailcore sets it from the message fields", name)
        else:
            headers[name] = value
    return headers, special


def _address_pairs(value: str) -> list[Any]:
    """``"A <a@x.org>, b@y.org"`` → ``[("A", "a@x.org"), ("", "b@y.org")]`` (validated later)."""
    return [pair for pair in getaddresses([value]) if pair[1] or pair[0]]


# -- bodies --------------------------------------------------------------------------------


def _bodies(msg: Any, *, has_attachments: bool) -> tuple[str | None, str | None]:
    """(text, html) the way Django lays them out: an empty body is left out when there are
    alternatives or attachments to carry the message."""
    body = force_str(msg.body or "")
    subtype = getattr(msg, "content_subtype", "plain")
    alternatives = list(getattr(msg, "alternatives", None) or ())
    text: str | None = None
    html: str | None = None
    if subtype == "html":
        html = body
    elif subtype == "plain":
        text = body if body or not (alternatives or has_attachments) else None
    else:
        raise InvalidEmailMessage("body", f"content_subtype {subtype!r} is not supported; use 'plain' or 'html'")
    for index, alternative in enumerate(alternatives):
        content, mimetype = alternative
        kind = str(mimetype).lower()
        where = f"alternatives[{index}]"
        if kind == "text/html" and html is None:
            html = _text_content(content)
        elif kind == "text/plain" and text is None:
            text = _text_content(content)
        elif kind in ("text/html", "text/plain"):
            raise InvalidEmailMessage(where, f"a second {kind} body; mailcore sends one text and one HTML body")
        else:
            raise InvalidEmailMessage(
                where, f"{kind} alternatives are not supported; mailcore sends text/plain and text/html bodies"
            )
    return text, html


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
        filename=force_str(filename) if filename else _fallback_name("attachment", mimetype),
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
    filename = part.get_filename() or _fallback_name((cid or "attachment").split("@")[0], mimetype)
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


def _fallback_name(stem: str, mimetype: str) -> str:
    return f"{stem or 'attachment'}{mimetypes.guess_extension(mimetype) or ''}"


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
