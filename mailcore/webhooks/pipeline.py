"""What happens to a verified delivery event: stored first, handled in the background.

A receiver (the WSGI app, the Django view, ``mailcore events ingest-dsn``) calls
:func:`mailcore.webhooks.app.hook_dispatch`, which hands the events to the process's
:class:`EventPipeline`:

1. **store** — the events are written beside the outbox (``delivery_events`` in a SQLite
   outbox file, ``mailcore_delivery_events`` in a PostgreSQL outbox or in Django's database)
   in one durable transaction; a redelivered event is stored once. Only then does the receiver answer 2xx, so
   an event the provider was told we have is on disk.
2. **handle** — a background thread drains stored-but-unhandled events, oldest first: it calls
   the ``mailcore_delivery_event`` hook, feeds the suppression list (hard bounces, complaints,
   unsubscribes, provider drops) and settles ``unknown`` outbox rows (a matching ``accepted`` or
   ``delivered`` event → ``sent``), then marks the event handled.

Nothing is lost when the process dies after the 2xx: the next pipeline started on the same
outbox (the next receiver start, or :meth:`EventPipeline.drain`) handles what is left. Handling
is at least once: an event whose handler died half-way is handled again, so hook implementations
should be idempotent (``event.provider_event_id``). Several processes — on several machines
with a PostgreSQL outbox — can drain one outbox; a claimed event is leased (60 s) so they do not
handle it twice in the normal case (PostgreSQL claims skip locked rows: they never wait for
each other).

What is pure (and tested alone): :func:`suppressions_for` decides what an event adds to the
suppression list.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailcore.errors import ConfigurationError, InvalidMessage
from mailcore.events import DeliveryEvent, EventKind
from mailcore.outbox import events as store
from mailcore.outbox import suppressions as suppression_list
from mailcore.outbox.events import ALL, SETTLING_KINDS, StoredEvent, Suppression, provider_scope
from mailcore.outbox.eventsql import EventStore, has_events, no_events_message, open_event_store, release_thread
from mailcore.outbox.store import STORAGE_ERRORS

__all__ = [
    "EventPipeline",
    "HandlingRules",
    "default_pipeline",
    "pipeline_for",
    "reset_default_pipeline",
    "suppressions_for",
    "use_default_pipeline",
]

log = logging.getLogger("mailcore.webhooks")

#: The provider's own suppression list → the reason mailcore records when it does not route around it.
_LIST_REASON = {"bounce": "hard_bounce", "unsubscribe": "unsubscribe", "complaint": "complaint"}


@dataclass(frozen=True)
class HandlingRules:
    """What the handler does with events besides calling the hook.

    :param suppress: feed the suppression list from hard bounces, complaints and unsubscribes.
    :param provider_failover: for an address one provider drops because of *its own* list
        (``DeliveryEvent.suppressed_by``), the lists for which mailcore only avoids that provider
        (entry scope ``provider:<name>``: the policy sends through another one). A drop for any
        other list suppresses the address for all mail. Default: bounces and unsubscribes; never
        complaints (someone who reported spam is not mailed through a different provider).
    :param settle: settle ``unknown`` outbox rows from ``accepted``/``delivered`` events.
    """

    suppress: bool = True
    provider_failover: frozenset[str] = field(default_factory=lambda: frozenset({"bounce", "unsubscribe"}))
    settle: bool = True


def suppressions_for(event: DeliveryEvent, rules: HandlingRules | None = None) -> list[Suppression]:
    """The suppression entries ``event`` adds (pure): none for most events.

    * hard bounce → all mail (``hard_bounce``); complaint → all mail (``complaint``);
    * unsubscribe → the message's categories (``event.categories``), or all mail without any;
    * a provider drop for its own list → ``provider:<name>`` when that list is in
      ``rules.provider_failover``, else as if the bounce/complaint/unsubscribe happened here.
    """
    rules = rules or HandlingRules()
    if not rules.suppress or not event.recipient:
        return []
    scoped = _scoped_reasons(event, rules)
    if not scoped:
        return []
    try:
        address = suppression_list.normalize_address(event.recipient, "recipient")
    except InvalidMessage:
        return []
    source = f"{event.provider} event"
    detail = event.reason or event.diagnostic
    if event.suppressed_by is not None and event.suppressed_by in rules.provider_failover:
        detail = f"on {event.provider}'s own {event.suppressed_by} list" + (f": {detail}" if detail else "")
    at = event.timestamp.timestamp()
    return [Suppression(address, scope, reason, source, detail, at) for scope, reason in scoped]


def _scoped_reasons(event: DeliveryEvent, rules: HandlingRules) -> list[tuple[str, str]]:
    """(scope, reason) pairs ``event`` adds; most events add none (checked before any parsing)."""
    if event.suppressed_by is not None:
        if event.suppressed_by in rules.provider_failover:
            return [(provider_scope(event.provider), "provider")]
        reason = _LIST_REASON[event.suppressed_by]
        scopes = _unsubscribe_scopes(event) if reason == "unsubscribe" else (ALL,)
        return [(scope, reason) for scope in scopes]
    if event.is_hard_bounce:
        return [(ALL, "hard_bounce")]
    if event.kind is EventKind.COMPLAINED:
        return [(ALL, "complaint")]
    if event.kind is EventKind.UNSUBSCRIBED:
        return [(scope, "unsubscribe") for scope in _unsubscribe_scopes(event)]
    return []


def _unsubscribe_scopes(event: DeliveryEvent) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(c.strip() for c in event.categories if c.strip() and "," not in c))
    return scopes or (ALL,)


class EventPipeline:
    """Stores events beside an outbox and handles them on a background thread.

    :param outbox: an open SQLite, PostgreSQL or Django-database outbox
        (:data:`~mailcore.outbox.eventsql.EventStore`), a ``sqlite:///``, ``postgresql://`` or
        ``django://`` URL, or ``None`` for ``MAILCORE_OUTBOX`` (else the per-user file). Another
        queue (Celery, a Django database other than SQLite or PostgreSQL) is a
        :class:`~mailcore.errors.ConfigurationError`.
    :param rules: see :class:`HandlingRules`.
    :param batch: events handled per claim.
    :param poll_interval: seconds between looks for events another process stored.
    """

    def __init__(
        self,
        outbox: EventStore | str | None = None,
        *,
        rules: HandlingRules | None = None,
        batch: int = 100,
        poll_interval: float = 5.0,
    ) -> None:
        if outbox is None or isinstance(outbox, str):
            self.outbox: EventStore = open_event_store(outbox)
            self._owns = True
        elif has_events(outbox):
            self.outbox, self._owns = outbox, False
        else:
            raise ConfigurationError(no_events_message(type(outbox).__name__))
        self.rules = rules or HandlingRules()
        self.batch = batch
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- receiving ---------------------------------------------------------------------------

    def submit(self, events: Iterable[DeliveryEvent]) -> int:
        """Store ``events`` durably (one transaction) and wake the handler; return how many were
        new. Raises a storage error when the database refuses: the receiver then answers 500 and
        the provider redelivers."""
        new = store.store_events(self.outbox, events)
        if new:
            self._idle.clear()
            self._wake.set()
        return new

    # -- handling ----------------------------------------------------------------------------

    def drain(self) -> int:
        """Handle every stored-but-unhandled event now, in this thread; return how many."""
        total = 0
        while True:
            claimed = store.claim_pending(self.outbox, limit=self.batch)
            if not claimed:
                return total
            self._handle(claimed)
            total += len(claimed)

    def _handle(self, claimed: Sequence[StoredEvent]) -> None:
        from mailcore.plugins import notify

        done: list[int] = []
        additions: list[Suppression] = []
        try:
            for stored in claimed:
                event = stored.event()
                notify("mailcore_delivery_event", event=event)
                additions += suppressions_for(event, self.rules)
                if self.rules.settle and stored.kind in SETTLING_KINDS and stored.outbox_id:
                    self._settle(stored, stored.outbox_id)
                done.append(stored.seq)
        finally:
            # what was handled is recorded even when a later event failed (its lease brings it back)
            if additions:
                suppression_list.add(self.outbox, additions)
            store.mark_handled(self.outbox, done)

    def _settle(self, stored: StoredEvent, outbox_id: str) -> None:
        settled = store.settle(
            self.outbox,
            outbox_id,
            provider=stored.provider,
            provider_message_id=stored.provider_message_id,
            kind=stored.kind,
        )
        if settled:
            log.info(
                "outbox %s: unknown outcome settled as sent by a %s %s event", outbox_id, stored.provider, stored.kind
            )

    def start(self) -> EventPipeline:
        """Start the background handler (a daemon thread); it first handles what earlier
        processes left unhandled. Idempotent."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stop.clear()
            self._wake.set()
            self._thread = threading.Thread(target=self._run, name="mailcore-event-handler", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            release_thread(self.outbox)  # a Django connection is this thread's own: close it

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.drain()
                failures = 0
            except STORAGE_ERRORS as error:  # PostgresStorageError is an OSError too
                failures += 1
                log.warning("event handler: storage error (%s); trying again (failure %d)", error, failures)
                self._stop.wait(min(10.0, 0.1 * 2 ** min(failures, 7)))
                continue
            except Exception:  # a bug must not end the thread: the events stay pending
                failures += 1
                log.exception("event handler: unexpected error; the events stay stored and are tried again")
                self._stop.wait(min(10.0, 0.1 * 2 ** min(failures, 7)))
                continue
            if not self._wake.is_set():
                self._idle.set()
            self._wake.wait(self.poll_interval)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the handler has handled everything submitted so far (tests, shutdown)."""
        return self._idle.wait(timeout) and store.pending_count(self.outbox) == 0

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the handler thread (events not handled yet stay stored for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        if self._owns:
            self.outbox.close()


_default_lock = threading.Lock()
#: The process's pipelines by outbox URL; ``None``: the one on ``MAILCORE_OUTBOX``.
_default: dict[str | None, EventPipeline] = {}


def default_pipeline() -> EventPipeline:
    """The process's pipeline on ``MAILCORE_OUTBOX`` (a SQLite or PostgreSQL outbox, else the
    per-user file), started on first use.

    At interpreter exit it stops and handles what is still pending, so a one-shot process
    (``mailcore events ingest-dsn`` from an MTA pipe) handles its events before it ends.
    """
    return pipeline_for(None)


def pipeline_for(outbox: str | None) -> EventPipeline:
    """The process's pipeline on the outbox URL ``outbox`` (``None``: :func:`default_pipeline`),
    started on first use and drained at exit like it. The Django receivers use it for
    ``django://ALIAS`` when the outbox is in Django's database."""
    with _default_lock:
        pipeline = _default.get(outbox)
        if pipeline is None:
            pipeline = _default[outbox] = EventPipeline(outbox).start()
            _register_exit()
        return pipeline


