"""When to try a parked message again: the retry policy's delays, spaced for an outbox.

In-send retries wait seconds; the outbox waits for providers to come back, so its default
:class:`~mailcore.policy.retry.RetryPolicy` starts at 10 s and doubles up to 15 minutes, with
full jitter so a fleet of workers does not retry in lock-step. Any object with a
``delay(n) -> float`` method can replace it. A provider's ``Retry-After`` is honoured as a floor.
"""

from __future__ import annotations

from typing import Protocol

from mailcore.errors import DeliveryFailed, RateLimited
from mailcore.policy.retry import RetryPolicy

__all__ = ["OUTBOX_BACKOFF", "Delays", "next_delay"]

#: The outbox's default spacing between delivery runs of one message.
OUTBOX_BACKOFF = RetryPolicy(first_delay=10.0, multiplier=2.0, cap=900.0, jitter=True, deadline=None)


class Delays(Protocol):
    """Anything that says how long to wait before retry ``n`` (``n`` from 1), like RetryPolicy."""

    def delay(self, n: int) -> float: ...


def next_delay(delays: Delays, run: int, failure: DeliveryFailed | None = None) -> float:
    """Seconds before run ``run + 1`` of a message whose run ``run`` failed transiently.

    A :class:`RateLimited` ``retry_after`` from the last attempt is a floor.
    """
    wait = max(0.0, float(delays.delay(max(run, 1))))
    last = failure.last_error if failure is not None else None
    if isinstance(last, RateLimited) and last.retry_after:
        wait = max(wait, float(last.retry_after))
    return wait
