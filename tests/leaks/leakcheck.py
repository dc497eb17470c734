"""Find any piece of a secret in any text: 6-character fragments of its raw, lower-cased,
percent-encoded and base64 forms (base64 at every alignment, as inside ``base64("api:KEY")``)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

FRAGMENT = 6


def forms(secret: str) -> set[str]:
    data = secret.encode()
    found = {secret, secret.lower(), quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        start = (offset * 4 + 2) // 3
        found.add(encoded[start : len(encoded) - 1])
    return found


def fragments(secret: str) -> set[str]:
    pieces: set[str] = set()
    for form in forms(secret):
        pieces.update(form[i : i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1))
    return pieces


def leaks(texts: Iterable[str], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(fragment, text excerpt) for every fragment of every secret found in any text."""
    found = []
    pieces = {piece for secret in secrets for piece in fragments(secret)}
    for text in texts:
        for piece in pieces:
            at = text.find(piece)
            if at >= 0:
                found.append((piece, text[max(0, at - 60) : at + 60]))
    return found
