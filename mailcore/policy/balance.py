"""Balancing: spread messages over transports, then fail over among them.

Both balancers put the transports that are available now (breaker not open, limit not used up)
first, in their own order, and the unavailable ones last; a failure then moves on exactly as in
:class:`~mailcore.policy.failover.Failover`.

* :class:`RoundRobin` rotates the first choice, starting at a random transport so that many
  processes do not all start on the same one.
* :class:`Weighted` draws the first choice in proportion to each transport's weight
  (``weighted(a?weight=3 b)``: a gets 3 messages in 4), then the rest by descending weight.
"""

from __future__ import annotations

import itertools
import math
import random as _random
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence

from mailcore.errors import ConfigurationError
from mailcore.policy.base import Clock, Policy, is_available
from mailcore.policy.failover import Combinator
from mailcore.transport import Transport

__all__ = ["RoundRobin", "Weighted"]


def _route(transport: Transport) -> str | None:
    return transport.route() if isinstance(transport, Policy) else transport.name


class RoundRobin(Combinator):
    """Each message starts at the next transport in turn."""

    kind = "roundrobin"

    def __init__(
        self,
        transports: Sequence[Transport],
        *,
        on_ambiguous: str = "fail",
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        super().__init__(transports, on_ambiguous=on_ambiguous, deadline=deadline, clock=clock)
        self._lock = threading.Lock()
        self._next = int(random() * len(self.transports))

    def _take_turn(self) -> int:
        with self._lock:
            turn = self._next
            self._next = turn + 1
        return turn

    def order(self) -> list[Transport]:
        ready = [t for t in self.transports if is_available(t)]
        resting = [t for t in self.transports if t not in ready] if len(ready) < len(self.transports) else []
        if not ready:
            return resting
        start = self._take_turn() % len(ready)
        return ready[start:] + ready[:start] + resting

    def describe(self) -> str:
        return "roundrobin (random start)"

    def route(self) -> str | None:
        ready = [t for t in self.transports if is_available(t)]
        if not ready:
            return None
        return _route(ready[self._next % len(ready)])


class Weighted(Combinator):
    """Each message starts at a transport drawn in proportion to its weight."""

    kind = "weighted"

    def __init__(
        self,
        transports: Sequence[Transport] | Sequence[tuple[Transport, float]],
        weights: Sequence[float] | None = None,
        *,
        on_ambiguous: str = "fail",
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        pairs = [(t, 1.0) if isinstance(t, Transport) else (t[0], float(t[1])) for t in transports]
        if weights is not None:
            if len(weights) != len(pairs):
                raise ConfigurationError("weighted(...) needs one weight per transport")
            pairs = [(t, float(w)) for (t, _), w in zip(pairs, weights, strict=True)]
        if not all(0 < w < math.inf for _, w in pairs):  # also refuses nan
            raise ConfigurationError(
                "every weight must be a finite positive number (weight=3 sends 3 times as many as weight=1)"
            )
        super().__init__([t for t, _ in pairs], on_ambiguous=on_ambiguous, deadline=deadline, clock=clock)
        self.weights = [w for _, w in pairs]
        self.random = random
        self._by_weight = sorted(range(len(pairs)), key=lambda i: -self.weights[i])
        self._cumulative = list(itertools.accumulate(self.weights))

    def _draw(self, indexes: Sequence[int]) -> int:
        if len(indexes) == len(self.transports):  # all ready: precomputed table
            return bisect_right(self._cumulative, self.random() * self._cumulative[-1])
        cumulative = list(itertools.accumulate(self.weights[i] for i in indexes))
        return indexes[bisect_right(cumulative, self.random() * cumulative[-1])]

    def order(self) -> list[Transport]:
        ready = [i for i, t in enumerate(self.transports) if is_available(t)]
        if not ready:
            return list(self.transports)
        first = min(self._draw(ready), len(self.transports) - 1)
        rest = [i for i in self._by_weight if i != first]
        rest.sort(key=lambda i: i not in ready)  # stable: ready by weight, then resting
        return [self.transports[first]] + [self.transports[i] for i in rest]

    def describe(self) -> str:
        total = sum(self.weights)
        shares = ", ".join(f"{t.name} {w / total:.0%}" for t, w in zip(self.transports, self.weights, strict=True))
        return f"weighted ({shares})"

    def route(self) -> str | None:
        ready = [(t, w) for t, w in zip(self.transports, self.weights, strict=True) if is_available(t)]
        if not ready:
            return None
        total = sum(w for _, w in ready)
        return ", ".join(f"{_route(t)} {w / total:.0%}" for t, w in ready)
