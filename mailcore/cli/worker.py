"""``mailcore worker``: deliver the outbox until stopped (SIGTERM/SIGINT finish the message in flight)."""

from __future__ import annotations

import signal
import sys
import time
from collections import deque
from types import FrameType
from typing import Any

import click

from mailcore.mailer import URL_ENV, Mailer
from mailcore.outbox.location import OUTBOX_ENV
from mailcore.outbox.worker import OutboxWorker, WorkerStats


class StatusLine:
    """The worker's progress on stderr: every ``interval`` seconds, and once at the end.

    The rate is over the last minute (messages processed in the last 60 s), not an average
    since start, which says "1292/s" for one message handled in a millisecond.
    """

    WINDOW = 60.0

    def __init__(self, worker_outbox_counts: Any, interval: float, clock: Any = time.monotonic) -> None:
        self._counts = worker_outbox_counts
        self.interval = interval
        self._clock = clock
        self._last = clock()  # the first periodic line comes one interval after the start
        self._samples: deque[tuple[float, int]] = deque([(self._last, 0)])
        self._tty = sys.stderr.isatty()
        self._done = False

    def per_minute(self, processed: int) -> int:
        """Messages processed in the last :attr:`WINDOW` seconds."""
        now = self._clock()
        self._samples.append((now, processed))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.WINDOW:
            self._samples.popleft()  # keep the newest sample at or before the window start as base
        return processed - self._samples[0][1]

    def text(self, stats: WorkerStats) -> str:
        counts = self._counts()
        waiting = counts["queued"] + counts["sending"]
        rate = self.per_minute(stats.processed)
        return (
            f"{time.strftime('%H:%M:%S')} sent {stats.sent}  requeued {stats.requeued}  failed {stats.failed}  "
            f"unknown {stats.unknown}  expired {stats.expired}  last minute {rate}  waiting {waiting}"
        )

    def __call__(self, stats: WorkerStats, *, final: bool = False) -> None:
        if self._done:
            return
        now = self._clock()
        if not final and (self.interval <= 0 or now - self._last < self.interval):
            self.per_minute(stats.processed)
            return
        self._last = now
        self._done = final
        text = self.text(stats)
        if self._tty and not final:
            click.echo("\r" + text.ljust(100), nl=False, err=True)
        else:
            click.echo(("\r" if self._tty else "") + text, err=True)


@click.command("worker")
@click.option("--url", envvar=URL_ENV, help=f"Transport URL or policy expression (default: ${URL_ENV}).")
@click.option(
    "--outbox",
    envvar=OUTBOX_ENV,
    help=f"Outbox URL: sqlite:////absolute/path (four slashes), sqlite:///relative/path, "
    f"postgresql://user@host/db or another registered queue "
    f"(default: ${OUTBOX_ENV}, else the per-user file; created if missing).",
)
@click.option(
    "--state",
    "state_url",
    help="Shared breaker/rate-limit state, e.g. redis://127.0.0.1:6379/0 (default: MAILCORE_STATE_URL).",
)
@click.option("--batch-size", default=20, show_default=True, type=click.IntRange(1), help="Messages claimed at once.")
@click.option(
    "--lease",
    default=300.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a claim is held; a crashed worker's messages are claimed again after it.",
)
@click.option(
    "--poll-interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Longest sleep when nothing is due (seconds).",
)
@click.option(
    "--max-age",
    default=5 * 86400.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Seconds after which a message that keeps failing transiently is marked failed.",
)
@click.option("--drain", is_flag=True, help="Exit when nothing is due instead of waiting for more.")
@click.option(
    "--events/--no-events",
    default=True,
    show_default=True,
    help="Also handle stored delivery events (hook, suppression list, settling) that no receiver has handled yet.",
)
@click.option(
    "--status-interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds between status lines (0: only at exit).",
)
def command(
    url: str | None,
    outbox: str | None,
    state_url: str | None,
    batch_size: int,
    lease: float,
    poll_interval: float,
    max_age: float,
    drain: bool,
    events: bool,
    status_interval: float,
) -> None:
    """Deliver queued messages through the policy at --url until SIGTERM or Ctrl-C."""
    if not url:
        raise click.UsageError(f"no transport: pass --url or set {URL_ENV}")
    options: dict[str, Any] = {"outbox": outbox}
    if state_url:
        options["state"] = state_url
    mailer = Mailer.from_url(url, **options)
    run_worker(
        mailer,
        batch_size=batch_size,
        lease=lease,
        poll_interval=poll_interval,
        max_age=max_age,
        drain=drain,
        status_interval=status_interval,
        events=events,
    )


def run_worker(
    mailer: Mailer,
    *,
    batch_size: int = 20,
    lease: float = 300.0,
    poll_interval: float = 1.0,
    max_age: float = 5 * 86400.0,
    drain: bool = False,
    status_interval: float = 10.0,
    outbox: Any = None,
    events: bool = True,
) -> None:
    """Deliver ``mailer``'s outbox (or ``outbox``, an open store) until stopped, with the status
    line and signal handling.

    With ``events`` and an outbox that keeps delivery events, an event handler runs beside the
    delivery loop: events a receiver stored but did not handle (it was stopped or killed between
    the two) are handled within its poll interval instead of waiting for the next webhook to wake
    a receiver. Receivers and workers share the work through the events' claims.

    Shared by ``mailcore worker`` and Django's ``manage.py mailcore_worker``.
    """
    worker = OutboxWorker(
        mailer, outbox, batch_size=batch_size, lease=lease, poll_interval=poll_interval, max_age=max_age
    )
    status = StatusLine(worker.outbox.counts, status_interval)
    worker.on_progress = status
    click.echo(f"mailcore worker {worker.id}: {worker.outbox.url} → {mailer.transport.name}", err=True)
    handler = _event_handler(worker.outbox) if events else None
    previous = _install_stop_handlers(worker)
    try:
        worker.run(until_idle=drain)
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        if handler is not None:
            _stop_event_handler(handler, drain=drain)
        status(worker.stats, final=True)
        worker.close()


def _event_handler(store: Any) -> Any:
    """A started :class:`~mailcore.webhooks.pipeline.EventPipeline` on ``store``, or None when
    the store keeps no delivery events (Celery, a Django database other than SQLite/PostgreSQL)."""
    from mailcore.outbox.eventsql import has_events

    if not has_events(store):
        return None
    from mailcore.webhooks.pipeline import EventPipeline

    return EventPipeline(store).start()


def _stop_event_handler(handler: Any, *, drain: bool) -> None:
    """Stop the event handler; with ``--drain`` first handle what is pending. A storage error is
    a warning: the events stay stored for the next handler."""
    handler.stop()
    if not drain:
        return
    try:
        handler.drain()
    except Exception as error:  # the outbox's own errors are reported by the worker
        click.echo(f"event handler: {error}; the events stay stored for the next run", err=True)


def _install_stop_handlers(worker: OutboxWorker) -> dict[int, Any]:
    """First SIGTERM/SIGINT: finish the message in flight and stop. A second one aborts at once
    (the aborted message's lease expires and it is delivered again later)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        if worker.stopping:
            raise KeyboardInterrupt
        click.echo(f"\n{signal.Signals(signum).name}: finishing the message in flight, then stopping", err=True)
        worker.stop()

    return {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
