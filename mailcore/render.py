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

Bcc is never written into the headers; it exists only in the envelope. A body that is the
whole message ends exactly as given; inside a multipart, the CRLF before each boundary
belongs to the boundary (RFC 2046 §5.1.1), so a body keeps its own trailing newlines there too.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

from mailcore.addresses import Address, parse_address, split_address_list
from mailcore.ids import uuid4_hex
from mailcore.message import ADDRESS_HEADERS, CORRELATION_HEADER, Attachment, Message

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
    if not any(name.lower() == "date" for name in message.headers):
        lines.append(f"Date: {date or render_date()}")
    lines.append(f"Message-ID: {message.message_id}")
    lines.append(f"{CORRELATION_HEADER}: {message.correlation_id}")
    for name, value in message.headers.items():
        if name.lower() in ADDRESS_HEADERS:
            addresses = [parse_address(item, name) for item in split_address_list(value)]
            lines.append(_address_header(name, addresses, smtputf8))
        else:
            lines.append(_unstructured(name, value))
    for name, value in extra_headers:
        lines.append(_unstructured(name, value))
    lines.append("MIME-Version: 1.0")
    head = _CRLF.join(lines) + _CRLF
    return head.encode("utf-8") + _body(message)


_date_cache: tuple[int, str] = (0, "")


def render_date() -> str:
    """An RFC 5322 ``Date`` value for now in UTC (``+0000``), cached per second (hot path).

    Not ``GMT``: RFC 5322 §4.3 lists it as an obsolete zone that must not be generated.
    """
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, format_datetime(datetime.fromtimestamp(now, UTC)))
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
    """``Name: a, b``; folded after a comma only where a line would pass 78 characters."""
    line = f"{name}:"
    out = []
    for i, text in enumerate(_address(a, smtputf8) for a in addresses):
        piece = f" {text}" if i == 0 else f", {text}"
        if i and len(line) + len(piece) > _FOLD_AT:
            out.append(line + ",")
            line = " " + text
        else:
            line += piece
    out.append(line)
    return _CRLF.join(out)


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
    """RFC 2047 encoded words of at most 75 characters, split on character boundaries: "Q"
    when that is shorter (mostly-ASCII text stays legible), else "B" (the stdlib's rule)."""
    q_words = _q_words(text)
    if q_words is not None:
        return (_CRLF + " ").join(q_words)
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


_Q_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_Q_SAFE_BYTES = (_Q_SAFE + " ").encode("ascii")
_Q_ROOM = 60  # 72-character words, as the base64 ones
_q_pieces: dict[str, str] = {c: c for c in _Q_SAFE} | {" ": "_"}


def _q_words(text: str) -> list[str] | None:
    """Q encoded words (safe in a display name too: RFC 2047 §5 (3)), or None when base64
    would be shorter."""
    data = text.encode("utf-8")
    q_length = len(data) + 2 * len(data.translate(None, _Q_SAFE_BYTES))
    if q_length > (len(data) + 2) // 3 * 4:
        return None
    words, word = [], ""
    for char in text:
        piece = _q_pieces.get(char)
        if piece is None:
            piece = "".join(f"={b:02X}" for b in char.encode("utf-8"))
            if len(_q_pieces) < 4096:
                _q_pieces[char] = piece
        if len(word) + len(piece) > _Q_ROOM:
            words.append(word)
            word = ""
        word += piece
    words.append(word)
    return [f"=?utf-8?q?{w}?=" for w in words]


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
    charset = message.charset
    parts = []
    if message.text is not None:
        parts.append(_text_part("plain", message.text, charset))
    if message.html is not None:
        parts.append(_text_part("html", message.html, charset))
    if message.calendar is not None:  # last: the richest alternative is the one clients prefer
        parts.append(_text_part("calendar", message.calendar.ics, None, f"; method={message.calendar.method}"))
    if len(parts) > 1:
        return _multipart("alternative", parts)
    return parts[0] if parts else None


