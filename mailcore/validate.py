"""The one validation gate every path goes through before a byte leaves mailcore.

:class:`~mailcore.message.Message` construction (and so ``from_dict``, bulk rendering, the
Django backend, the CLI, CSV rows and the logging handler, which all build a ``Message``),
per-recipient bulk data, ``provider_options`` and URL parameters that reach a wire protocol
all call the functions here, so one rule cannot be tightened in one place and forgotten in
another. The rules:

* **Header text** (:func:`check_header_text`): no control character (C0, DEL, C1, U+2028,
  U+2029), neither raw nor after any decoder a receiver may apply. Every ``=?`` that could start
  an RFC 2047 encoded word must start a *strictly* valid one (token charset that Python knows,
  no language tag, ``B``/``Q``, no white space inside, terminated); the strict decoding and the
  stdlib's own lenient decoders (``policy.default`` and ``email.header``) must all be free of
  control characters. This closes CVE-2024-6923-style bypasses (white space inside a word,
  empty charset, unterminated words) as a class instead of one spelling at a time.
* **Domains** (:func:`ascii_domain`): IDNA 2008 with UTS #46 non-transitional mapping and STD3
  rules (the ``idna`` package, not the stdlib's IDNA 2003 codec). A domain whose mapping would
  change it beyond letter case (fullwidth ``，`` ``＠`` ``＞``, ligatures, ``ß`` → ``ss``) is
  refused: an address never turns into a different address on the wire. The A-label form, what
  is written on the wire, is checked like an ASCII domain: letters, digits and hyphens, labels
  of 1-63 characters, at most 253 in all.
* **Hosts** (:func:`check_hostname`): the EHLO name and other host names in URLs are host names
  or address literals, never free text.
* **Provider passthrough** (:func:`check_provider_options`): see its docstring.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import idna

from mailcore.errors import ConfigurationError, InvalidMessage

__all__ = [
    "CONTROL",
    "INSECURE_HTTP_PARAM",
    "MAX_DOMAIN",
    "MAX_HEADER_NAME",
    "ascii_domain",
    "check_endpoint_url",
    "check_header_name",
    "check_header_text",
    "check_hostname",
    "check_local_part",
    "check_mapping",
    "check_provider_options",
    "safe_header_text",
]

#: Characters no header value may hold: C0 controls but TAB, DEL, C1 controls, U+2028/U+2029.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
#: RFC 1035 / RFC 5321 limit on a domain (A-label form).
MAX_DOMAIN = 253
_MAX_LABEL = 63
#: Longest header name: ``Name: `` plus one 75-character encoded word still fits a 998-octet line.
MAX_HEADER_NAME = 900

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ':' (RFC 5322 ftext)
_LDH_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# Where a lenient decoder may see an encoded word: "=?", anything but "?", "?B?" or "?Q?".
_WORD_START = re.compile(r"=\?[^?]*\?[BbQq]\?")
# A strictly valid RFC 2047 encoded word without an RFC 2231 language tag.
_STRICT_WORD = re.compile(r"=\?([A-Za-z0-9!#$%&'+^_`{|}~-]+)\?([BbQq])\?([!->@-~]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


# -- header text ----------------------------------------------------------------------------------


def check_header_text(field: str, value: object) -> None:
    """Raise :class:`InvalidMessage` unless ``value`` is a string safe in a header.

    Safe means: no control character, raw or inside anything a receiving parser decodes as an
    RFC 2047 encoded word (see the module docstring).
    """
    if not isinstance(value, str):
        raise InvalidMessage(field, f"must be a string, not {type(value).__name__}")
    if CONTROL.search(value):
        raise InvalidMessage(field, "contains a line break or control character (header injection)")
    if "=?" in value:
        _check_encoded_words(field, value)


def _check_encoded_words(field: str, value: str) -> None:
    for start in _WORD_START.finditer(value):
        word = _STRICT_WORD.match(value, start.start())
        if word is None:
            raise InvalidMessage(
                field,
                "holds a malformed RFC 2047 encoded word (=?charset?Q?text?= with no spaces, a known charset, "
                "closed by ?=); write the text plainly, mailcore encodes it",
            )
        if CONTROL.search(_decode_strict(field, *word.groups())):
            raise InvalidMessage(field, "an RFC 2047 encoded word decodes to a line break or control character")
    for decoded in _lenient_decodings(field, value):
        if CONTROL.search(decoded):
            raise InvalidMessage(field, "an RFC 2047 encoded word decodes to a line break or control character")


def _decode_strict(field: str, charset: str, encoding: str, text: str) -> str:
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        raise InvalidMessage(field, f"an RFC 2047 encoded word names an unknown charset {charset!r}") from None
    try:
        if encoding in "Bb":
            raw = base64.b64decode(text, validate=True)
        else:
            raw = _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace("_", " ").encode("ascii"))
        return raw.decode(name)
    except LookupError:  # a codec that is not a text charset (base64, zlib)
        raise InvalidMessage(field, f"an RFC 2047 encoded word names {charset!r}, which is not a charset") from None
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidMessage(field, f"an RFC 2047 encoded word is not valid {encoding.upper()}/{charset}") from None


def _lenient_decodings(field: str, value: str) -> list[str]:
    """What the stdlib's own parsers make of ``value`` (both policies); refuse what they cannot."""
    from email.header import decode_header
    from email.policy import default

    try:
        modern = str(default.header_factory("Subject", value))
        chunks = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                chunk = chunk.decode(charset or "ascii", errors="replace")
            chunks.append(chunk)
    except (LookupError, ValueError, TypeError, IndexError):  # odd charsets and malformed words
        raise InvalidMessage(field, "holds an RFC 2047 encoded word that cannot be decoded") from None
    return [modern, "".join(chunks)]


