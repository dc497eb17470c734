"""Email address parsing and validation, strict on purpose.

The stdlib's ``email.utils.parseaddr`` accepts forms that different parsers read differently
(``alice@example.org)<bob@example.org>``, CVE-2023-27043), and ``email.headerregistry`` lets
encoded words that decode to a newline through on Python 3.11 and 3.12 (CVE-2024-6923). This
module owns the rules instead, identically on every supported Python:

* an address is ``local@domain`` or ``Display Name <local@domain>``;
* the display name may be quoted; unquoted, it may not contain RFC 5322 specials;
* no control character anywhere, neither raw nor inside an RFC 2047 encoded word
  (:func:`mailcore.validate.check_header_text`);
* the local part is a dot-atom (ASCII or UTF-8, without characters that normalize to ASCII
  punctuation or space), the domain a host name checked by
  :func:`mailcore.validate.ascii_domain` (IDNA 2008, UTS #46 non-transitional, STD3 rules; the
  A-label form :attr:`Address.ascii_domain` is what goes on the wire, at most 253 characters).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailcore.errors import InvalidMessage
from mailcore.validate import ascii_domain, check_header_text, check_local_part

__all__ = ["Address", "check_header_text", "parse_address", "split_address_list", "split_addresses"]

# Non-ASCII is written as a negated class: a literal \u0080-\U0010ffff range costs ~2 ms to compile.
_ATEXT = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]|[^\x00-\x7f])"
_LOCAL_PART = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_SPECIALS = set('()<>[]:;@\\,"')


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: ``email`` is ``local@domain``; ``name`` is the display name or ``""``."""

    email: str
    name: str = ""

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    @property
    def ascii_domain(self) -> str:
        """The domain as an A-label (``xn--…``, IDNA 2008) for peers that do not speak SMTPUTF8."""
        return ascii_domain(self.domain)

    @property
    def ascii_email(self) -> str:
        """``local@a-label-domain``; raises :class:`InvalidMessage` for a UTF-8 local part."""
        if not self.local_part.isascii():
            raise InvalidMessage(self.email, "the local part is not ASCII; it needs a server that offers SMTPUTF8")
        return f"{self.local_part}@{self.ascii_domain}"

    @property
    def envelope_email(self) -> str:
        """``local@a-label-domain`` with the local part as written (UTF-8 allowed).

        For an SMTPUTF8 envelope: the domain still goes out in the IDNA 2008 form mailcore
        validated, so a server's own (perhaps IDNA 2003) conversion cannot pick another domain.
        """
        return f"{self.local_part}@{self.ascii_domain}"

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local_part.isascii()

    def __str__(self) -> str:
        if not self.name:
            return self.email
        if any(c in _SPECIALS or c == "." for c in self.name):
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}" <{self.email}>'
        return f"{self.name} <{self.email}>"


def split_address_list(value: str) -> list[str]:
    """Split a header value like ``"A, B" <a@x.org>, b@y.org`` at the commas between addresses.

    Commas inside a quoted display name or inside ``<…>`` do not split; empty items are
    dropped. Each item is then validated by :func:`parse_address`.
    """
    pieces, _balanced = _split_commas(value)
    return [piece.strip() for piece in pieces if piece.strip()]


def _split_commas(value: str) -> tuple[list[str], bool]:
    """The pieces of ``value`` between top-level commas, and whether quotes and brackets closed."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = 0
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle += 1
        elif not quoted and char == ">":
            angle -= 1
        elif char == "," and not quoted and angle == 0:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces, not quoted and angle == 0


def parse_address(value: object, field: str) -> Address:
    """Parse one address given as ``Address``, ``(name, email)`` or a string.

    ``field`` names the place for the error text, for example ``"to[2]"``.
    """
    if isinstance(value, Address):
        return _validated(value.email, value.name, field)
    if isinstance(value, tuple) and len(value) == 2:
        name, email = value
        if not isinstance(name, str) or not isinstance(email, str):
            raise InvalidMessage(field, "a (name, email) pair must hold two strings")
        return _validated(email, name, field)
    if not isinstance(value, str):
        raise InvalidMessage(field, f"an address must be a string, not {type(value).__name__}")
    check_header_text(field, value)
    text = value.strip()
    if not text:
        raise InvalidMessage(field, "empty address")
    if text.endswith(">"):
        name_part, sep, email = text[:-1].rpartition("<")
        if not sep:
            raise InvalidMessage(field, f"{value!r} has '>' without '<'")
        return _validated(email, _display_name(name_part.strip(), field, value), field)
    if "<" in text:
        raise InvalidMessage(field, f"{value!r} has '<' without a closing '>'")
    return _validated(text, "", field)


def split_addresses(value: str, field: str) -> list[Address]:
    """Parse a comma-separated address list header (``A <a@x.org>, "B, Jr." <b@y.org>``).

    Commas inside double quotes or angle brackets do not split; each piece is then parsed by
    :func:`parse_address`, so a form the stdlib reads as two addresses (CVE-2023-27043) is
    refused instead of guessed at.
    """
    check_header_text(field, value)
    pieces, balanced = _split_commas(value)
    if not balanced:
        raise InvalidMessage(field, f"{value!r} has an unclosed quote or angle bracket")
    return [parse_address(piece, f"{field}[{i}]") for i, piece in enumerate(pieces) if piece.strip()]


def _display_name(raw: str, field: str, original: str) -> str:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        inner = raw[1:-1]
        if re.search(r'(?<!\\)"', inner):
            raise InvalidMessage(field, f"{original!r} has an unescaped quote in its display name")
        return re.sub(r"\\(.)", r"\1", inner)
    bad = sorted({c for c in raw if c in _SPECIALS})
    if bad:
        raise InvalidMessage(
            field,
            f"{original!r}: the display name contains {''.join(bad)!r}; "
            'put the name in double quotes, like "Name" <user@example.com>',
        )
    return raw


def _validated(email: str, name: str, field: str) -> Address:
    check_header_text(field, name)
    check_header_text(field, email)
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise InvalidMessage(field, f"{email!r} is not an address like user@example.com")
    if "@" in local:
        raise InvalidMessage(field, f"{email!r} has more than one '@'")
    if not _LOCAL_PART.fullmatch(local):
        raise InvalidMessage(
            field,
            f"{email!r}: the part before '@' has spaces, a leading, trailing or double dot, or a special character",
        )
    changed = check_local_part(local)
    if changed:
        raise InvalidMessage(field, f"{email!r}: the part before '@' {changed}")
    if len(local.encode()) > 64:
        raise InvalidMessage(field, f"{email!r}: the part before '@' is longer than 64 bytes")
    _check_domain(domain, email, field)
    return Address(email=email, name=name.strip())


def _check_domain(domain: str, email: str, field: str) -> None:
    labels = domain.split(".")
    if len(labels) < 2 and domain.lower() != "localhost":
        raise InvalidMessage(field, f"{email!r}: the domain needs a dot, like example.com")
    try:
        ascii_domain(domain)  # IDNA 2008 / UTS #46, then the A-label checked like an ASCII domain
    except ValueError as error:
        raise InvalidMessage(field, f"{email!r}: {error}") from None
