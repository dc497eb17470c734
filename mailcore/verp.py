"""VERP: a per-message envelope sender (``bounces+<token>@example.com``) that names the message.

A bounce goes to the envelope sender (``MAIL FROM``). When every message has its own, the bounce's
envelope recipient alone says which message bounced — even when the bouncing server returns no
headers or writes no RFC 3464 report. :func:`verp_address` builds it; :func:`parse_verp` reads it
back from the address a bounce arrived at.

The token is provider-neutral and pure. Its rules:

* **only safe local-part characters**: ``a-z 0-9 - . = _``, so every MTA accepts it, and it
  survives MTAs that fold the local part to lower case (Postfix's ``local(8)`` does). Other bytes
  are written ``_xx`` (lower-case hex of their UTF-8 bytes), ``@`` as ``=`` (the classic VERP
  form); no leading, trailing or doubled dot;
* **length-bounded**: the whole local part stays within :data:`MAX_LOCAL_PART` (64 octets,
  RFC 5321 §4.5.3.1.1). The recipient is included only for single-recipient messages and only
  when it fits; a correlation id that does not fit (a long custom Message-ID) is replaced by a
  digest (``h…``), which :func:`matches` checks against the id found in the bounce's returned
  headers;
* **reversible**: ``m<id>`` decodes to the correlation id exactly. The id's domain is left out
  when it is the VERP address's own domain (the usual case: ``<hex@example.com>`` sent with
  ``bounces@example.com``) and restored from the address on decoding.

Layout: ``<base-local>+m<id>[_r<recipient>]@<base-domain>`` or ``…+h<digest>[_r<recipient>]@…``.
Bounces are not authenticated: anyone who knows an address can send a DSN to it (see
docs/events.md, *Security*).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from mailcore.addresses import parse_address
from mailcore.errors import ConfigurationError, InvalidMessage
from mailcore.message import Message

__all__ = [
    "DELIMITER",
    "MAX_LOCAL_PART",
    "VerpToken",
    "check_base",
    "matches",
    "parse_verp",
    "verp_address",
    "verp_for",
    "with_verp",
]

#: Separates the base local part from the token (Postfix ``recipient_delimiter = +``).
DELIMITER = "+"
#: RFC 5321's limit on a local part, in octets.
MAX_LOCAL_PART = 64
_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_HEX = frozenset("0123456789abcdef")
_DIGEST_CHARS = 26  # 130 bits of SHA-256, base32
_RECIPIENT_MARK = "_r"
_BASE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*/=?^_`{|}~\-]+)*")
#: Longest address parse_verp looks at: anything longer is not one of ours.
_MAX_ADDRESS = 512


@dataclass(frozen=True)
class VerpToken:
    """What a VERP address says: the message (or its digest) and, maybe, the recipient.

    :param correlation_id: the message's correlation id (its Message-ID without ``<>``), or None
        when the address carries only a digest.
    :param digest: the id's digest, when the id was too long to carry (see :func:`matches`).
    :param recipient: the recipient the message was sent to, for single-recipient messages.
    :param base: the address without the token (``bounces@example.com``).
    """

    correlation_id: str | None
    digest: str | None
    recipient: str | None
    base: str


def _encode(text: str) -> str:
    """``text`` in the token alphabet (see the module docstring); reversed by :func:`_decode`."""
    out: list[str] = []
    data = text.encode("utf-8")
    for index, byte in enumerate(data):
        char = chr(byte)
        if char == "@":
            out.append("=")
        elif char == "." and (not out or out[-1].endswith(".") or index == len(data) - 1):
            out.append("_2e")  # never a leading, doubled or trailing dot
        elif char in _LITERAL:
            out.append(char)
        else:
            out.append(f"_{byte:02x}")
    return "".join(out)


def _decode(token: str) -> str | None:
    """The text :func:`_encode` wrote, or None when ``token`` is not in its alphabet."""
    data = bytearray()
    index = 0
    while index < len(token):
        char = token[index]
        if char == "=":
            data += b"@"
            index += 1
        elif char == "_":
            pair = token[index + 1 : index + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                return None
            data.append(int(pair, 16))
            index += 3
        elif char in _LITERAL:
            data += char.encode("ascii")
            index += 1
        else:
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _digest(correlation_id: str) -> str:
    raw = hashlib.sha256(correlation_id.encode("utf-8")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:_DIGEST_CHARS]


def _split_base(base: str) -> tuple[str, str]:
    """``(local, domain)`` of the VERP base address, checked; ConfigurationError otherwise."""
    try:
        address = parse_address(base, "verp")
        domain = address.ascii_domain.lower()
    except InvalidMessage as error:
        raise ConfigurationError(f"verp={base!r} is not an address: {error.problem}") from None
    local = address.local_part
    if address.name or not _BASE_LOCAL.fullmatch(local) or DELIMITER in local:
        raise ConfigurationError(
            f"verp={base!r}: give a plain ASCII address without {DELIMITER!r}, e.g. verp=bounces@example.com"
        )
    if len(local) + 1 + 1 + _DIGEST_CHARS > MAX_LOCAL_PART:
        raise ConfigurationError(f"verp={base!r}: the local part leaves no room for a token; use a shorter one")
    return local, domain


def check_base(base: str) -> None:
    """Check that ``base`` can carry VERP tokens; :class:`ConfigurationError` says why not."""
    _split_base(base)


def verp_address(base: str, correlation_id: str, recipient: str | None = None) -> str:
    """The envelope sender for one message: ``base`` with a token naming ``correlation_id``.

    :param base: where bounces should go, e.g. ``bounces@example.com`` (ASCII, no ``+``).
    :param correlation_id: the message's correlation id (``Message.correlation_id``).
    :param recipient: the message's only recipient; carried when it fits.
    :raises ConfigurationError: when ``base`` is not a usable address.
    """
    local, domain = _split_base(base)
    left, at, id_domain = correlation_id.rpartition("@")
    short = left if at and id_domain == domain and left else None  # the domain comes back from the address
    room = MAX_LOCAL_PART - len(local) - len(DELIMITER)
    token = "m" + _encode(short if short is not None else correlation_id)
    if short is not None and "=" in token:
        token = "m" + _encode(correlation_id)  # an '@' inside would be read as the full form
    if len(token) > room:
        token = "h" + _digest(correlation_id)
    if recipient:
        with_recipient = f"{token}{_RECIPIENT_MARK}{_encode(recipient)}"
        if len(with_recipient) <= room:
            token = with_recipient
    return f"{local}{DELIMITER}{token}@{domain}"


def verp_for(base: str, message: Message) -> str:
    """:func:`verp_address` for ``message``, with its recipient when it has exactly one."""
    recipients = message.recipients
    recipient = recipients[0].email if len(recipients) == 1 else None
    return verp_address(base, message.correlation_id, recipient)


def with_verp(message: Message, base: str) -> Message:
    """A copy of ``message`` whose envelope sender is its VERP address (for any transport)."""
    return message.replace(envelope_from=verp_for(base, message))


def parse_verp(address: str) -> VerpToken | None:
    """The token in ``address`` (``bounces+m…@example.com``), or None when it carries none.

    Case-insensitive (MTAs fold local parts); never raises, whatever ``address`` holds.
    """
    if not isinstance(address, str) or len(address) > _MAX_ADDRESS:
        return None
    text = address.strip().strip("<>").lower()
    local, at, domain = text.rpartition("@")
    base_local, delimiter, token = local.partition(DELIMITER)
    if not (at and domain and delimiter and base_local and len(token) >= 2):
        return None
    body, _, recipient_part = token[1:].partition(_RECIPIENT_MARK)
    recipient: str | None = None
    if recipient_part:
        recipient = _decode(recipient_part)
        if recipient is None or "@" not in recipient:
            return None
    base = f"{base_local}@{domain}"
    if token[0] == "h":
        if len(body) != _DIGEST_CHARS or not re.fullmatch(r"[a-z2-7]+", body):
            return None
        return VerpToken(None, body, recipient, base)
    if token[0] != "m" or not body:
        return None
    decoded = _decode(body)
    if decoded is None or not decoded:
        return None
    correlation_id = decoded if "@" in decoded else f"{decoded}@{domain}"
    return VerpToken(correlation_id, None, recipient, base)


def matches(token: VerpToken, correlation_id: str) -> bool:
    """True when ``correlation_id`` is the message ``token`` names (by id or by digest)."""
    if token.correlation_id is not None:
        return token.correlation_id.lower() == correlation_id.lower()
    return token.digest == _digest(correlation_id)
