"""Provider answer → core error: a pure function, the only place that knows the codes."""

from __future__ import annotations

from mailcore.errors import (
    MessageRejected,
    RateLimited,
    SendError,
    TransientError,
    TransportRejected,
)


def classify(status: int, text: str, retry_after: float | None = None) -> SendError | None:
    """``None`` for success, else the core error this answer means (see provider-errors.md)."""
    if 200 <= status < 300:
        return None
    if status == 429:
        return RateLimited(text, retry_after=retry_after)
    if status in (401, 403):
        return TransportRejected(text)
    if 400 <= status < 500:
        return MessageRejected(text)
    return TransientError(text)
