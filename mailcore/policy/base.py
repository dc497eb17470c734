"""Shared pieces of the policy layer: the :class:`Policy` base, the per-message deadline, logs.

The per-message deadline lives in a :mod:`contextvars` variable. The outermost policy layer
that knows a deadline starts it when a message enters the stack; inner layers (each
transport's retry loop, a rate limit that may wait) read the same deadline, so a message never
spends more than ``RetryPolicy.deadline`` seconds in the whole stack, however it is nested.
``asyncio.to_thread`` copies the context, so ``asend`` sees it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar

from mailcore.errors import ConfigurationError
from mailcore.message import Message
from mailcore.redact import install_log_filter
from mailcore.result import Attempt, SendResult
from mailcore.transport import CheckStep, Transport, close_all

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Clock", "Policy", "Sleep", "Wrapper", "coerce_policy", "is_available", "remaining_time"]

log = install_log_filter(logging.getLogger("mailcore"))

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_Options = TypeVar("_Options", bound="DataclassInstance")

_deadline: ContextVar[float | None] = ContextVar("mailcore_deadline", default=None)


def start_deadline(seconds: float | None, clock: Clock) -> Token[float | None] | None:
    """Start the message's deadline unless an outer layer already did; pass the token to
    :func:`end_deadline`."""
    if seconds is None or _deadline.get() is not None:
        return None
    return _deadline.set(clock() + seconds)


def end_deadline(token: Token[float | None] | None) -> None:
    if token is not None:
        _deadline.reset(token)


def remaining_time(clock: Clock) -> float | None:
    """Seconds left before the current message's deadline, or ``None`` without a deadline."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - clock()


def is_available(transport: Transport) -> bool:
    """Whether ``transport`` would try a message now (its breaker is not open, its limit is not
    used up). Plain transports are always available. Never consumes a probe or a rate slot."""
    return transport.available() if isinstance(transport, Policy) else True


def with_attempts(result: SendResult, earlier: Sequence[Attempt]) -> SendResult:
    """``result`` with the ``earlier`` failed attempts put in front of its own."""
    return SendResult(
        message_id=result.message_id,
        transport=result.transport,
        provider_message_id=result.provider_message_id,
        attempts=(*earlier, *result.attempts),
        rejected=result.rejected,
    )


def log_event(
    level: int,
    text: str,
    *args: object,
    message: Message,
    transport: str,
    attempt: int | None = None,
    outcome: str | None = None,
    duration: float | None = None,
) -> None:
    """Log on ``mailcore`` with structured ``extra`` fields; never a body or a secret."""
    if not log.isEnabledFor(level):
        return
    extra: dict[str, Any] = {"transport": transport, "message_id": message.message_id}
    if attempt is not None:
        extra["attempt"] = attempt
    if outcome is not None:
        extra["outcome"] = outcome
    if duration is not None:
        extra["duration"] = round(duration, 6)
    log.log(level, text, *args, extra=extra)


class Policy(Transport):
    """A transport that wraps other transports (retry, breaker, limit, failover, balancing)."""

    def available(self) -> bool:
        """See :func:`is_available`."""
        return any(is_available(child) for child in self.children())

    def describe(self) -> str:
        """One line for ``mailcore explain``: what this layer is and its live state."""
        return type(self).__name__.lower()

    def route(self) -> str | None:
        """Where a message would go now (a leaf name, or a short text); ``None`` if nowhere."""
        for child in self.children():
            if is_available(child):
                return child.route() if isinstance(child, Policy) else child.name
        return None

    def open(self) -> None:
        for child in self.children():
            child.open()

    def close(self) -> None:
        close_all(self.children())


class Wrapper(Policy):
    """A policy around exactly one transport; it takes the inner transport's name."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name

    def children(self) -> Sequence[Transport]:
        return (self.inner,)

    def available(self) -> bool:
        return is_available(self.inner)

    def check(self) -> Iterator[CheckStep]:
        """``mailcore check`` looks through policy layers at the provider."""
        return self.inner.check()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.inner!r}>"


def coerce_policy(cls: type[_Options], value: object, option: str) -> _Options | None:
    """Read the ``option=`` argument (``retry=``, ``breaker=``) into a ``cls`` options dataclass.

    Accepts a ``cls`` instance, a dict of its fields, ``True`` (the defaults) or
    ``None``/``False`` (the feature is off, ``None`` is returned). An unknown field or another
    type is a :class:`~mailcore.errors.ConfigurationError` that lists what is accepted.
    """
    if value is None or value is False:
        return None
    if value is True:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        from mailcore.policy.fields import check_fields

        check_fields(cls, value, option)
        return cls(**value)
    raise ConfigurationError(f"{option}= takes a {cls.__name__}, a dict or None, not {type(value).__name__}")