_exit_registered: list[bool] = []


def _register_exit() -> None:
    if not _exit_registered:
        atexit.register(_drain_at_exit)
        _exit_registered.append(True)


def _drain_at_exit() -> None:
    """Stop the pipelines' threads and handle what they left (errors logged: events stay stored)."""
    with _default_lock:
        pipelines = list(_default.values())
    for pipeline in pipelines:
        try:
            pipeline.stop()
            pipeline.drain()
        except Exception as error:
            log.warning("event handler at exit: %s; the events stay stored for the next start", error)


def use_default_pipeline(pipeline: EventPipeline, outbox: str | None = None) -> EventPipeline:
    """Make ``pipeline`` the process's pipeline (the one :func:`dispatch_events` stores into, or
    with ``outbox`` the one :func:`pipeline_for` gives for that URL), closing the previous one;
    returns it (started)."""
    with _default_lock:
        previous = _default.pop(outbox, None)
    if previous is not None:
        previous.close()
    with _default_lock:
        _default[outbox] = pipeline.start()
        _register_exit()
    return pipeline


def reset_default_pipeline() -> None:
    """Stop and forget the process's pipelines (tests; after changing ``MAILCORE_OUTBOX``)."""
    with _default_lock:
        pipelines = list(_default.values())
        _default.clear()
    for pipeline in pipelines:
        pipeline.close()
