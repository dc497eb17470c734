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
* the message's ``expires`` passed (before the claim, before the send, or while the policy was
  retrying) → ``expired`` with the reason; it is never sent after that;
* a timeout after hand-over (``DeliveryFailed.outcome == "unknown"``) → ``unknown``: it may have
  been delivered, so it is not resent blindly; ``mailcore outbox retry --state unknown`` decides;
* anything unexpected (a missing plugin, a bug) → ``queued`` again after a backoff, logged:
  a message is never dropped because the worker was misconfigured.

Storage failures (``database is locked``, a full disk, I/O errors) never end the worker and
never cause a resend: the outcome of a message that was handed to a provider is written again
and again (with a short backoff) until the database takes it, while the lease of that row keeps
being renewed; a failing claim or poll is retried with a backoff up to
:data:`STORAGE_BACKOFF_CAP` seconds. The lease of the row in flight is renewed by a heartbeat
thread, so a send may take longer than the lease (see :mod:`mailcore.outbox.lease`).

The worker also applies the outbox's retention rule (:mod:`mailcore.outbox.retention`) at
start and every ``retention_interval`` seconds.
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

from mailcore.errors import DeliveryFailed, InvalidMessage
from mailcore.outbox.api import Claim, OutboxSender, OutboxStore
from mailcore.outbox.backoff import OUTBOX_BACKOFF, Delays, next_delay
from mailcore.outbox.lease import LeaseKeeper, check_lease, send_budget
from mailcore.outbox.lifetimes import expires_at, expiry_reason, is_expired
from mailcore.outbox.retention import Retention
from mailcore.outbox.store import STORAGE_ERRORS
from mailcore.redact import install_log_filter
from mailcore.sender import failure_log_level

__all__ = ["OutboxWorker", "WorkerStats"]

log = install_log_filter(logging.getLogger("mailcore.outbox"))
DEFAULT_MAX_AGE = 5 * 24 * 3600.0  # like an MTA's queue lifetime
#: Longest pause between two tries of a failing claim/poll (a locked or full database).
STORAGE_BACKOFF_CAP = 10.0
#: Longest pause between two tries of recording an outcome (the row's lease is kept meanwhile).
RECORD_BACKOFF_CAP = 1.0
#: Longest time the WAL may keep a copy of dropped content while the worker is busy (seconds).
SCRUB_DELAY = 5.0


def storage_pause(failures: int, cap: float) -> float:
    """Seconds to wait after the ``failures``-th storage error in a row: 50 ms doubling to ``cap``."""
    return float(min(cap, 0.05 * 2 ** min(max(failures - 1, 0), 16)))


@dataclass
class WorkerStats:
    """What a worker has done since it started (the status line of ``mailcore worker``)."""

    sent: int = 0
    failed: int = 0
    requeued: int = 0
    unknown: int = 0
    expired: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def processed(self) -> int:
        return self.sent + self.failed + self.requeued + self.unknown + self.expired

    @property
    def rate(self) -> float:
        """Messages processed per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.processed / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The counts (no rate: an average since start says "1292/s" for one message; the CLI's
        status line shows the last minute instead)."""
        return (
            f"sent {self.sent}  requeued {self.requeued}  failed {self.failed}  unknown {self.unknown}"
            f"  expired {self.expired}"
        )


