"""A thread-safe pool of SMTP sessions: at most ``size`` in use at once, idle ones kept for reuse.

A sender takes a :class:`Slot` (waiting, within its deadline, while all ``size`` sessions are
busy), uses or fills ``slot.connection``, and gives the slot back saying whether the session
may be kept. Kept sessions are reused most-recently-used first (the warmest socket); a session
that reached its message limit, broke, or belongs to a pool generation that was drained is
closed instead. Concurrent threads therefore never share a session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from mailcore_smtp.wire import SMTPConnection

__all__ = ["SessionPool", "Slot"]


@dataclass
class Slot:
    """The right to use one session; ``connection`` is ``None`` until one is opened."""

    connection: SMTPConnection | None
    generation: int


class SessionPool:
    """At most ``size`` slots out at once, counted under the pool's one lock.

    Taking and giving back a slot is one lock acquisition each: a counter, not a
    :class:`threading.BoundedSemaphore` beside the lock (whose Python-level condition variable
    cost two more lock round trips and a ``notify`` per message). Only a thread that finds every
    slot taken waits, on a condition sharing the same lock, and a slot given back notifies only
    when some thread waits.
    """

    def __init__(self, size: int, max_messages: int) -> None:
        self.size = size
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._busy = 0  # slots out
        self._waiting = 0  # threads waiting for a slot
        self._idle: list[SMTPConnection] = []
        self._generation = 0
        self.opened_sessions = 0  # how many sessions this pool has seen opened (diagnostics)

    def acquire(self, timeout: float) -> Slot | None:
        """A slot with an idle session when there is one; ``None`` when none freed in time."""
        with self._lock:
            if self._busy >= self.size and not self._wait(timeout):
                return None
            self._busy += 1
            connection = self._idle.pop() if self._idle else None
            return Slot(connection, self._generation)

    def _wait(self, timeout: float) -> bool:
        """Wait (the lock held) until a slot is free or ``timeout`` seconds passed."""
        end = time.monotonic() + max(0.0, timeout)
        self._waiting += 1
        try:
            while self._busy >= self.size:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._freed.wait(left)
            return True
        finally:
            self._waiting -= 1

    def release(self, slot: Slot, *, keep: bool) -> None:
        """Give the slot back; its session is kept idle only when ``keep`` and still sound."""
        connection, slot.connection = slot.connection, None
        discard = connection
        with self._lock:
            if (
                connection is not None
                and keep
                and not connection.closed
                and slot.generation == self._generation
                and connection.messages < self.max_messages
            ):
                self._idle.append(connection)
                discard = None
            if self._busy <= 0:
                raise ValueError("SessionPool.release: more slots given back than taken")
            self._busy -= 1
            if self._waiting:
                self._freed.notify()
        if discard is not None:
            discard.quit()

    def drain(self) -> None:
        """Close every idle session; sessions in use are closed when they come back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for connection in idle:
            connection.quit()

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)
