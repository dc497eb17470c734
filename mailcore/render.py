"""Render a :class:`~mailcore.message.Message` to RFC 5322 bytes, fast.

Rendering is on every SMTP send's hot path. The stdlib's ``EmailMessage`` with
``policy.default`` re-parses and re-folds every header and renders only about 1,350 small
messages a second here; this module writes the few MIME shapes a ``Message`` can take directly
(see ``benchmarks/bench_render.py`` for the measured ratio). Its output is checked against the
stdlib parser in ``tests/test_render.py``.

Shapes::

    text            text/plain
    html            text/html
    text + html     multipart/alternative  [text, html, text/calendar if an invitation]
    + inline parts  multipart/related  [body, inline...]
    + attachments   multipart/mixed    [body, attachment...]

Bcc is never written into the headers; it exists only in the envelope.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Iterable
from email.utils import formatdate
from urllib.parse import quote

from mailcore.addresses import Address
from mailcore.message import CORRELATION_HEADER, Attachment, Message

__all__ = ["render", "render_date"]

_CRLF = "\r\n"
_MAX_LINE = 998
_FOLD_AT = 78
_PARAM_ONE_LINE = 800  # longest parameter value written on its header's line
_PARAM_CHUNK = 60  # characters per RFC 2231 continuation of a longer one
_PERCENT_PIECE = re.compile(r"%[0-9A-F]{2}|.")


def render(
    message: Message,
    *,
    smtputf8: bool = False,
    date: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """Return the message as RFC 5322 bytes with CRLF line endings.

    With ``smtputf8=False`` (the default) every header is 7-bit: non-ASCII text becomes RFC 2047
    encoded words and IDN domains become A-labels; a UTF-8 local part raises
    :class:`~mailcore.errors.InvalidMessage`. With ``smtputf8=True`` addresses are written as
    UTF-8, for servers that offer SMTPUTF8. ``extra_headers`` are written after the message's own
    (a transport's tag and metadata headers); their values must already be header-safe.
    """
    lines = [
        f"From: {_address(message.from_email, smtputf8)}",
    ]
    if message.to:
        lines.append(_address_header("To", message.to, smtputf8))
    if message.cc:
        lines.append(_address_header("Cc", message.cc, smtputf8))
    if message.reply_to:
        lines.append(_address_header("Reply-To", message.reply_to, smtputf8))
    lines.append(_unstructured("Subject", message.subject))
    lines.append(f"Date: {date or render_date()}")
    lines.append(f"Message-ID: {message.message_id}")
    lines.append(f"{CORRELATION_HEADER}: {message.correlation_id}")
    for name, value in message.headers.items():
        lines.append(_unstructured(name, value))
    for name, value in extra_headers:
        lines.append(_unstructured(name, value))
    lines.append("MIME-Version: 1.0")
    head = _CRLF.join(lines) + _CRLF
    return head.encode("utf-8") + _body(message)


_date_cache: tuple[int, str] = (0, "")


def render_date() -> str:
    """An RFC 5322 ``Date`` value for now, cached per second (it is on the hot path)."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, localtime=False, usegmt=True))
    return _date_cache[1]


# -- headers -------------------------------------------------------------------------------------


def _address(addr: Address, smtputf8: bool) -> str:
    email = addr.email if smtputf8 else addr.ascii_email
    if not addr.name:
        return email
    name = addr.name
    # Encoded words also fold a long name and keep a literal "=?…?=" from being decoded as one.
    if (not smtputf8 and not name.isascii()) or "=?" in name or len(name) > _FOLD_AT:
        return f"{_encoded_words(name)} <{email}>"
    if any(c in '()<>[]:;@\\,".' for c in name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{email}>"


def _address_header(name: str, addresses: Iterable[Address], smtputf8: bool) -> str:
    return f"{name}: " + ("," + _CRLF + " ").join(_address(a, smtputf8) for a in addresses)


def _unstructured(name: str, value: str) -> str:
    """``Name: value``, folded at spaces, or as encoded words when it is not plain ASCII."""
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= _FOLD_AT:
        return line
    if value.isascii() and "=?" not in value:
        folded = _fold_ascii(line)
        if folded is not None:
            return folded
    return f"{name}: {_encoded_words(value)}"


def _fold_ascii(line: str) -> str | None:
    words = line.split(" ")
    out: list[str] = []
    current = words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > _FOLD_AT and current.strip():
            out.append(current)
            current = " " + word
        else:
            current += " " + word
    out.append(current)
    if any(len(part) > _MAX_LINE for part in out):
        return None
    return _CRLF.join(out)


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded words of at most 75 characters, split on character boundaries."""
    words = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 45:  # 45 bytes -> 60 base64 chars -> 72 with the wrapper
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return (_CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


# -- body ----------------------------------------------------------------------------------------


def _body(message: Message) -> bytes:
    inline = [a for a in message.attachments if a.inline]
    attached = [a for a in message.attachments if not a.inline]
    part = _content_part(message)
    if inline and part is not None:
        part = _multipart("related", [part, *(_attachment_part(a) for a in inline)])
    elif inline:
        attached = inline + attached
    if attached:
        parts = [part] if part is not None else []
        part = _multipart("mixed", [*parts, *(_attachment_part(a) for a in attached)])
    if part is None:  # only a template id: an empty text body
        part = _text_part("plain", "")
    return part


def _content_part(message: Message) -> bytes | None:
    parts = []
    if message.text is not None:
        parts.append(_text_part("plain", message.text))
    if message.html is not None:
        parts.append(_text_part("html", message.html))
    if message.calendar is not None:  # last: the richest alternative is the one clients prefer
        parts.append(_text_part("calendar", message.calendar.ics, f"; method={message.calendar.method}"))
    if len(parts) > 1:
        return _multipart("alternative", parts)
    return parts[0] if parts else None


def _text_part(subtype: str, text: str, params: str = "") -> bytes:
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if normalized.isascii() and all(len(line) <= _MAX_LINE for line in normalized.split("\n")):
        body = normalized.replace("\n", _CRLF).encode("ascii")
        return (
            (
                f"Content-Type: text/{subtype}; charset=us-ascii{params}{_CRLF}"
                f"Content-Transfer-Encoding: 7bit{_CRLF}{_CRLF}"
            ).encode("ascii")
            + body
            + b"\r\n"
        )
    qp = binascii.b2a_qp(normalized.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (
        (
            f"Content-Type: text/{subtype}; charset=utf-8{params}{_CRLF}"
            f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}"
        ).encode("ascii")
        + qp
        + b"\r\n"
    )


def _attachment_part(att: Attachment) -> bytes:
    disposition = "inline" if att.inline else "attachment"
    head = [
        f"Content-Type: {att.mimetype}; {_param('name', att.filename)}",
        "Content-Transfer-Encoding: base64",
        f"Content-Disposition: {disposition}; {_param('filename', att.filename)}",
    ]
    if att.content_id:
        head.append(f"Content-ID: <{att.content_id}>")
    return (_CRLF.join(head) + _CRLF + _CRLF).encode("ascii") + base64.encodebytes(att.content).replace(b"\n", b"\r\n")


def _param(name: str, value: str) -> str:
    """A MIME parameter: ``name="value"`` for ASCII, RFC 2231 ``name*=utf-8''…`` otherwise.

    A longer value is split into RFC 2231 continuations (``name*0*=…;`` CRLF ``name*1*=…``),
    each on its own folded line, so no line passes the 998-octet limit.
    """
    if value.isascii():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        if len(escaped) <= _PARAM_ONE_LINE:
            return f'{name}="{escaped}"'
    encoded = quote(value, safe="")
    if len(encoded) <= _PARAM_ONE_LINE:
        return f"{name}*=utf-8''{encoded}"
    chunks, chunk = [], "utf-8''"
    for piece in _PERCENT_PIECE.findall(encoded):  # never split a %XX escape
        if len(chunk) + len(piece) > _PARAM_CHUNK:
            chunks.append(chunk)
            chunk = ""
        chunk += piece
    chunks.append(chunk)
    return (";" + _CRLF + " ").join(f"{name}*{i}*={chunk}" for i, chunk in enumerate(chunks))


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = f"=_mc_{uuid.uuid4().hex}"
    marker = boundary.encode("ascii")
    while any(marker in p for p in parts):  # practically never; 7-bit text could contain it
        boundary = f"=_mc_{uuid.uuid4().hex}"
        marker = boundary.encode("ascii")
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")]
    for part in parts:
        out.append(b"--" + marker + b"\r\n" + part)
    out.append(b"--" + marker + b"--\r\n")
    return b"".join(out)
