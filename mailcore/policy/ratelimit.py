"""Our own per-transport rate limits (``?rate=14/s``, ``?rate=500/d``), backed by ``limits``.

Providers throttle or drop mail sent too fast (SES: 14/s by default; Gmail: a daily quota).
:class:`RateLimit` takes a slot before each attempt. When the limit is used up it raises
:class:`~mailcore.policy.errors.LimitReached` (a :class:`~mailcore.errors.RateLimited`) without
calling the provider, so the enclosing failover or balancer moves to the next transport at once.
With ``wait=True`` (set by :func:`~mailcore.policy.build` when the transport is the only one in
the stack) it waits for a free slot instead, as long as the message's deadline allows.

Counters live in the stack's state store, so ``state="redis://…"`` makes several worker
processes share one limit.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from mailcore.errors import ConfigurationError
from mailcore.message import Message
from mailcore.policy.base import Clock, Sleep, Wrapper, remaining_time
from mailcore.policy.errors import LimitReached
from mailcore.policy.state import Limiter, StateStore, open_state
from mailcore.result import SendResult
from mailcore.transport import Transport

if TYPE_CHECKING:
    from limits import RateLimitItem

__all__ = ["RateLimit", "parse_rate"]

_UNITS = {
    "s": "second", "sec": "second", "second": "second",
    "m": "minute", "min": "minute", "minute": "minute",
    "h": "hour", "hour": "hour",
    "d": "day", "day": "day",
}  # fmt: skip
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*", re.IGNORECASE)


def parse_rate(text: str) -> RateLimitItem:
    """``"14/s"``, ``"500/d"``, ``"100/m"``, ``"1000/h"``, ``"10/5s"`` → a ``limits`` item."""
    match = _RATE.fullmatch(text)
    unit = _UNITS.get(match.group(3).lower()) if match else None
    zero_period = match is not None and match.group(2) != "" and int(match.group(2)) < 1
    if match is None or unit is None or int(match.group(1)) < 1 or zero_period:
        raise ConfigurationError(f"rate={text!r}: use N/s, N/m, N/h or N/d, e.g. rate=14/s or rate=500/d")
    try:
        from limits import parse
    except ImportError:
        raise ConfigurationError("?rate= needs the limits package: pip install limits") from None
    multiples = f" {match.group(2)}" if match.group(2) else ""
    return parse(f"{match.group(1)} per{multiples} {unit}")


def rate_text(rate: RateLimitItem) -> str:
    multiples = rate.multiples if rate.multiples and rate.multiples > 1 else ""
    return f"{rate.amount}/{multiples}{rate.GRANULARITY.name[0]}"


class RateLimit(Wrapper):
    """At most ``rate`` sends through ``inner``; over it, move on (or wait, see the module)."""

    def __init__(
        self,
        inner: Transport,
        rate: str | RateLimitItem,
        *,
        store: StateStore | None = None,
        wait: bool = False,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__(inner)
        self.rate = parse_rate(rate) if isinstance(rate, str) else rate
        self.rate_text = rate_text(self.rate)
        store = store if store is not None else open_state()
        self.limiter = limiter or store.limiter(f"{self.name}:{self.rate_text}", self.rate)
        self.wait = wait
        self.clock = clock
        self.sleep = sleep

    def available(self) -> bool:
        return self.limiter.peek() and super().available()

    def describe(self) -> str:
        left = self.limiter.remaining()
        detail = f"{left} left" if left else f"used up, a slot frees in {self.limiter.wait_time():.1f}s"
        mode = "waits" if self.wait else "moves on"
        return f"rate limit {self.rate_text} ({detail}; over it {mode})"

    def send(self, message: Message) -> SendResult:
        while not self.limiter.acquire():
            wait = self.limiter.wait_time()
            left = remaining_time(self.clock)
            if not self.wait or left is None or wait >= left:
                raise LimitReached(
                    f"local rate limit {self.rate_text} reached; a slot frees in {wait:.1f}s",
                    retry_after=wait,
                    transport=self.name,
                )
            self.sleep(max(wait, 0.001))
        return self.inner.send(message)
