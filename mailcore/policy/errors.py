"""Errors the policy layer raises for itself: a route it chose not to try right now.

Both are :class:`~mailcore.errors.TransientError` subclasses, so a message that met only these
(every route open or over its limit) fails *transiently* and an outbox retries it later. They
are recorded in ``SendResult.attempts`` / ``DeliveryFailed.attempts`` with a zero duration, so
the operator can see why a backup was used; nothing was handed to the provider.
"""

from __future__ import annotations

from mailcore.errors import RateLimited, TransientError

__all__ = ["CircuitOpen", "LimitReached", "RouteSkipped"]


class RouteSkipped(TransientError):
    """The policy skipped this transport without calling it (circuit open, local limit reached)."""


class CircuitOpen(RouteSkipped):
    """The transport's circuit breaker is open: it failed recently and is resting.

    ``retry_at`` is the (wall-clock) time at which the breaker lets a probe through.
    """

    def __init__(self, message: str, *, retry_at: float = 0.0, transport: str | None = None) -> None:
        super().__init__(message, transport=transport)
        self.retry_at = retry_at


class LimitReached(RateLimited, RouteSkipped):
    """Our own ``?rate=`` limit for this transport is used up; ``retry_after`` says for how long."""
