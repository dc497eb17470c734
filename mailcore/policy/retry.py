"""Retries with exponential backoff, full jitter, a cap and an overall deadline per message.

:class:`RetryPolicy` is an immutable value (like urllib3's ``Retry``); :class:`Retrying` is the
transport that applies it to one inner transport::

    Retrying(smtp, RetryPolicy(attempts=4, first_delay=1.0, deadline=120))
"""

from __future__ import annotations

import dataclasses
import math
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mailcore.budget import expiry_error
from mailcore.errors import ConfigurationError, DeliveryFailed, RateLimited, SendError
from mailcore.message import Message
from mailcore.policy.base import (
    Clock,
    Sleep,
    Wrapper,
    coerce_policy,
    end_deadline,
    log_event,
    remaining_time,
    start_deadline,
    with_attempts,
)
from mailcore.policy.decisions import AMBIGUOUS_CHOICES, Action, decide
from mailcore.result import Attempt, SendResult
from mailcore.transport import Transport

__all__ = ["RetryPolicy", "Retrying"]

Random = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one transport is retried.

    :param attempts: tries per transport, the first one included (1 = no retry).
    :param first_delay: the backoff before the second try, in seconds.
    :param multiplier: each further backoff is this many times longer…
    :param cap: …but never longer than ``cap`` seconds.
    :param jitter: full jitter: the actual delay is uniform in ``[0, backoff)`` so that many
        workers do not retry in lock step.
    :param deadline: overall seconds a message may spend in the whole policy stack (every
        transport, retry and wait included); ``None`` for no deadline. No retry and no wait
        starts that would end past it, no transport is tried once it has passed, and each
        attempt gets at most the time left (see :mod:`mailcore.budget`).
    """

    attempts: int = 3
    first_delay: float = 0.5
    multiplier: float = 2.0
    cap: float = 30.0
    jitter: bool = True
    deadline: float | None = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.first_delay < 0 or self.cap < 0:
            raise ConfigurationError("retry delays must not be negative")
        if self.multiplier < 1:
            raise ConfigurationError(f"retry multiplier must be at least 1, not {self.multiplier}")
        for name in ("first_delay", "multiplier", "cap"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigurationError(f"retry {name} must be a finite number, not {getattr(self, name)}")
        if self.deadline is not None and not (math.isfinite(self.deadline) and self.deadline > 0):
            raise ConfigurationError(
                f"retry deadline must be a finite number of seconds above 0, not {self.deadline} "
                "(use deadline=None for no deadline)"
            )

    @classmethod
    def coerce(cls, value: RetryPolicy | Mapping[str, Any] | bool | None) -> RetryPolicy | None:
        """Accept a RetryPolicy, a dict of its fields, ``True`` (defaults) or ``None``/``False``
        (no retries)."""
        return coerce_policy(cls, value, "retry")

    def replace(self, **changes: Any) -> RetryPolicy:
        return dataclasses.replace(self, **changes)

    def backoff(self, retry: int) -> float:
        """The ceiling of the delay before retry number ``retry`` (1 = before the 2nd try).

        Finite for any ``retry``: an outbox asks for run 10 000 of a week-old message, where
        ``multiplier ** n`` would overflow a float; the cap was reached long before.
        """
        if self.first_delay == 0:
            return 0.0
        try:
            growth = float(self.multiplier) ** max(retry - 1, 0)
        except OverflowError:
            return float(self.cap)
        return float(min(self.cap, self.first_delay * growth))

    def delay(self, retry: int, random: Random = _random.random) -> float:
        """The delay before retry number ``retry``; pure given ``random`` (uniform in [0, 1))."""
        ceiling = self.backoff(retry)
        return ceiling * random() if self.jitter else ceiling

    def describe(self) -> str:
        """The retry budget of one transport; the message deadline is shown once, at the top
        (``mailcore explain``), because it bounds the whole stack, not each transport."""
        jitter = " jittered" if self.jitter else ""
        return f"×{self.attempts}, backoff {self.first_delay:g}s, ×{self.multiplier:g} each, ≤ {self.cap:g}s{jitter}"


class Retrying(Wrapper):
    """Retry one transport per :class:`RetryPolicy` and the decision table.

    Gives up with a :class:`DeliveryFailed` listing every attempt; the enclosing failover reads
    its last error to decide what comes next. Retries sleep in the calling thread (``asend``
    runs the whole sync stack in a worker thread, so the event loop never blocks).
    """

    def __init__(
        self,
        inner: Transport,
        policy: RetryPolicy | None = None,
        *,
        on_ambiguous: str = "fail",
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        random: Random = _random.random,
    ) -> None:
        super().__init__(inner)
        if on_ambiguous not in AMBIGUOUS_CHOICES:
            raise ConfigurationError(f"on_ambiguous={on_ambiguous!r}; choose one of {', '.join(AMBIGUOUS_CHOICES)}")
        self.policy = policy or RetryPolicy()
        self.on_ambiguous = on_ambiguous
        self.clock = clock
        self.sleep = sleep
        self.random = random

    def describe(self) -> str:
        extra = ", ambiguous timeouts retried" if self.on_ambiguous == "retry" else ""
        return f"retry {self.policy.describe()}{extra}"

    def send(self, message: Message) -> SendResult:
        token = start_deadline(self.policy.deadline, self.clock, expires=message.expires)
        try:
            return self._send(message)
        finally:
            end_deadline(token)

    def _send(self, message: Message) -> SendResult:
        attempts: list[Attempt] = []
        number = 0
        while True:
            number += 1
            expired = expiry_error(self.name)
            if expired is not None:  # never an attempt after the message's expiry
                attempts.append(Attempt(self.name, expired, 0.0))
                raise DeliveryFailed(
                    f"{self.name} stopped retrying {message.message_id}: {expired}",
                    attempts=attempts,
                    transport=self.name,
                )
            started = self.clock()
            try:
                result = self.inner.send(message)
            except DeliveryFailed as error:
                attempts.extend(error.attempts)
                last: BaseException | None = error.last_error
            except SendError as error:
                attempts.append(Attempt(error.transport or self.name, error, self.clock() - started))
                last = error
            else:
                return with_attempts(result, attempts) if attempts else result
            wait = self._wait_before_retry(last, number)
            if wait is None:
                retryable = number < self.policy.attempts and decide(last, self.on_ambiguous) is Action.RETRY
                expired = expiry_error(self.name, ahead=math.inf) if retryable else None
                if expired is not None:  # only the message's expiry stopped the retries
                    attempts.append(Attempt(self.name, expired, 0.0))
                raise DeliveryFailed(
                    f"{self.name} gave up on {message.message_id} after {number} attempt(s): {last}",
                    attempts=attempts,
                    transport=self.name,
                )
            log_event(
                20, "attempt %d on %s failed (%s); retrying in %.2fs", number, self.name, type(last).__name__, wait,
                message=message, transport=self.name, attempt=number, outcome="retry", duration=attempts[-1].duration,
            )  # fmt: skip
            if wait > 0:
                self.sleep(wait)

    def _wait_before_retry(self, error: BaseException | None, number: int) -> float | None:
        """Seconds to wait before the next try, or ``None`` to give up on this transport."""
        if number >= self.policy.attempts or decide(error, self.on_ambiguous) is not Action.RETRY:
            return None
        left = remaining_time(self.clock)
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        if retry_after is not None:
            # the provider said how long; honour it only when it fits, else move on now
            limit = left if left is not None else self.policy.cap
            return retry_after if retry_after < limit else None
        wait = self.policy.delay(number, self.random)
        if left is not None and wait >= left:
            return None
        return wait
