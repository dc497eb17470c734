"""Keeping a claim alive while its message is being sent, and how long a send may take.

A worker claims rows under a *lease*: if it dies, the rows become claimable again when the lease
runs out. A send that outlives the lease would let a second worker send the same message, so
the worker renews the lease of the row in flight from a small heartbeat thread
(:class:`LeaseKeeper`) every ``lease / 4`` seconds until the row's outcome is recorded.

:func:`send_budget` says how long one ``Mailer.send`` through a policy stack may take at worst
(the message deadline plus one attempt's ``timeout``); the worker logs it against its lease at
startup, and :func:`check_lease` refuses leases that no heartbeat can keep (non-finite, or too
short to renew in time).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mailcore.errors import ConfigurationError
from mailcore.redact import install_log_filter
from mailcore.transport import Transport

__all__ = ["MIN_LEASE", "LeaseKeeper", "check_lease", "send_budget"]

log = install_log_filter(logging.getLogger("mailcore.outbox"))

#: The shortest lease a worker accepts: its heartbeat renews every quarter of it.
MIN_LEASE = 0.1


def check_lease(lease: float) -> float:
    """``lease`` as a float, or a :class:`ConfigurationError` saying what is wrong with it."""
    value = float(lease)
    if not math.isfinite(value) or value < MIN_LEASE:
        raise ConfigurationError(
            f"outbox lease must be a finite number of seconds >= {MIN_LEASE:g}, not {lease!r}; "
            "it is how long a dead worker's messages wait before another worker takes them "
            "(the running worker renews it while a send is in flight), e.g. 300"
        )
    return value


def send_budget(transport: Transport) -> float | None:
    """The worst-case seconds one send through ``transport`` may take, or ``None`` if unbounded.

    A stack that knows its own budget says so through a ``time_budget()`` method (seconds or
    ``None``). Otherwise: the outermost message deadline in the stack (``RetryPolicy.deadline``
    or a combinator's ``deadline``) plus the longest per-attempt ``timeout`` of its transports,
    since an attempt started just before the deadline may run its full timeout. No deadline
    anywhere means no bound (retries and waits are then limited only by their counts).
    """
    own = getattr(transport, "time_budget", None)
    if callable(own):
        budget = own()
        return None if budget is None else float(budget)
    deadline = _outermost_deadline(transport)
    if deadline is None:
        return None
    return deadline + max((_attempt_timeout(leaf) for leaf in _leaves(transport)), default=0.0)


def _outermost_deadline(transport: Transport) -> float | None:
    """The first deadline met walking the stack from the top (the one that starts the clock)."""
    for candidate in (
        getattr(transport, "deadline", None),
        getattr(getattr(transport, "policy", None), "deadline", None),
    ):
        if isinstance(candidate, int | float) and math.isfinite(candidate):
            return float(candidate)
    found = [d for d in (_outermost_deadline(child) for child in transport.children()) if d is not None]
    return max(found, default=None)


def _leaves(transport: Transport) -> Iterator[Transport]:
    children = transport.children()
    if not children:
        yield transport
    for child in children:
        yield from _leaves(child)


def _attempt_timeout(leaf: Transport) -> float:
    """A provider transport's per-attempt ``timeout`` (directly or in its ``settings``), else 0."""
    for owner in (leaf, getattr(leaf, "settings", None)):
        value = getattr(owner, "timeout", None)
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            return float(value)
    return 0.0


class LeaseKeeper:
    """Renews the lease of the row being sent, from a daemon thread, every ``interval`` seconds.

    :param renew: called with a row id; returns whether this worker still held the row. It may
        raise a storage error (a locked or full database): the keeper logs it and tries again at
        the next beat, so a brief outage does not stop the heartbeat.
    :param interval: seconds between renewals; the worker uses a quarter of its lease.
    """

    def __init__(self, renew: Callable[[str], bool], interval: float) -> None:
        self._renew = renew
        self.interval = interval
        self._held: str | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, row_id: str) -> Iterator[None]:
        """Keep ``row_id``'s lease alive for the duration of the ``with`` block."""
        self._ensure_thread()
        self._held = row_id
        try:
            yield
        finally:
            self._held = None

    def close(self) -> None:
        """Stop the heartbeat thread (a later :meth:`hold` starts a new one)."""
        self._closed.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _ensure_thread(self) -> None:
        with self._guard:
            if self._thread is not None and self._thread.is_alive():
                return
            self._closed = threading.Event()
            self._thread = threading.Thread(
                target=self._beat, args=(self._closed,), name="mailcore-outbox-lease", daemon=True
            )
            self._thread.start()

    def _beat(self, closed: threading.Event) -> None:
        while not closed.wait(self.interval):
            row_id = self._held
            if row_id is None:
                continue
            try:
                held = self._renew(row_id)
            except Exception as error:  # a storage error: keep beating, the next renewal may work
                log.warning("outbox: could not renew the lease on %s (will try again): %s", row_id, error)
                continue
            if not held and self._held == row_id:
                log.error(
                    "outbox: the lease on %s was lost while it was being sent (another worker may send it too)",
                    row_id,
                )
