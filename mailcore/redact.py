"""Keep secrets out of reprs, logs and exception texts.

:class:`Secret` holds a credential and never shows it; :func:`mask_secrets` scrubs known
secrets (and their base64 forms, as SMTP AUTH sends them) out of a provider's answer before it
becomes part of an error.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

__all__ = ["MASK", "Secret", "mask_secrets"]

MASK = "***"


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


def mask_secrets(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """Replace every occurrence of each secret (raw or base64-encoded) in ``text`` with ``***``."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if len(value) < 3:
            continue
        text = text.replace(value, MASK)
        text = text.replace(base64.b64encode(value.encode()).decode("ascii"), MASK)
    return text