class OutboxWorker:
    """Delivers outbox messages through ``mailer``'s policy, batch by batch, under a lease.

    :param mailer: the Mailer whose policy delivers (its ``outbox_url`` names the outbox unless
        ``outbox`` is given).
    :param outbox: an open :class:`~mailcore.outbox.api.OutboxStore` (SQLite, PostgreSQL,
        Django's database…) or a URL; the worker opens its own connection for a URL (SQLite:
        ``synchronous=NORMAL``, safe for state updates, see the store docs).
    :param batch_size: rows claimed per claim.
    :param lease: seconds a claim is held; a crashed worker's rows are claimed again after it.
        Renewed during a long batch, and every ``lease / 4`` seconds for the message in flight,
        so a send may take longer than the lease.
    :param poll_interval: longest sleep when nothing is due.
    :param backoff: spacing of delivery runs of one message (``delay(n)``); see
        :mod:`mailcore.outbox.backoff`.
    :param max_age: seconds after which a message still failing transiently is ``failed``.
    :param on_progress: called with the :class:`WorkerStats` after each batch and when idle.
    :param retention: what to keep how long (default: the outbox's, from its URL).
    :param retention_interval: seconds between two applications of the retention rule.
    :param clock: wall-clock seconds for the retention rule (tests move it forward).
    """

    def __init__(
        self,
        mailer: OutboxSender,
        outbox: OutboxStore | str | None = None,
        *,
        batch_size: int = 20,
        lease: float = 300.0,
        poll_interval: float = 1.0,
        backoff: Delays | None = None,
        max_age: float = DEFAULT_MAX_AGE,
        worker_id: str | None = None,
        on_progress: Callable[[WorkerStats], None] | None = None,
        retention: Retention | None = None,
        retention_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1 or poll_interval <= 0 or retention_interval <= 0:
            raise ValueError("batch_size must be >= 1, poll_interval and retention_interval > 0")
        lease = check_lease(lease)
        self.mailer = mailer
        self._owns_outbox = outbox is None or isinstance(outbox, str)
        if outbox is None or isinstance(outbox, str):
            from mailcore.outbox.queue import open_store

            self.outbox: OutboxStore = open_store(outbox or mailer.outbox_url, worker=True)
        else:
            self.outbox = outbox
        #: what a failing database raises here: SQLite's, plus the store's own (``storage_errors``)
        self.storage_errors: tuple[type[BaseException], ...] = (
            *STORAGE_ERRORS,
            *getattr(self.outbox, "storage_errors", ()),
        )
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.backoff: Delays = backoff or OUTBOX_BACKOFF
        self.max_age = max_age
        # unique per instance: two workers built in one thread must not share leases
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_progress = on_progress
        self.retention = retention or self.outbox.retention
        self.retention_interval = retention_interval
        self.clock = clock
        #: worst-case seconds of one send through the policy (None: unbounded), logged at start
        self.send_budget = send_budget(mailer.transport)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._keeper = LeaseKeeper(self._renew_in_flight, lease / 4)
        self._recorded: str | None = None
        self._retention_due = 0.0
        self._scrub_due: float | None = None  # when the WAL must be truncated (content was dropped)

    # -- running -------------------------------------------------------------------------------

    def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Deliver until :meth:`stop` (or, with ``until_idle``, until nothing is due).

        The Mailer's connections are kept open meanwhile and closed at the end.
        """
        with self.mailer:
            return self._loop(until_idle)

    def _loop(self, until_idle: bool) -> WorkerStats:
        self._log_lease()
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    self._maybe_enforce_retention()
                    done = self.run_once()
                    self._scrub(idle=not done)
                    wait = 0.0 if done or until_idle else self._idle_wait()
                except self.storage_errors as error:
                    failures += 1
                    pause = storage_pause(failures, STORAGE_BACKOFF_CAP)
                    log.warning(
                        "outbox %s: storage error (%s); trying again in %.2fs (failure %d in a row)",
                        self.id, error, pause, failures,
                    )  # fmt: skip
                    self._stop.wait(pause)
                    continue
                failures = 0
                self._progress()
                if done:
                    continue
                if until_idle:
                    break
                self._stop.wait(wait)
        finally:
            self._keeper.close()
            self._scrub(idle=True)
        self._progress()
        return self.stats

    def _log_lease(self) -> None:
        budget = "unbounded (no deadline)" if self.send_budget is None else f"{self.send_budget:g}s"
        log.info(
            "outbox %s: lease %gs, renewed every %gs while a send is in flight (worst-case send %s); retention: %s",
            self.id, self.lease, self._keeper.interval, budget, self.retention.describe(),
        )  # fmt: skip

    def run_once(self) -> int:
        """Claim one batch and deliver it; return how many messages were processed.

        A storage error while claiming or renewing the batch propagates (the rows not yet sent
        come back when their lease runs out); once a message was handed to a provider its
        outcome is recorded whatever it takes.
        """
        claims = self.outbox.claim(self.id, limit=self.batch_size, lease=self.lease)
        claimed_at = time.monotonic()
        lost: set[str] = set()
        for index, claim in enumerate(claims):
            if self._stop.is_set():
                self._release([c.id for c in claims[index:]])
                return index
            if time.monotonic() - claimed_at > self.lease / 2:
                rest = [c.id for c in claims[index:]]
                lost = set(rest) - set(self.outbox.renew(self.id, rest, self.lease))
                claimed_at = time.monotonic()
            if claim.id in lost:  # our lease ran out and another worker took it: not ours to send
                log.warning("outbox %s: lease on %s ran out before its turn; left to its new owner", self.id, claim.id)
                continue
            with self._keeper.hold(claim.id):
                if self._deliver(claim) and self._scrub_due is None:
                    self._scrub_due = time.monotonic() + SCRUB_DELAY
        return len(claims) - len(lost)

    def _release(self, ids: list[str]) -> None:
        """Give unsent rows back; if the database refuses, their lease expires and they come back."""
        try:
            self.outbox.release(self.id, ids)
        except self.storage_errors as error:
            log.warning("outbox %s: could not release %d row(s) (back after the lease): %s", self.id, len(ids), error)

    def _renew_in_flight(self, row_id: str) -> bool:
        """The heartbeat: extend the lease of the row being sent; true while this worker holds it."""
        if self.outbox.renew(self.id, [row_id], self.lease):
            return True
        return self._recorded == row_id  # its outcome was recorded meanwhile: nothing was lost

    def _scrub(self, *, idle: bool) -> None:
        """Truncate the WAL once content was dropped: when idle, else at most every SCRUB_DELAY s
        (a checkpoint per batch would cost more than the sends themselves)."""
        if self._scrub_due is None or (not idle and time.monotonic() < self._scrub_due):
            return
        try:
            if self.outbox.scrub():
                self._scrub_due = None
        except self.storage_errors as error:
            log.warning(
                "outbox %s: could not truncate the WAL after dropping content (next batch will): %s", self.id, error
            )

    def enforce_retention(self) -> tuple[int, int]:
        """Apply the retention rule now (as of :attr:`clock`); return (contents dropped, rows deleted)."""
        dropped, deleted = self.outbox.enforce_retention(self.retention, now=self.clock())
        if dropped or deleted:
            log.info("outbox %s: retention dropped %d message content(s), deleted %d row(s)", self.id, dropped, deleted)
        return dropped, deleted

    def _maybe_enforce_retention(self) -> None:
        now = time.monotonic()
        if now >= self._retention_due:
            self._retention_due = now + self.retention_interval
            self.enforce_retention()

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
        self._keeper.close()
        if self._owns_outbox:
            self.outbox.close()

    def _run_in_thread(self) -> None:
        """The thread's body: the loop, restarted after a pause if anything escapes it, so one
        unexpected error never leaves an application without its worker."""
        # no ``with self.mailer``: the application shares this Mailer and keeps its connections
        failures = 0
        while not self._stop.is_set():
            try:
                self._loop(until_idle=False)
                return
            except Exception:
                failures += 1
                pause = storage_pause(failures, STORAGE_BACKOFF_CAP)
                log.exception("outbox worker %s: unexpected error; running again in %.2fs", self.id, pause)
                self._stop.wait(pause)

    def _idle_wait(self) -> float:
        due = self.outbox.next_due()
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.01, due - time.time()))

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.stats)

    # -- one message ---------------------------------------------------------------------------

    def _deliver(self, claim: Claim) -> bool:
        """Send one claimed message and record its outcome; true when its content was dropped."""
        try:
            message = claim.message()
        except (InvalidMessage, KeyError, TypeError, ValueError) as error:
            self._fail(claim, f"the stored message cannot be read: {error}")
            return False
        expiry = expires_at(message)
        if is_expired(expiry, time.time()):  # claimed just before its expiry: never sent after it
            self._expire(claim, expiry_reason(expiry or 0.0))
            return False
        try:
            with failure_log_level(None):  # this worker logs the outcome: WARNING requeued, ERROR given up
                result = self.mailer.send(message, park=False)
        except DeliveryFailed as failure:
            self._after_failure(claim, failure, expiry)
        except InvalidMessage as error:
            self._fail(claim, str(error))
        except Exception as error:  # misconfiguration or a bug: keep the message, try later
            log.exception("outbox %s: unexpected error delivering %s; will retry", self.id, claim.id)
            self._reschedule(claim, f"{type(error).__name__}: {error}", None, expiry)
        else:
            drop = self.retention.drops_sent_body_at_once
            self._record(
                claim.id,
                "sent",
                lambda: self.outbox.mark_sent(
                    claim.id, transport=result.transport, provider_message_id=result.provider_message_id, drop_body=drop
                ),
            )
            self.stats.sent += 1
            return drop
        return False

    def _record(self, row_id: str, outcome: str, write: Callable[[], None]) -> None:
        """Write a message's outcome until the database takes it.

        Giving up would leave the row ``sending``: when its lease ran out it would be sent again.
        The heartbeat keeps the lease meanwhile; a stop request does not end this loop (a second
        SIGTERM/SIGINT does, at the price of that possible resend).
        """
        failures = 0
        while True:
            try:
                write()
            except self.storage_errors as error:
                failures += 1
                pause = storage_pause(failures, RECORD_BACKOFF_CAP)
                if failures & (failures - 1) == 0:  # 1st, 2nd, 4th, 8th... failure: log, not every one
                    log.warning(
                        "outbox %s: could not record %s as %s (%s); trying again (failure %d), lease kept",
                        self.id, row_id, outcome, error, failures,
                    )  # fmt: skip
                time.sleep(pause)
                continue
            self._recorded = row_id
            if failures:
                log.warning("outbox %s: recorded %s as %s after %d failed write(s)", self.id, row_id, outcome, failures)
            return

    def _after_failure(self, claim: Claim, failure: DeliveryFailed, expiry: float | None = None) -> None:
        reason = str(failure.last_error or failure)
        if failure.expired:
            self._expire(claim, expiry_reason(expiry) if expiry is not None else reason)
        elif failure.outcome == "unknown":
            self._record(claim.id, "unknown", lambda: self.outbox.mark_unknown(self.id, claim.id, reason))
            self.stats.unknown += 1
            log.warning("outbox %s: outcome unknown (may have been delivered); parked: %s", claim.id, reason)
        elif failure.transient:
            self._reschedule(claim, reason, failure, expiry)
        else:
            self._fail(claim, reason)

    def _reschedule(
        self, claim: Claim, reason: str, failure: DeliveryFailed | None, expiry: float | None = None
    ) -> None:
        delay = next_delay(self.backoff, claim.runs, failure)
        if is_expired(expiry, time.time() + delay):  # the next run would come after the expiry
            self._expire(claim, f"{expiry_reason(expiry or 0.0)} (last error: {reason})")
            return
        if time.time() + delay - claim.age_from > self.max_age:
            self._fail(claim, f"expired after {claim.runs} run(s): {reason}")
            return
        self._record(claim.id, "queued", lambda: self.outbox.reschedule(self.id, claim.id, delay, reason))
        self.stats.requeued += 1
        log.warning("outbox %s: not delivered yet (run %d), next try in %.0fs: %s", claim.id, claim.runs, delay, reason)

    def _expire(self, claim: Claim, reason: str) -> None:
        self._record(claim.id, "expired", lambda: self.outbox.mark_expired(self.id, claim.id, reason))
        self.stats.expired += 1
        log.warning("outbox %s: not sent, %s", claim.id, reason)

    def _fail(self, claim: Claim, reason: str) -> None:
        self._record(claim.id, "failed", lambda: self.outbox.mark_failed(self.id, claim.id, reason))
        self.stats.failed += 1
        log.error("outbox %s: failed for good: %s", claim.id, reason)
