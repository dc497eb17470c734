"""The outbox in Django's database (``MAILCORE["QUEUE"] = "db"``, URL ``django://``).

:class:`DjangoOutbox` has the public methods of :class:`mailcore.outbox.store.SQLiteOutbox`, and
keeps its rows in the ``mailcore_outbox`` table of :mod:`mailcore.adapters.django.models`,
written through Django's connection. What that buys:

* **Atomic with the application.** :meth:`DjangoOutbox.enqueue` inside
  ``transaction.atomic()`` writes the message in the application's transaction (in a savepoint
  of it): the payment and its receipt are committed together or rolled back together. Outside a
  transaction Django's autocommit commits the row before ``enqueue`` returns.
* **Workers.** ``python manage.py mailcore_worker`` claims rows under a lease as the SQLite
  outbox does. On PostgreSQL a claim is ``SELECT … FOR UPDATE SKIP LOCKED``, so any number of
  workers (and ``mailcore worker --outbox postgresql://…``, which reads the same table) share
  the queue. On SQLite run **one** worker: SQLite has no row locks, and two workers that read
  the same due rows at once make one of them wait for (or fail on) the write lock; the claim
  update is conditional, so even then no row is claimed twice.
* **Lifetimes** (:mod:`mailcore.outbox.lifetimes`): claims are ordered by ``due_at + priority
  * aging`` (high before normal before low, and waiting ages a message up); a row whose
  ``expires_at`` has passed is moved to ``expired`` with the reason instead of being sent; an
  ``idempotency_key`` seen within the window returns the first message's id and stores nothing
  (the key is recorded in ``mailcore_idempotency`` in the same transaction, so a rolled-back
  message does not hold its key).

* **Delivery events and the suppression list** live beside the rows, in Django's database
  (tables ``mailcore_delivery_events`` and ``mailcore_suppressions``, migration
  ``mailcore.0002``) when it is SQLite or PostgreSQL: the webhook receivers store events there,
  ``mailcore status`` / ``mailcore suppressions --outbox django://`` and the suppression layer
  read them (:mod:`mailcore.outbox.eventsql`). A row's events are deleted with it (a trigger).

URL: ``django://`` (the database Django's routers choose for writing the model, normally
``default``) or ``django://ALIAS`` for a ``DATABASES`` alias, with the SQLite outbox's retention
parameters (``?keep_sent_body=0&keep_failed_body=7d&keep_metadata=30d``) and ``aging`` (seconds
one priority step is worth, default 300) and ``idempotency_window`` (default ``24h``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from mailcore.errors import ConfigurationError, MailcoreError
from mailcore.message import Message
from mailcore.outbox.api import Claim, Entry
from mailcore.outbox.eventsql import DJANGO_DIALECTS, DJANGO_SQLITE, POSTGRESQL, Dialect, EventDB, Tx
from mailcore.outbox.lifetimes import (
    DEFAULT_AGING,
    IDEMPOTENCY_WINDOW,
    check_aging,
    check_window,
    expiry_reason,
)
from mailcore.outbox.location import outbox_params
from mailcore.outbox.retention import RETENTION_PARAMS, Retention, digest_recipients, parse_duration
from mailcore.outbox.rules import (
    EXPIRED,
    FAILED,
    FINISHED,
    NEW_ROW_COLUMNS,
    PARKED,
    QUEUED,
    RETRYABLE,
    SENDING,
    SENT,
    STATES,
    SUMMARY_FIELDS,
    UNKNOWN,
    WAITING,
    ParkingMarks,
    check_purge_state,
    check_retry_state,
    content_drops,
    drops_body,
    new_row,
    pick_match,
    split_expired,
    state_counts,
    stored_message,
)
from mailcore.redact import mask_secrets

# The states live in mailcore.outbox.rules (shared by every store); their names stay importable here.
__all__ = [
    "CANCELLABLE",
    "EXPIRED",
    "FAILED",
    "FINISHED",
    "PARKED",
    "QUEUED",
    "RETRYABLE",
    "SCHEME",
    "SENDING",
    "SENT",
    "STATES",
    "UNKNOWN",
    "WAITING",
    "DjangoOutbox",
    "DjangoStorageError",
    "check_django_outbox_url",
    "open_django_outbox",
]

T = TypeVar("T")

#: The URL scheme of this outbox (``MAILCORE["QUEUE"] = "db"`` is ``django://``).
SCHEME: Final = "django"
#: States :meth:`DjangoOutbox.cancel` stops (a ``sending`` row belongs to its worker).
CANCELLABLE: Final = (QUEUED, UNKNOWN)
_PARAMS: Final = (*RETENTION_PARAMS, "aging", "idempotency_window")


class DjangoStorageError(MailcoreError, OSError):
    """The outbox database could not be used right now (connection lost, database locked, a
    timeout): an ``OSError``, so the worker retries it as it retries a locked SQLite file. The
    text names the database alias and what the driver said, never the password."""


class DjangoOutbox(ParkingMarks):
    """The outbox in a Django database; see the module docs.

    :param using: a ``DATABASES`` alias; ``None`` asks Django's routers (``db_for_write``).
    :param retention: how long content and metadata are kept (default :class:`Retention()`).
    :param aging: seconds one priority step is worth in the claim order.
    :param idempotency_window: seconds an idempotency key is remembered.
    """

    def __init__(
        self,
        using: str | None = None,
        *,
        retention: Retention | None = None,
        aging: float = DEFAULT_AGING,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
    ) -> None:
        _ensure_django()
        from django.db import connections, router  # type: ignore[import-untyped,unused-ignore]

        from mailcore.adapters.django.models import IdempotencyKey, OutboxMessage

        self._rows: Any = OutboxMessage
        self._keys: Any = IdempotencyKey
        self.using: str = using or router.db_for_write(OutboxMessage) or "default"
        if self.using not in connections:
            configured = ", ".join(connections) or "none"
            raise ConfigurationError(f"django:// outbox: no DATABASES alias {self.using!r} (configured: {configured})")
        self.retention = retention or Retention()
        self.aging = check_aging(aging)
        self.idempotency_window = check_window(idempotency_window)
        #: what the worker retries instead of failing (a dropped connection, a locked database)
        self.storage_errors: tuple[type[BaseException], ...] = (DjangoStorageError,)

    @property
    def url(self) -> str:
        return f"{SCHEME}://{self.using}"

    @property
    def vendor(self) -> str:
        """The database's vendor as Django names it (``sqlite``, ``postgresql``, …): delivery
        events and the suppression list are kept on ``sqlite`` and ``postgresql``
        (:mod:`mailcore.outbox.eventsql`)."""
        return str(self._connection().vendor)

    def _connection(self) -> Any:
        from django.db import connections

        return connections[self.using]

    def event_db(self) -> EventDB | None:
        """Delivery events and the suppression list in this database (its dialect by vendor),
        or None on a database other than SQLite and PostgreSQL (see
        :class:`mailcore.outbox.eventsql.ExternalEventStore`)."""
        dialect = DJANGO_DIALECTS.get(self.vendor)
        return None if dialect is None else _DjangoEventDB(self, dialect)

    def release_thread(self) -> None:
        """Close this thread's connection to the outbox database (a background thread that ends:
        the event pipeline's handler). Django's connections are per thread and only request
        threads have theirs closed for them; a connection inside a transaction is left alone."""
        connection = self._connection()
        if not connection.in_atomic_block:
            with suppress(Exception):  # a broken connection may fail to close; it is gone either way
                connection.close()

    def _objects(self) -> Any:
        return self._rows.objects.using(self.using)

    @contextmanager
    def _atomic(self, *, storage_errors: bool = True) -> Iterator[Any]:
        """One transaction (a savepoint inside the caller's).

        A database error that leaves the connection unusable (the server restarted, the
        network cut it) closes it once outside any transaction, so the next call reconnects: a
        long-running worker survives a database restart. Such errors (and locks, timeouts) are
        raised as :class:`DjangoStorageError`, which the worker backs off from and retries.
        ``storage_errors=False`` lets Django's own exception through (the producer side: the
        application's code expects ``django.db`` errors).
        """
        from django.db import InterfaceError, OperationalError, transaction

        connection = self._connection()
        try:
            with transaction.atomic(using=self.using):
                yield connection
        except (OperationalError, InterfaceError) as error:
            if not connection.in_atomic_block:
                with suppress(Exception):  # a broken connection may fail to close; it is gone either way
                    if not connection.is_usable():
                        connection.close()
            if not storage_errors:
                raise
            password = connection.settings_dict.get("PASSWORD") or None
            text = mask_secrets(str(error).strip(), [password] if password else [])
            raise DjangoStorageError(f"the outbox database {self.url}: {type(error).__name__}: {text}") from None

    # -- producers -----------------------------------------------------------------------------

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str:
        """Store ``message`` as ``queued`` (due after ``delay`` seconds); return its outbox id.

        Inside the caller's ``transaction.atomic()`` the row commits (or rolls back) with it;
        otherwise it is committed when this returns. With an ``idempotency_key`` seen within
        the window, nothing is stored and the first message's id is returned.
        """
        return self.enqueue_many([message], delay=delay, last_error=last_error)[0]

    def enqueue_many(
        self, messages: Iterable[Message], *, delay: float = 0.0, last_error: str | None = None
    ) -> list[str]:
        """Store several messages in one transaction; return their ids in order."""
        now = time.time()
        ids: list[str] = []
        with self._atomic(storage_errors=False):
            for n, message in enumerate(messages):
                # one microsecond apart: a batch is claimed in the order it was given (FIFO on ties)
                row = self._new_row(message, now, now + delay + n * 1e-6, last_error)
                first = self._first_with_key(message.idempotency_key, row.id, now)
                if first is not None:
                    ids.append(first)
                    continue
                row.save(using=self.using, force_insert=True)
                ids.append(row.id)
        return ids

    def _new_row(self, message: Message, now: float, due: float, last_error: str | None) -> Any:
        values = dict(zip(NEW_ROW_COLUMNS, new_row(message, now, due, last_error), strict=True))
        return self._rows(state=QUEUED, runs=0, **values)

    def _first_with_key(self, key: str | None, outbox_id: str, now: float) -> str | None:
        """The outbox id of the first message with ``key`` within the window, or None after
        recording ``outbox_id`` as that first message.

        ``INSERT … ON CONFLICT DO NOTHING`` then a read: on PostgreSQL a concurrent transaction
        holding the same key makes the insert wait until it commits (then its id is returned)
        or rolls back (then this one takes the key). A key older than the window is taken over.
        """
        if key is None:
            return None
        keys = self._keys.objects.using(self.using)
        cutoff = now - self.idempotency_window
        for _ in range(3):  # a concurrent purge of the key between the steps: take it again
            keys.bulk_create([self._keys(key=key, outbox_id=outbox_id, created_at=now)], ignore_conflicts=True)
            found = keys.filter(key=key).values_list("outbox_id", "created_at").first()
            if found is None:
                continue
            first, created = found
            if first == outbox_id:
                return None
            if created > cutoff:
                return str(first)
            if keys.filter(key=key, created_at__lte=cutoff).update(outbox_id=outbox_id, created_at=now):
                return None
        raise DjangoStorageError(
            f"the outbox database {self.url}: idempotency key {key!r} was deleted three times while "
            "being recorded; try again"
        )

    # -- workers -------------------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease: float) -> list[Claim]:
        """Claim up to ``limit`` due rows for ``owner`` under a lease of ``lease`` seconds.

        Due rows are ``queued`` ones whose time has come and ``sending`` ones whose lease ran
        out, in ``due_at + priority * aging`` order. A due row past its ``expires_at`` is moved
        to ``expired`` (with the reason) in the same transaction and not returned: it is never
        sent. PostgreSQL locks the rows it picks ``SKIP LOCKED``; elsewhere each row's update
        is conditional on it still being due, so a row is never claimed twice.
        """
        from django.db.models import F, Value

        now = time.time()
        with self._atomic() as connection:
            due = self._objects().filter(state__in=WAITING, due_at__lte=now)
            skip_locked = bool(connection.features.has_select_for_update_skip_locked)
            if skip_locked:
                due = due.select_for_update(skip_locked=True)
            rows = list(
                due.order_by(F("due_at") + F("priority") * Value(self.aging), "due_at", "id").values_list(
                    "id", "payload", "runs", "age_from", "expires_at"
                )[:limit]
            )
            expired, live = split_expired(rows, now, 4)
            for row in expired:
                self._objects().filter(id=row[0], state__in=WAITING, due_at__lte=now).update(
                    state=EXPIRED, lease_owner=None, last_error=expiry_reason(row[4]), updated_at=now
                )
            claimed = {
                "state": SENDING,
                "lease_owner": owner,
                "due_at": now + lease,
                "runs": F("runs") + 1,
                "updated_at": now,
            }
            if skip_locked:
                self._objects().filter(id__in=[row[0] for row in live]).update(**claimed)
            else:
                live = [
                    row
                    for row in live
                    if self._objects().filter(id=row[0], state__in=WAITING, due_at__lte=now).update(**claimed)
                ]
        return [Claim(row[0], row[1], row[2] + 1, row[3]) for row in live]

    def renew(self, owner: str, ids: Sequence[str], lease: float) -> list[str]:
        """Extend ``owner``'s lease on ``ids``; return the ids it still held."""
        now = time.time()
        with self._atomic():
            mine = self._objects().filter(id__in=list(ids), state=SENDING, lease_owner=owner)
            held = set(mine.values_list("id", flat=True))
            mine.update(due_at=now + lease, updated_at=now)
        return [id for id in ids if id in held]

    def release(self, owner: str, ids: Sequence[str]) -> None:
        """Give claimed rows back unsent (graceful shutdown): due now, this claim not counted."""
        from django.db.models import F

        now = time.time()
        self._update_owned(owner, ids, state=QUEUED, lease_owner=None, due_at=now, runs=F("runs") - 1)

    def mark_sent(
        self, id: str, *, transport: str, provider_message_id: str | None, drop_body: bool | None = None
    ) -> None:
        """Record a delivery, even when this worker's lease had run out (it is the truth);
        ``drop_body`` (default: the retention's ``keep_sent_body=0``) drops the content in the
        same transaction."""
        now = time.time()
        drop = drops_body(self.retention, drop_body)
        with self._atomic():
            rows = self._objects().filter(id=id).exclude(state=SENT)
            changes: dict[str, Any] = {
                "state": SENT,
                "lease_owner": None,
                "transport": transport,
                "provider_message_id": provider_message_id,
                "updated_at": now,
                "due_at": now,
            }
            if drop:
                recipients = rows.values_list("recipients", flat=True).first()
                if recipients is not None:
                    changes.update(payload="", subject="", recipients=digest_recipients(recipients))
            rows.update(**changes)

    def reschedule(self, owner: str, id: str, delay: float, reason: str) -> None:
        """Send a row back to ``queued`` after a transient failure, due in ``delay`` seconds."""
        self._update_owned(owner, [id], state=QUEUED, lease_owner=None, due_at=time.time() + delay, last_error=reason)

    def _finish(self, owner: str, id: str, state: str, reason: str) -> None:
        self._update_owned(owner, [id], state=state, lease_owner=None, last_error=reason)

    def _update_owned(self, owner: str, ids: Sequence[str], **changes: Any) -> None:
        """Change rows only while ``owner`` still holds their lease (a reclaimed row is not ours)."""
        if not ids:
            return
        with self._atomic():
            self._objects().filter(id__in=list(ids), state=SENDING, lease_owner=owner).update(
                **changes, updated_at=time.time()
            )

    # -- operators -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zero when empty)."""
        from django.db.models import Count

        with self._atomic():
            return state_counts(self._objects().values_list("state").annotate(n=Count("id")).order_by())

    def oldest_due(self) -> float | None:
        """Creation time of the oldest message still waiting (``queued`` or ``sending``)."""
        return self._waiting_min("created_at")

    def next_due(self) -> float | None:
        """When the next row becomes claimable, or ``None`` when nothing waits."""
        return self._waiting_min("due_at")

    def _waiting_min(self, column: str) -> float | None:
        from django.db.models import Min

        with self._atomic():
            value = self._objects().filter(state__in=WAITING).aggregate(value=Min(column))["value"]
        return None if value is None else float(value)

    def _summaries(self) -> Any:
        from django.db.models import BooleanField, Case, Value, When

        has_body = Case(When(payload="", then=Value(False)), default=Value(True), output_field=BooleanField())
        return self._objects().annotate(has_body=has_body).values_list(*SUMMARY_FIELDS)

    def entries(self, *, state: str | None = None, limit: int = 50) -> list[Entry]:
        """Rows without content, newest first, optionally of one state."""
        rows = self._summaries()
        if state:
            rows = rows.filter(state=state)
        with self._atomic():
            return [Entry.from_row(row) for row in rows.order_by("-created_at")[:limit]]

    def find(self, id_or_prefix: str) -> Entry:
        """The row whose id (or unique id prefix, or Message-ID) is ``id_or_prefix``."""
        from django.db.models import Q

        key = id_or_prefix.strip()
        match = Q(id=key) | Q(message_id=key) | Q(message_id=f"<{key}>") | Q(id__startswith=key)
        with self._atomic():
            rows = list(self._summaries().filter(match)[:2])
        return Entry.from_row(pick_match(rows, key))

    def message(self, id: str) -> Message:
        """The stored message of row ``id``."""
        with self._atomic():
            payload = self._objects().filter(id=id).values_list("payload", flat=True).first()
        return stored_message(payload, id)

    def retry(self, *, ids: Sequence[str] = (), state: str | None = None) -> int:
        """Make rows due now: the given ``ids`` and/or every row in ``state``; return how many.

        Only ``queued``, ``failed`` and ``unknown`` rows that still have their content move
        (an ``expired`` message is not sent late); a retried row's age starts again.
        """
        from django.db.models import Q

        check_retry_state(state)
        chosen = Q(id__in=list(ids)) if ids else None
        if state is not None:
            chosen = Q(state=state) if chosen is None else chosen | Q(state=state)
        if chosen is None:
            return 0
        now = time.time()
        with self._atomic():
            return int(
                self._objects()
                .filter(chosen, state__in=RETRYABLE)
                .exclude(payload="")
                .update(state=QUEUED, due_at=now, age_from=now, updated_at=now)
            )

    def purge(self, *, state: str, older_than: float = 0.0) -> int:
        """Delete rows in ``state`` last changed more than ``older_than`` seconds ago."""
        check_purge_state(state)
        with self._atomic():
            rows = self._objects().filter(state=state, updated_at__lte=time.time() - older_than)
            return int(rows.delete()[0])

    def cancel(self, ids: Sequence[str], *, reason: str) -> int:
        """Stop the given rows for good: ``queued`` and ``unknown`` ones end ``failed`` with
        ``reason`` (the admin writes "cancelled by <user>"); return how many.

        A row being sent (``sending``) is left alone: its worker's outcome would overwrite the
        cancel. Finished rows are left alone too. :meth:`retry` undoes a cancel.
        """
        if not ids:
            return 0
        now = time.time()
        with self._atomic():
            return int(
                self._objects()
                .filter(id__in=list(ids), state__in=CANCELLABLE)
                .update(state=FAILED, lease_owner=None, last_error=reason, due_at=now, updated_at=now)
            )

    def purge_rows(self, ids: Sequence[str]) -> int:
        """Delete the given rows that are finished (sent, failed, unknown, expired); return how
        many. Rows still waiting (``queued``, ``sending``) are kept: cancel them first."""
        if not ids:
            return 0
        with self._atomic():
            return int(self._objects().filter(id__in=list(ids), state__in=FINISHED).delete()[0])

    # -- retention -----------------------------------------------------------------------------

    def enforce_retention(self, retention: Retention | None = None, *, now: float | None = None) -> tuple[int, int]:
        """Apply ``retention`` (default: this outbox's) as of ``now``; return (contents dropped,
        rows deleted). Rows still waiting are never touched; idempotency keys older than the
        window are forgotten. The delivery events stored beside the outbox follow the same rule
        (:func:`mailcore.outbox.events.enforce_event_retention`; a deleted row's events go with
        it, by the trigger ``mailcore.0002`` created)."""
        rule = retention or self.retention
        now = time.time() if now is None else now
        dropped = deleted = 0
        with self._atomic():
            for states, keep in content_drops(rule):
                stale = self._objects().filter(state__in=states, updated_at__lte=now - keep).exclude(payload="")
                for id, recipients in stale.values_list("id", "recipients").iterator(chunk_size=500):
                    dropped += (
                        self._objects()
                        .filter(id=id)
                        .update(payload="", subject="", recipients=digest_recipients(recipients))
                    )
            if rule.metadata is not None:
                old = self._objects().filter(state__in=FINISHED, updated_at__lte=now - rule.metadata)
                deleted = int(old.delete()[0])
            old_keys = self._keys.objects.using(self.using).filter(created_at__lte=now - self.idempotency_window)
            old_keys.delete()
        if self.event_db() is not None:  # the same rule for the events stored beside the outbox
            from mailcore.outbox.events import enforce_event_retention

            enforce_event_retention(self, rule, now=now)
        return dropped, deleted

    def scrub(self) -> bool:
        """Truncate SQLite's WAL (so dropped content survives in no file); a no-op elsewhere.
        Returns whether nothing is left to scrub."""
        connection = self._connection()
        if connection.vendor != "sqlite" or connection.in_atomic_block:
            return bool(connection.vendor != "sqlite")
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
        return not (row and row[0])

    def close(self) -> None:
        """Nothing to close: the connections are Django's (a request's own must stay open)."""

    def __enter__(self) -> DjangoOutbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DjangoOutbox {self.url}>"


class _DjangoEventDB:
    """The :class:`~mailcore.outbox.eventsql.EventDB` of a :class:`DjangoOutbox`: the seam's
    neutral SQL through Django's cursor (``%s`` on both vendors), in the store's transactions."""

    def __init__(self, store: DjangoOutbox, dialect: Dialect) -> None:
        self._store = store
        self.dialect = dialect

    def read(self, work: Callable[[Tx], T]) -> T:
        with self._store._atomic() as connection, connection.cursor() as cursor:
            return work(Tx(cursor, self.dialect))

    def write(self, work: Callable[[Tx], T], *, durable: bool = False) -> T:
        """``work`` in ``transaction.atomic(using=alias)`` (a savepoint inside the caller's),
        committed when this returns outside a transaction."""
        outermost = not self._store._connection().in_atomic_block
        with self._store._atomic() as connection, connection.cursor() as cursor:
            tx = Tx(cursor, self.dialect)
            if self.dialect is POSTGRESQL and durable:
                # whatever the server's or DATABASES OPTIONS' synchronous_commit: the provider is
                # answered 2xx after this commit (SET LOCAL ends with the transaction)
                tx.run("SET LOCAL synchronous_commit = on")
            elif self.dialect is DJANGO_SQLITE and outermost:
                # Django begins SQLite transactions DEFERRED: a write first takes the write lock,
                # as the SQLite outbox's BEGIN IMMEDIATE does, so two processes that both read
                # first never deadlock upgrading their locks (one waits on busy_timeout instead)
                tx.run("UPDATE {suppressions} SET scope = scope WHERE 0 = 1")
            return work(tx)


def open_django_outbox(url: str = "django://", **_: Any) -> DjangoOutbox:
    """The outbox named by a ``django://[ALIAS][?params]`` URL (``db`` means ``django://``).

    Needs Django configured: in ``manage.py`` commands and the web process it is; elsewhere
    ``DJANGO_SETTINGS_MODULE`` must name the settings (Django is then set up here).
    """
    alias, options = check_django_outbox_url(url)
    return DjangoOutbox(alias, **options)


def check_django_outbox_url(url: str) -> tuple[str | None, dict[str, Any]]:
    """(alias or None, DjangoOutbox options) of a ``django://`` URL, without touching Django's
    database; a :class:`ConfigurationError` says what is wrong with it."""
    text = url.strip()
    if text in ("db", "django"):
        text = f"{SCHEME}://"
    parts = urlsplit(text)
    if parts.scheme != SCHEME:
        raise ConfigurationError(f"not a django:// outbox URL: {url!r}; use django:// or django://ALIAS")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"django:// outbox URL {url!r}: the database is a DATABASES alias in the host part "
            "(django://default), not a path"
        )
    if any(c in parts.netloc for c in "@:[]"):
        raise ConfigurationError(
            f"django:// outbox URL {url!r}: give a DATABASES alias (django://default); the "
            "connection settings come from DATABASES, not the URL"
        )
    params = outbox_params(text, _PARAMS)
    options: dict[str, Any] = {"retention": Retention.from_params(params)}
    if "aging" in params:
        options["aging"] = check_aging(params["aging"], "aging= on the outbox URL")
    if "idempotency_window" in params:
        seconds = parse_duration(params["idempotency_window"], name="idempotency_window")
        options["idempotency_window"] = check_window(seconds, "idempotency_window= on the outbox URL")
    return parts.netloc or None, options


def _ensure_django() -> None:
    """Set Django up from ``DJANGO_SETTINGS_MODULE`` when nothing did yet (a plain
    ``mailcore worker --outbox django://``), and check the mailcore app is installed."""
    from django.conf import settings  # type: ignore[import-untyped,unused-ignore]

    if not settings.configured:
        if not os.environ.get("DJANGO_SETTINGS_MODULE"):
            raise ConfigurationError(
                "the django:// outbox needs Django's settings: run `python manage.py mailcore_worker`, "
                "or set DJANGO_SETTINGS_MODULE"
            )
        import django  # type: ignore[import-untyped,unused-ignore]

        django.setup()
    from django.apps import apps  # type: ignore[import-untyped,unused-ignore]

    if not apps.is_installed("mailcore.adapters.django"):
        raise ConfigurationError(
            "the django:// outbox keeps its rows in the mailcore app's tables: add "
            "'mailcore.adapters.django' to INSTALLED_APPS and run `python manage.py migrate`"
        )
