"""The time budget: a wall-clock bound per attempt and a deadline per message.

Two numbers bound every send (docs/policies.md, "Time budget"):

* ``timeout`` — a transport's URL parameter: the wall-clock bound on **one attempt** (connect,
  TLS, request, response), on every transport alike;
* ``deadline`` — ``RetryPolicy.deadline``: the bound on **the whole message** in the policy stack
  (every attempt, retry, wait and failover). No attempt runs past it.

A message's ``expires`` caps the deadline: the outermost layer passes it to
:func:`start_deadline`, and once it has passed :func:`attempt_seconds` raises
:class:`~mailcore.errors.MessageExpired` instead of starting an attempt, so the policy never
retries or fails over past the expiry.

The deadline lives in a :mod:`contextvars` variable. The outermost policy layer that knows a
deadline starts it (:func:`start_deadline`) when a message enters the stack; everything below it
reads the same one. A provider transport asks :func:`attempt_seconds` at the start of each
attempt and gets ``min(timeout, time left)``; it then bounds its whole attempt by that many
seconds. ``asyncio.to_thread`` copies the context, so ``asend`` sees the deadline too; a
transport that starts threads of its own passes it on with ``contextvars.copy_context()``.

Plugin authors: call ``seconds = attempt_seconds(self.timeout)`` first thing in ``deliver`` and
never wait longer than that in total. Validate timeout-like settings with :func:`positive_seconds`.
To bound each blocking socket call by the time left, :func:`arm_timeout` sets the socket's
timeout only when it is more than :data:`TIMEOUT_SLACK` away from the time left.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime

from mailcore.errors import ConfigurationError, MessageExpired, SendTimeout

__all__ = [
    "TIMEOUT_SLACK",
    "Clock",
    "arm_timeout",
    "attempt_seconds",
    "end_deadline",
    "expiry_error",
    "positive_seconds",
    "remaining_time",
    "start_deadline",
]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class _Deadline:
    at: float
    clock: Clock
    #: the clock reading at which the message expires, when its ``expires`` is the binding bound
    expiry: float | None = None
    #: the expiry in epoch seconds (for the error text)
    expires_at: float | None = None


_deadline: ContextVar[_Deadline | None] = ContextVar("mailcore_deadline", default=None)


def start_deadline(
    seconds: float | None, clock: Clock = time.monotonic, *, expires: datetime | None = None
) -> Token[_Deadline | None] | None:
    """Start the message's deadline unless an outer layer already did; pass the token to
    :func:`end_deadline`. ``clock`` is the one the deadline is measured with (tests fake it).

    ``expires`` (the message's, an aware datetime) caps it: the deadline is the earlier of
    ``seconds`` from now and the expiry; with ``seconds=None`` the expiry alone bounds it.
    """
    if _deadline.get() is not None:
        return None
    now = clock()
    if expires is None:
        if seconds is None:
            return None
        return _deadline.set(_Deadline(now + seconds, clock))
    epoch = expires.timestamp()
    expiry = now + (epoch - time.time())  # the expiry on the deadline's own clock
    at = expiry if seconds is None else min(now + seconds, expiry)
    return _deadline.set(_Deadline(at, clock, expiry if at == expiry else None, epoch))


def end_deadline(token: Token[_Deadline | None] | None) -> None:
    """End the deadline a matching :func:`start_deadline` started (``None``: nothing to do)."""
    if token is not None:
        _deadline.reset(token)


def remaining_time(clock: Clock | None = None) -> float | None:
    """Seconds left before the current message's deadline, or ``None`` without a deadline.

    Measured with the deadline's own clock unless ``clock`` is given.
    """
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline.at - (clock or deadline.clock)()


def expiry_error(transport: str | None = None, *, ahead: float = 0.0) -> MessageExpired | None:
    """The error to raise instead of starting an attempt when the current message has expired
    (its ``expires`` capped the deadline and has passed), or will have ``ahead`` seconds from
    now (``math.inf``: whenever the expiry is what bounds the deadline); ``None`` otherwise."""
    deadline = _deadline.get()
    if deadline is None or deadline.expiry is None or deadline.clock() + ahead < deadline.expiry:
        return None
    epoch = deadline.expires_at or 0.0
    when = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # the text of mailcore.outbox.lifetimes.expiry_reason (not imported: budget stays a leaf)
    return MessageExpired(f"not sent: expired at {when} before delivery", expires_at=epoch, transport=transport)


def attempt_seconds(timeout: float) -> float:
    """The wall-clock seconds the attempt starting now may take: ``min(timeout, time left)``.

    Raises :class:`~mailcore.errors.SendTimeout` (``maybe_sent=False``: nothing was sent) when
    the message's deadline has already passed, so no attempt starts that could not finish, and
    :class:`~mailcore.errors.MessageExpired` when that deadline was the message's expiry.
    """
    left = remaining_time()
    if left is None:
        return timeout
    expired = expiry_error()
    if expired is not None:
        raise expired
    if left <= 0:
        raise SendTimeout("the message's deadline passed before this attempt could start", maybe_sent=False)
    return min(timeout, left)


def positive_seconds(value: object, name: str, where: str) -> float:
    """``value`` as a finite number of seconds above zero, else a :class:`ConfigurationError`.

    ``nan`` and ``inf`` are refused: either would switch the bound off without saying so.
    ``where`` (a masked URL or a transport name) tells the user which setting is wrong.
    """
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: {name}={value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{where}: {name}={value!r} must be a positive, finite number of seconds")
    return seconds


#: Seconds a socket's timeout may differ from the time left before :func:`arm_timeout` sets it.
TIMEOUT_SLACK = 0.02


def arm_timeout(sock: socket.socket, seconds: float) -> float:
    """Give ``sock`` a timeout of ``seconds`` unless its timeout is already within
    :data:`TIMEOUT_SLACK` of it; return the timeout now in effect.

    ``settimeout`` is a system call (``ioctl``) that releases the GIL: setting the time left
    before every read and write of every request cost a call and a hand-off to another thread
    each. The time left before an attempt's end shrinks by microseconds between the reads and
    writes of one request, and each attempt starts with nearly the same budget, so on a busy
    connection the timeout set once stays within the slack for many requests.

    The bound, for a blocking call given the timeout this returns: it waits at most
    ``seconds + TIMEOUT_SLACK``, so it never outlasts the attempt's end (or a read timeout) by
    more than :data:`TIMEOUT_SLACK`. It may also time out up to :data:`TIMEOUT_SLACK` *before*
    ``seconds``; a caller that must not give up early (a read) resumes for the time really left
    (see :mod:`mailcore.http` and the SMTP wire). A socket without a timeout or in non-blocking
    mode always gets one.
    """
    current = sock.gettimeout()
    if current is None or current <= 0 or abs(current - seconds) > TIMEOUT_SLACK:
        sock.settimeout(seconds)
        return seconds
    return current
