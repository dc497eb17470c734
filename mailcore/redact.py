"""Keep secrets out of reprs, logs and exception texts, and control characters off terminals.

* :class:`Secret` holds a credential and never shows it.
* :func:`mask_secrets` scrubs known secrets out of a provider's answer before it becomes part of
  an error: raw (in any letter case), percent-encoded, and base64-encoded at any alignment, so
  a secret inside ``base64("api:KEY")`` (HTTP Basic) or ``base64("\\0user\\0password")`` (SMTP
  AUTH PLAIN) is caught too.
* :func:`printable` escapes control characters in text that came from the network (a provider's
  reply, an SMTP banner) before it is printed or logged, so a server cannot move the cursor,
  retitle a terminal (ESC/OSC sequences) or forge log lines (CR/LF).
* :func:`conceal_traceback` cuts the traceback of a configuration error at a function that holds
  credentials only as :class:`Secret`, so debug pages that print frame locals (Django's) never
  see the revealed text in the frames below it.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "Secret", "conceal_traceback", "mask_secrets", "printable", "reveal"]

MASK = "***"

P = ParamSpec("P")
R = TypeVar("R")


class Secret:
    """A credential that prints as ``***``; call :meth:`reveal` where it is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __reduce__(self) -> str:  # never pickle a credential by accident
        raise TypeError("a Secret cannot be pickled")


def reveal(value: str | Secret) -> str:
    """The text of ``value``, revealed if it is a :class:`Secret`."""
    return value.reveal() if isinstance(value, Secret) else value


def mask_secrets(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """Replace each secret in ``text`` with ``***``: raw (any case), percent-encoded or base64.

    Secrets shorter than 3 characters are left alone (masking every ``a`` would destroy the
    text and protect nothing).
    """
    for secret in secrets:
        if secret is None:
            continue
        value = reveal(secret)
        if len(value) < 3:
            continue
        for form in _encoded_forms(value):
            text = re.sub(re.escape(form), MASK, text, flags=re.IGNORECASE if form == value else 0)
    return text


def _encoded_forms(value: str) -> list[str]:
    """``value`` as it may appear in a reply: raw, percent-encoded, base64 (every alignment)."""
    forms = {value, quote(value, safe=""), quote_plus(value, safe="")}
    data = value.encode()
    for offset in range(3):  # a secret after 0, 1 or 2 other bytes encodes differently
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + data).decode("ascii").rstrip("=")
            start = (offset * 4 + 2) // 3  # characters that still depend on the prefix bytes
            end = len(encoded) - (1 if (offset + len(data)) % 3 else 0)  # last char mixes with what follows
            if end - start >= 4:
                forms.add(encoded[start:end])
    forms.discard("")
    return sorted(forms, key=len, reverse=True)


# -- control characters ------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def printable(text: object) -> str:
    """``str(text)`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u202e``).

    Use it on anything that came from the network before it reaches a terminal or a log line:
    C0/C1 controls (ESC, CSI, OSC, CR, LF, BEL…), line and paragraph separators and the Unicode
    bidi overrides are shown as escapes, never interpreted.
    """
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class PrintableArgs(logging.Filter):
    """A logging filter that escapes control characters in a record's arguments.

    Installed on mailcore's loggers, so a provider's reply quoted in a log line cannot forge
    another line or send escape sequences to a terminal that tails the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_printable_arg(arg) for arg in record.args)
        if record.exc_info and not record.exc_text:  # a traceback keeps its lines, nothing else
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = "\n".join(printable(line) for line in text.split("\n"))
        return True


def _printable_arg(arg: object) -> object:
    if isinstance(arg, str | BaseException):
        return printable(arg)
    return arg


def install_log_filter(logger: logging.Logger) -> logging.Logger:
    """Add :class:`PrintableArgs` to ``logger`` once; return the logger."""
    if not any(isinstance(f, PrintableArgs) for f in logger.filters):
        logger.addFilter(PrintableArgs())
    return logger


# -- tracebacks --------------------------------------------------------------------------------


def conceal_traceback(func: Callable[P, R]) -> Callable[P, R]:
    """Re-raise a :class:`~mailcore.errors.ConfigurationError` from ``func`` without the frames
    below it (``from None``, traceback cleared).

    Django's debug page and error e-mails print the local variables of every frame of a
    traceback; the frames under ``func`` hold a revealed URL. The error's text is already
    masked, and says what is wrong, so nothing a user needs is lost.
    """
    from mailcore.errors import ConfigurationError

    @functools.wraps(func)
    def concealing(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as error:
            raise error.with_traceback(None) from None

    return concealing