def _text_part(subtype: str, text: str, charset: str | None = None, params: str = "") -> bytes:
    """A text part: 7bit when it is short-lined ASCII, else quoted-printable or base64,
    whichever is shorter (the stdlib's and Django's rule).

    Never 8bit: the part stays 7-bit clean and survives any hop without 8BITMIME. The text
    ends exactly as given (the stdlib's ``set_content`` adds a final line break; Django 5.2
    does not; a CRLF before a boundary or the end of DATA belongs to those).
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if (
        charset is None
        and not params
        and subtype in _TEXT_7BIT
        and normalized.isascii()
        and all(len(line) <= _MAX_LINE for line in normalized.split("\n"))
    ):
        return _TEXT_7BIT[subtype] + normalized.replace("\n", _CRLF).encode("ascii")
    data = normalized.encode(charset or "utf-8")
    label = charset or "utf-8"
    if data.isascii() and all(len(line) <= _MAX_LINE for line in data.split(b"\n")):
        encoding, body = "7bit", data.replace(b"\n", b"\r\n")
    else:
        encoding, body = "quoted-printable", binascii.b2a_qp(data, istext=True)
        if len(body) > (len(data) + 2) // 3 * 4 * 77 // 76:  # base64 is shorter
            # text is base64-encoded in its canonical form, CRLF line breaks (RFC 2045 §6.8)
            encoding, body = "base64", base64.encodebytes(data.replace(b"\n", b"\r\n"))
        body = body.replace(b"\n", b"\r\n")
    head = f'Content-Type: text/{subtype}; charset="{label}"{params}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode("ascii") + body


_TEXT_7BIT = {
    kind: f'Content-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'.encode("ascii")
    for kind in ("plain", "html")
}


def _attachment_part(att: Attachment) -> bytes:
    """One attachment: base64, except ``message/rfc822`` which RFC 2046 §5.2.1 keeps unencoded.

    A ``text/*`` attachment is labelled ``charset="utf-8"`` when its bytes are UTF-8 (without
    a charset a reader assumes US-ASCII); other bytes make it ``application/octet-stream``, so
    no reader decodes them as text in the wrong charset. No name is invented for a part
    that has none.
    """
    mimetype = att.mimetype
    content_type = mimetype
    if mimetype.startswith("text/"):
        try:
            att.content.decode("utf-8")
            content_type = f'{mimetype}; charset="utf-8"'
        except UnicodeDecodeError:
            content_type = mimetype = "application/octet-stream"
    disposition = "inline" if att.inline else "attachment"
    if att.filename:
        content_type += f"; {_param('name', att.filename)}"
        disposition += f"; {_param('filename', att.filename)}"
    if mimetype == "message/rfc822":
        body = _crlf(att.content)
        encoding = "7bit" if body.isascii() else "8bit"
    else:
        body = base64.encodebytes(att.content).replace(b"\n", b"\r\n")
        encoding = "base64"
    head = [
        f"Content-Type: {content_type}",
        f"Content-Transfer-Encoding: {encoding}",
        f"Content-Disposition: {disposition}",
    ]
    if att.content_id:
        head.append(f"Content-ID: <{att.content_id}>")
    return (_CRLF.join(head) + _CRLF + _CRLF).encode("ascii") + body


def _crlf(data: bytes) -> bytes:
    """Bytes with every line ending as CRLF (an attached message may come with bare LFs)."""
    if data.count(b"\n") == data.count(b"\r\n") and data.count(b"\r") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


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
    boundary = f"=_mc_{uuid4_hex()}"
    marker = boundary.encode("ascii")
    while any(marker in p for p in parts):  # practically never; 7-bit text could contain it
        boundary = f"=_mc_{uuid4_hex()}"
        marker = boundary.encode("ascii")
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")
    delimiter = b"\r\n--" + marker + b"\r\n"
    return head + delimiter[2:] + delimiter.join(parts) + b"\r\n--" + marker + b"--\r\n"
