"""Combinators: try several transports for one message, in an order each one decides.

:class:`Combinator` holds the shared loop (the decision table, the deadline, every attempt
recorded, a WARNING on each failover); :class:`Failover` tries its transports in the configured
order. The balancers in :mod:`mailcore.policy.balance` only change the order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from mailcore.budget import expiry_error
from mailcore.capabilities import CannotCarry, cannot_carry
from mailcore.errors import ConfigurationError, DeliveryFailed, SendError
from mailcore.message import Message
from mailcore.policy.base import (
    Clock,
    Policy,
    end_deadline,
    log_event,
    remaining_time,
    start_deadline,
    with_attempts,
)
from mailcore.policy.decisions import AMBIGUOUS_CHOICES, Action, decide
from mailcore.policy.errors import RouteSkipped
from mailcore.policy.suppress import avoided
from mailcore.result import Attempt, SendResult
from mailcore.transport import Transport

__all__ = ["Combinator", "Failover"]

WARNING = 30
DEBUG = 10


class Combinator(Policy):
    """Tries ``transports`` one after another (in :meth:`order`) until one delivers.

    After a failure the decision table (:func:`~mailcore.policy.decisions.decide`) says whether
    to go on: ``MessageRejected`` and an ambiguous timeout stop at once; everything else moves
    to the next transport, while the message's deadline has not passed.
    """

    kind = "combinator"

    def __init__(
        self,
        transports: Sequence[Transport],
        *,
        on_ambiguous: str = "fail",
        deadline: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if not transports:
            raise ConfigurationError(f"{self.kind}(...) needs at least one transport")
        if on_ambiguous not in AMBIGUOUS_CHOICES:
            raise ConfigurationError(f"on_ambiguous={on_ambiguous!r}; choose one of {', '.join(AMBIGUOUS_CHOICES)}")
        self.transports = list(transports)
        self.on_ambiguous = on_ambiguous
        self.deadline = deadline
        self.clock = clock
        self.name = f"{self.kind}(" + " ".join(t.name for t in self.transports) + ")"

    def children(self) -> Sequence[Transport]:
        return self.transports

    def order(self) -> Iterable[Transport]:
        """The transports to try for the next message, first choice first."""
        return self.transports

    def describe(self) -> str:
        return self.kind

    def send(self, message: Message) -> SendResult:
        token = start_deadline(self.deadline, self.clock, expires=message.expires)
        try:
            return self._send(message)
        finally:
            end_deadline(token)

    def _send(self, message: Message) -> SendResult:
        attempts: list[Attempt] = []
        last: BaseException | None = None
        for transport in self.order():
            expired = expiry_error(self.name)
            if expired is not None:  # never an attempt (or a failover) after the message's expiry
                attempts.append(Attempt(self.name, expired, 0.0))
                last = expired
                break
            if last is not None:
                left = remaining_time(self.clock)
                if left is not None and left <= 0:
                    break  # the deadline has passed: no new attempt; an outbox retries later
                self._log_failover(message, last, transport, len(attempts))
            skip = cannot_carry(transport, message) or avoided(transport)
            if skip is not None:  # recorded like any attempt, but nothing is called or sent
                attempts.append(Attempt(skip.transport or transport.name, skip, 0.0))
                last = skip
                continue
            started = self.clock()
            try:
                result = transport.send(message)
            except DeliveryFailed as error:
                attempts.extend(error.attempts)
                last = error.last_error or error
            except SendError as error:
                attempts.append(Attempt(error.transport or transport.name, error, self.clock() - started))
                last = error
            else:
                return with_attempts(result, attempts) if attempts else result
            if decide(last, self.on_ambiguous) is Action.STOP:
                break
        raise DeliveryFailed(
            f"{self.name} did not deliver {message.message_id}: {last}",
            attempts=attempts,
            transport=self.name,
        )

    def _log_failover(self, message: Message, error: BaseException, to: Transport, count: int) -> None:
        """WARNING for a real failure, so nobody runs on a backup unaware; DEBUG for a skip."""
        skipped = isinstance(error, RouteSkipped | CannotCarry)
        failed = getattr(error, "transport", None) or "?"
        log_event(
            DEBUG if skipped else WARNING, "%s %s (%s: %s); failing over to %s",
            failed, "skipped" if skipped else "failed", type(error).__name__, error, to.name,
            message=message, transport=failed, attempt=count, outcome="failover",
        )  # fmt: skip


class Failover(Combinator):
    """Try each transport in the configured order until one accepts the message."""

    kind = "failover"