def safe_header_text(value: str) -> str:
    """``value`` made to pass :func:`check_header_text` by replacing what it refuses.

    For text that must be sent whatever it holds (a log line in an alert subject): control
    characters become U+FFFD and every ``=?`` becomes ``= ?``, so no decoder sees an encoded word.
    """
    return CONTROL.sub("\ufffd", value).replace("=?", "= ?")


def check_header_name(field: str, name: object) -> str:
    """A header name: printable ASCII without ``:`` or spaces, at most :data:`MAX_HEADER_NAME`."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise InvalidMessage(field, "a header name must be printable ASCII without ':' or spaces")
    if len(name) > MAX_HEADER_NAME:
        raise InvalidMessage(field, f"the header name is {len(name)} characters; at most {MAX_HEADER_NAME} fit a line")
    return name


def check_mapping(field: str, values: object) -> dict[str, str]:
    """String keys and values, each safe header text (metadata, custom args, tags, variables).

    Non-string values are turned into strings first (``3`` → ``"3"``), as providers do.
    """
    if not isinstance(values, Mapping):
        raise InvalidMessage(field, f"must be a mapping, not {type(values).__name__}")
    out: dict[str, str] = {}
    for key, value in values.items():
        check_header_text(f"{field} key {key!r}", key)
        text = value if isinstance(value, str) else str(value)
        check_header_text(f"{field}[{key!r}]", text)
        out[key] = text
    return out


# -- domains and hosts ------------------------------------------------------------------------------


def ascii_domain(domain: str) -> str:
    """The A-label form of ``domain`` after every check; raises :class:`ValueError` saying why.

    Callers turn the reason into their own error class (:class:`InvalidMessage` for addresses,
    :class:`ConfigurationError` for URLs).
    """
    return _ascii_domain(domain)


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    if not domain:
        raise ValueError("the domain is empty")
    if domain.endswith("."):
        raise ValueError("the domain ends with a dot")
    if domain.isascii():
        wire = domain
        for label in domain.split("."):
            if label[:4].lower() == "xn--":
                _check_a_label(label)
    else:
        try:
            mapped = idna.uts46_remap(domain, std3_rules=True, transitional=False)
        except idna.IDNAError as error:
            raise ValueError(f"the domain is not a valid internationalized name ({error})") from None
        if mapped != domain.lower():
            raise ValueError(f"the domain would be sent as {mapped!r}; write it that way if that is meant")
        try:
            wire = idna.encode(mapped, uts46=False, std3_rules=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as error:
            raise ValueError(f"the domain is not a valid internationalized name ({error})") from None
    _check_ldh(wire)
    return wire


def _check_a_label(label: str) -> None:
    try:
        unicode_label = idna.decode(label)
        if idna.encode(unicode_label).decode("ascii") != label.lower():
            raise idna.IDNAError("not in canonical form")
    except (idna.IDNAError, UnicodeError) as error:
        raise ValueError(f"{label!r} is not a valid IDNA A-label ({error})") from None


def _check_ldh(wire: str) -> None:
    if len(wire) > MAX_DOMAIN:
        raise ValueError(f"the domain is {len(wire)} characters on the wire; at most {MAX_DOMAIN} are allowed")
    for label in wire.split("."):
        if not _LDH_LABEL.fullmatch(label):
            if len(label) > _MAX_LABEL:
                raise ValueError(f"the label {label[:20]!r}... is longer than {_MAX_LABEL} characters")
            raise ValueError(f"{label!r} is not a valid domain label (letters, digits, inner hyphens)")


def check_local_part(local: str) -> str | None:
    """Why a (UTF-8) local part could change on the wire, or ``None`` when it cannot.

    A character that Unicode compatibility-normalizes to ASCII punctuation or space (fullwidth
    ``＞``, ``＠``, ``，``, ideographic space) or that is a space, control or format character is
    refused: a gateway that normalizes would see a different address or ESMTP parameters.
    """
    for char in local:
        if char.isascii():
            continue
        category = unicodedata.category(char)
        if category[0] in "ZC":
            return f"holds the invisible or space character U+{ord(char):04X}"
        folded = unicodedata.normalize("NFKC", char)
        if any(c.isascii() and not c.isalnum() for c in folded):
            return f"holds {char!r}, which some systems read as {folded!r}"
    return None


def check_hostname(value: str, what: str) -> str:
    """A host name (ASCII or IDN, returned as A-labels) or an address literal ``[…]``.

    For names sent in a protocol (the SMTP ``EHLO`` name) or connected to; raises
    :class:`ConfigurationError` naming ``what`` (for example ``"?ehlo="``).
    """
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what}: a host name is required")
    if value.startswith("[") and value.endswith("]"):
        literal = value[1:-1]
        if literal[:5].lower() == "ipv6:":
            literal = literal[5:]
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            raise ConfigurationError(f"{what}: {value!r} is not an address literal like [192.0.2.1]") from None
        return value
    try:
        return ascii_domain(value)
    except ValueError as error:
        shown = value.encode("unicode_escape").decode("ascii")[:80]
        raise ConfigurationError(f"{what}: {shown!r} is not a host name: {error}") from None


# -- provider passthrough ------------------------------------------------------------------------

#: Keys that would add recipients or replace the sender: only Message fields may do that.
_RECIPIENT_KEYS = frozenset(
    {
        "to", "cc", "bcc", "from", "sender", "replyto", "toaddresses", "ccaddresses", "bccaddresses",
        "fromemailaddress", "replytoaddresses", "destination", "destinations", "personalizations",
        "recipientvariables", "envelope", "returnpath", "feedbackforwardingemailaddress",
    }
)  # fmt: skip
#: Keys whose string values are body text and may span lines (footers, templates, content).
_MULTILINE_HINTS = ("html", "text", "content", "body", "footer", "data", "template")


def check_provider_options(options: object) -> dict[str, dict[str, Any]]:
    """Validate ``Message.provider_options`` with the header rules; return a plain copy.

    Passthrough goes straight into provider requests, so it is held to the same gate:

    * keys that set recipients or the sender (``to``, ``cc``, ``bcc``, ``from``, ``reply_to``,
      ``personalizations``, ``Destination``, ``recipient-variables``…, at any depth and in any
      spelling of case, ``-`` and ``_``) are refused: use the ``Message`` fields, which are
      validated and counted;
    * a ``subject`` value is header text; a ``headers`` mapping (or list of ``Name``/``Value``
      pairs) and Mailgun ``h:Name`` fields have valid names and header-text values;
    * every key is printable text, and every other string value is free of control characters
      unless its key names body content (contains ``html``, ``text``, ``content``, ``body``,
      ``footer``, ``data`` or ``template``), where line breaks are ordinary text.
    """
    if not isinstance(options, Mapping):
        raise InvalidMessage("provider_options", "must be a mapping of provider name to options")
    out: dict[str, dict[str, Any]] = {}
    for provider, extra in options.items():
        where = f"provider_options[{provider!r}]"
        check_header_text("provider_options key", provider)
        if not isinstance(extra, Mapping):
            raise InvalidMessage(where, "must be a mapping")
        _check_tree(where, "", extra)
        out[provider] = dict(extra)
    return out


def _check_tree(where: str, key: str, value: object) -> None:
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            if not isinstance(child_key, str):
                raise InvalidMessage(where, f"key {child_key!r} must be a string")
            _check_key(f"{where}[{child_key!r}]", child_key, child)
        return
    if isinstance(value, list | tuple):
        for i, child in enumerate(value):
            _check_tree(f"{where}[{i}]", key, child)
        return
    if isinstance(value, str):
        lowered = key.lower()
        if CONTROL.search(value) and not any(hint in lowered for hint in _MULTILINE_HINTS):
            raise InvalidMessage(where, "contains a line break or control character (header injection)")


def _check_key(where: str, key: str, value: object) -> None:
    check_header_text(where, key)
    normal = re.sub(r"[-_]", "", key.lower())
    if normal in _RECIPIENT_KEYS:
        raise InvalidMessage(
            where, "recipients and the sender cannot be set through provider_options; use the Message fields"
        )
    if normal == "subject":
        check_header_text(where, value)
    elif key[:2].lower() == "h:":  # Mailgun custom header field
        check_header_name(where, key[2:])
        check_header_text(where, value)
    elif normal == "headers":
        _check_header_block(where, value)
    _check_tree(where, key, value)


def _check_header_block(where: str, value: object) -> None:
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        pairs = [(h.get("Name"), h.get("Value")) if isinstance(h, Mapping) else (None, None) for h in value]
    else:
        raise InvalidMessage(where, "headers must be a mapping of name to value")
    from mailcore.message import reserved_header_hint  # the Message owns the reserved names

    for name, text in pairs:
        check_header_name(where, name)
        assert isinstance(name, str)
        hint = reserved_header_hint(name)
        if hint is not None:
            raise InvalidMessage(f"{where}[{name!r}]", f"{name} cannot be set through provider_options; {hint}")
        check_header_text(f"{where}[{name!r}]", text)


# -- endpoints ----------------------------------------------------------------------------------

#: URL parameter that allows plain ``http://`` to a host that is not loopback (see docs/security.md).
INSECURE_HTTP_PARAM = "insecure_http"


def check_endpoint_url(scheme: str, url: str, *, insecure_http: bool = False) -> str:
    """An API base URL: ``https://``, or ``http://`` to a loopback host or with the opt-in.

    Plain HTTP sends the API key and every message in clear text, so elsewhere it needs
    ``?insecure_http=true`` (``insecure_http=True`` in Python). Raises
    :class:`ConfigurationError`; returns ``url`` unchanged.
    """
    from urllib.parse import urlsplit

    from mailcore.config import is_loopback  # config imports this module lazily: no cycle

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{scheme}:// endpoint_url must start with http:// or https:// and name a host")
    if parts.scheme == "http" and not insecure_http and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"{scheme}:// endpoint_url is plain http:// to {parts.hostname}, which would send the API key and "
            f"messages unencrypted; use https://, or add ?{INSECURE_HTTP_PARAM}=true if the network is trusted"
        )
    return url
