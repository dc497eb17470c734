"""The outbox worker: claims due messages in batches and delivers them through a Mailer's policy.

Run it as ``mailcore worker`` (a process, for systemd) or in a thread of your application::

    mailer = Mailer.from_env(outbox="sqlite:////var/lib/app/outbox.sqlite3")
    worker = mailer.start_worker()        # or OutboxWorker(mailer).start()
    ...
    worker.stop()                         # finishes the message in flight, releases the rest

What a run of one message ends in:

* delivered → ``sent`` (transport and provider id kept);
* the policy gave up on transient errors only → ``queued`` again after a backoff (a provider's
  ``Retry-After`` is a floor), until the message is ``max_age`` old → ``failed`` ("expired");
* a permanent error (message rejected, every transport refused it) → ``failed`` with the reason;
* a timeout after hand-over (``DeliveryFailed.outcome == "unknown"``) → ``unknown``: it may have
  been delivered, so it is not resent blindly; ``mailcore outbox retry --state unknown`` decides;
* anything unexpected (a missing plugin, a bug) → ``queued`` again after a backoff, logged:
  a message is never dropped because the worker was misconfigured.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailcore.errors import DeliveryFailed, InvalidMessage
from mailcore.mailer import failure_log_level
from mailcore.outbox.backoff import OUTBOX_BACKOFF, Delays, next_delay
from mailcore.outbox.store import Claim, SQLiteOutbox, open_outbox
from mailcore.redact import install_log_filter

if TYPE_CHECKING:
    from mailcore.mailer import Mailer

__all__ = ["OutboxWorker", "WorkerStats"]

log = install_log_filter(logging.getLogger("mailcore.outbox"))
DEFAULT_MAX_AGE = 5 * 24 * 3600.0  # like an MTA's queue lifetime


@dataclass
class WorkerStats:
    """What a worker has done since it started (the status line of ``mailcore worker``)."""

    sent: int = 0
    failed: int = 0
    requeued: int = 0
    unknown: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.requeued + self.unknown

    @property
    def rate(self) -> float:
        """Messages processed per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.processed / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The counts (no rate: an average since start says "1292/s" for one message; the CLI's
        status line shows the last minute instead)."""
        return f"sent {self.sent}  requeued {self.requeued}  failed {self.failed}  unknown {self.unknown}"


class OutboxWorker:
    """Delivers outbox messages through ``mailer``'s policy, batch by batch, under a lease.

    :param mailer: the Mailer whose policy delivers (its ``outbox_url`` names the outbox unless
        ``outbox`` is given).
    :param outbox: an open :class:`SQLiteOutbox` or a URL; the worker opens its own connection
        for a URL (``synchronous=NORMAL``: safe for state updates, see the store docs).
    :param batch_size: rows claimed per claim.
    :param lease: seconds a claim is held; a crashed worker's rows are claimed again after it.
        Renewed during a long batch.
    :param poll_interval: longest sleep when nothing is due.
    :param backoff: spacing of delivery runs of one message (``delay(n)``); see
        :mod:`mailcore.outbox.backoff`.
    :param max_age: seconds after which a message still failing transiently is ``failed``.
    :param on_progress: called with the :class:`WorkerStats` after each batch and when idle.
    """

    def __init__(
        self,
        mailer: Mailer,
        outbox: SQLiteOutbox | str | None = None,
        *,
        batch_size: int = 20,
        lease: float = 300.0,
        poll_interval: float = 1.0,
        backoff: Delays | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        worker_id: str | None = None,
        on_progress: Callable[[WorkerStats], None] | None = None,
    ) -> None:
        if batch_size < 1 or lease <= 0 or poll_interval <= 0:
            raise ValueError("batch_size must be >= 1, lease and poll_interval > 0")
        self.mailer = mailer
        self._owns_outbox = not isinstance(outbox, SQLiteOutbox)
        if isinstance(outbox, SQLiteOutbox):
            self.outbox = outbox
        else:
            self.outbox = open_outbox(outbox or mailer.outbox_url, synchronous="NORMAL")
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.backoff: Delays = backoff or OUTBOX_BACKOFF
        self.max_age = max_age
        # unique per instance: two workers built in one thread must not share leases
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_progress = on_progress
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------------------

    def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Deliver until :meth:`stop` (or, with ``until_idle``, until nothing is due).

        The Mailer's connections are kept open meanwhile and closed at the end.
        """
        with self.mailer:
            return self._loop(until_idle)

    def _loop(self, until_idle: bool) -> WorkerStats:
        while not self._stop.is_set():
            done = self.run_once()
            if done:
                self._progress()
                continue
            if until_idle:
                break
            self._progress()
            self._stop.wait(self._idle_wait())
        self._progress()
        return self.stats

    def run_once(self) -> int:
        """Claim one batch and deliver it; return how many messages were processed."""
        claims = self.outbox.claim(self.id, limit=self.batch_size, lease=self.lease)
        claimed_at = time.monotonic()
        lost: set[str] = set()
        for index, claim in enumerate(claims):
            if self._stop.is_set():
                self.outbox.release(self.id, [c.id for c in claims[index:]])
                return index
            if time.monotonic() - claimed_at > self.lease / 2:
                rest = [c.id for c in claims[index:]]
                lost = set(rest) - set(self.outbox.renew(self.id, rest, self.lease))
                claimed_at = time.monotonic()
            if claim.id in lost:  # our lease ran out and another worker took it: not ours to send
                log.warning("outbox %s: lease on %s ran out before its turn; left to its new owner", self.id, claim.id)
                continue
            self._deliver(claim)
        return len(claims) - len(lost)

    def start(self) -> OutboxWorker:
        """Run in a daemon thread; returns self (call :meth:`stop` to end it)."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this worker is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_in_thread, name="mailcore-outbox-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the worker to stop: the message in flight finishes, the rest of the batch is released."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        if self._owns_outbox:
            self.outbox.close()

    def _run_in_thread(self) -> None:
        # no ``with self.mailer``: the application shares this Mailer and keeps its connections
        try:
            self._loop(until_idle=False)
        except Exception:
            log.exception("outbox worker %s stopped by an unexpected error", self.id)

    def _idle_wait(self) -> float:
        due = self.outbox.next_due()
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.01, due - time.time()))

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.stats)

    # -- one message ---------------------------------------------------------------------------

    def _deliver(self, claim: Claim) -> None:
        try:
            message = claim.message()
        except (InvalidMessage, KeyError, TypeError, ValueError) as error:
            self._fail(claim, f"the stored message cannot be read: {error}")
            return
        try:
            with failure_log_level(None):  # this worker logs the outcome: WARNING requeued, ERROR given up
                result = self.mailer.send(message, park=False)
        except DeliveryFailed as failure:
            self._after_failure(claim, failure)
        except InvalidMessage as error:
            self._fail(claim, str(error))
        except Exception as error:  # misconfiguration or a bug: keep the message, try later
            log.exception("outbox %s: unexpected error delivering %s; will retry", self.id, claim.id)
            self._reschedule(claim, f"{type(error).__name__}: {error}", None)
        else:
            self.outbox.mark_sent(claim.id, transport=result.transport, provider_message_id=result.provider_message_id)
            self.stats.sent += 1

    def _after_failure(self, claim: Claim, failure: DeliveryFailed) -> None:
        reason = str(failure.last_error or failure)
        if failure.outcome == "unknown":
            self.outbox.mark_unknown(self.id, claim.id, reason)
            self.stats.unknown += 1
            log.warning("outbox %s: outcome unknown (may have been delivered); parked: %s", claim.id, reason)
        elif failure.transient:
            self._reschedule(claim, reason, failure)
        else:
            self._fail(claim, reason)

    def _reschedule(self, claim: Claim, reason: str, failure: DeliveryFailed | None) -> None:
        delay = next_delay(self.backoff, claim.runs, failure)
        if time.time() + delay - claim.age_from > self.max_age:
            self._fail(claim, f"expired after {claim.runs} run(s): {reason}")
            return
        self.outbox.reschedule(self.id, claim.id, delay, reason)
        self.stats.requeued += 1
        log.warning("outbox %s: not delivered yet (run %d), next try in %.0fs: %s", claim.id, claim.runs, delay, reason)

    def _fail(self, claim: Claim, reason: str) -> None:
        self.outbox.mark_failed(self.id, claim.id, reason)
        self.stats.failed += 1
        log.error("outbox %s: failed for good: %s", claim.id, reason)
