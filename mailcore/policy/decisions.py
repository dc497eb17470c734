"""The decision table, as pure functions of the core error classes.

=======================================  ===========  ===================================
error                                    action       circuit breaker
=======================================  ===========  ===================================
TransientError (ConnectionFailed, …)     RETRY        counts one failure
RateLimited (provider)                   RETRY        counts one failure
  ↳ waits ``retry_after`` when it fits the deadline, else moves on
SendTimeout(maybe_sent=False)            NEXT         counts one failure
  ↳ a hang before hand-over: fail over now instead of waiting a second timeout
SendTimeout(maybe_sent=True)             STOP         counts one failure
  ↳ RETRY when ``on_ambiguous="retry"``; the outcome is ``"unknown"``
TransportRejected                        NEXT         opens at once
other PermanentError                     NEXT         counts one failure
MessageRejected                          STOP         neutral (the provider answered)
RouteSkipped (circuit open, own limit)   NEXT         neutral
CannotCarry (lacks a capability)         NEXT         neutral (nothing was sent)
ConfigurationError                       raised as is, never caught by a policy
=======================================  ===========  ===================================

``RETRY`` means: retry on the same transport while the retry budget and the deadline allow,
then behave as ``NEXT``. A combinator (failover, balancers) treats ``RETRY`` as ``NEXT``.
"""

from __future__ import annotations

import enum

from mailcore.capabilities import CannotCarry
from mailcore.errors import (
    DeliveryFailed,
    MessageRejected,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.policy.errors import RouteSkipped

__all__ = ["AMBIGUOUS_CHOICES", "Action", "Verdict", "breaker_verdict", "decide"]

#: Accepted values of ``on_ambiguous``.
AMBIGUOUS_CHOICES = ("fail", "retry")


class Action(enum.Enum):
    """What the policy does after a failed attempt."""

    RETRY = "retry"  #: the same transport again, after a backoff, then the next one
    NEXT = "next"  #: the next transport at once
    STOP = "stop"  #: give up on the message: no retry, no failover


class Verdict(enum.Enum):
    """How an attempt's outcome moves the transport's circuit breaker."""

    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"  #: open the circuit at once
    NEUTRAL = "neutral"


def _root(error: BaseException | None) -> BaseException | None:
    """The error that ended a nested :class:`DeliveryFailed`, or the error itself."""
    while isinstance(error, DeliveryFailed):
        error = error.last_error
    return error


def decide(error: BaseException | None, on_ambiguous: str = "fail") -> Action:
    """The action for a failed attempt (see the module table)."""
    error = _root(error)
    if error is None:
        return Action.NEXT
    if isinstance(error, MessageRejected):
        return Action.STOP
    if isinstance(error, SendTimeout):
        if not error.maybe_sent:
            return Action.NEXT  # a provider that hangs seldom answers a second later: fail over
        return Action.RETRY if on_ambiguous == "retry" else Action.STOP
    if isinstance(error, RouteSkipped):
        return Action.NEXT
    if isinstance(error, TransientError):
        return Action.RETRY
    return Action.NEXT


def breaker_verdict(error: BaseException | None) -> Verdict:
    """How a failed send through a transport moves that transport's breaker.

    ``error`` may be a :class:`DeliveryFailed` from a retry loop: then every attempt counts,
    so two connection failures followed by a local rate-limit skip still count as a failure.
    """
    errors = [attempt.error for attempt in error.attempts] if isinstance(error, DeliveryFailed) else [error]
    real = [e for e in errors if e is not None and not isinstance(e, RouteSkipped | CannotCarry)]
    if not real:
        return Verdict.NEUTRAL
    if any(isinstance(e, TransportRejected) for e in real):
        return Verdict.TRIP
    if isinstance(real[-1], MessageRejected):
        return Verdict.SUCCESS
    return Verdict.FAILURE
