"""One SQL seam for what is stored beside the outbox: delivery events, the suppression list, the
timeline and settling run the same code on the SQLite outbox, the PostgreSQL outbox and the
Django-database outbox (on a SQLite or PostgreSQL database).

The functions of :mod:`mailcore.outbox.events`, :mod:`mailcore.outbox.suppressions` and
:mod:`mailcore.outbox.timeline` write their SQL once, in a neutral form, and run it through
:func:`event_db`:

* tables are named ``{outbox}``, ``{events}`` and ``{suppressions}`` (SQLite: ``outbox``,
  ``delivery_events``, ``suppressions``; PostgreSQL and Django's database: ``mailcore_outbox``,
  ``mailcore_delivery_events``, ``mailcore_suppressions``);
* parameters are ``?`` (``%s`` for psycopg and for Django's cursors, which take ``%s`` on SQLite
  too; a literal ``%`` is escaped for them);
* row locks are ``{skip_locked}`` (claiming pending events: ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so several receiver processes never wait for each other), ``{for_update}`` and
  ``{key_share}`` (the outbox row an event is linked to cannot be deleted before the event is
  committed); on SQLite they are empty: a write transaction (``BEGIN IMMEDIATE``) already holds
  the whole file;
* what both dialects share is used as it is: ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE``
  (SQLite ≥ 3.24), ``||``, ``lower()``, ``LIKE … ESCAPE``, ``COALESCE``.

:func:`render` (pure, cached) turns neutral SQL into a dialect's. :func:`event_db` gives an
:class:`EventDB` for an open store: ``read`` and ``write`` run a function with a :class:`Tx` —
on SQLite under the store's lock or in its write transaction, on PostgreSQL through the store's
connection handling (reconnect, bounded waits, errors as ``PostgresStorageError``). A store
defined outside the core gives its own :class:`EventDB` (:class:`ExternalEventStore`): the
Django-database outbox runs the same neutral SQL through Django's cursor in
``transaction.atomic(using=alias)`` (errors as ``DjangoStorageError``).

A store without these tables (a Django database that is neither SQLite nor PostgreSQL, Celery)
is a :class:`ConfigurationError` that says what to use instead (:func:`no_events_message`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Protocol, Self, TypeAlias, TypeGuard, TypeVar, runtime_checkable

from mailcore.errors import ConfigurationError
from mailcore.outbox.location import resolve_outbox_url
from mailcore.outbox.postgres import PostgresOutbox
from mailcore.outbox.queue import open_store, queue_scheme
from mailcore.outbox.store import SQLiteOutbox, open_outbox

if TYPE_CHECKING:
    import psycopg

    from mailcore.outbox.api import Entry
    from mailcore.outbox.retention import Retention

__all__ = [
    "DJANGO_SQLITE",
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "EventDB",
    "EventStore",
    "ExternalEventStore",
    "Tx",
    "event_db",
    "has_events",
    "no_events_message",
    "open_event_store",
    "release_thread",
    "render",
]

T = TypeVar("T")

#: The stores whose database holds delivery events and the suppression list: mailcore's SQLite
#: and PostgreSQL outboxes, and a store of an adapter that gives its own :class:`EventDB` (the
#: Django-database outbox on SQLite or PostgreSQL; :func:`has_events` says).
EventStore: TypeAlias = "SQLiteOutbox | PostgresOutbox | ExternalEventStore"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the two databases in the SQL this seam runs."""

    name: str
    outbox: str
    events: str
    suppressions: str
    #: ``%s`` placeholders (psycopg) instead of ``?`` (sqlite3)
    format_params: bool
    skip_locked: str
    for_update: str
    key_share: str


SQLITE: Final = Dialect(
    name="sqlite",
    outbox="outbox",
    events="delivery_events",
    suppressions="suppressions",
    format_params=False,
    skip_locked="",
    for_update="",
    key_share="",
)
POSTGRESQL: Final = Dialect(
    name="postgresql",
    outbox="mailcore_outbox",
    events="mailcore_delivery_events",
    suppressions="mailcore_suppressions",
    format_params=True,
    skip_locked=" FOR UPDATE SKIP LOCKED",
    for_update=" FOR UPDATE",
    key_share=" FOR KEY SHARE",
)
#: Django's database on SQLite: the PostgreSQL table names (Django's migration ``mailcore.0002``
#: creates them), ``%s`` placeholders (Django's SQLite cursor turns them into ``?``), no row
#: locks. Django's database on PostgreSQL is :data:`POSTGRESQL` exactly. The Django adapter's
#: :class:`EventDB` runs them (``mailcore.adapters.django.outbox``).
DJANGO_SQLITE: Final = Dialect(
    name="sqlite",
    outbox="mailcore_outbox",
    events="mailcore_delivery_events",
    suppressions="mailcore_suppressions",
    format_params=True,
    skip_locked="",
    for_update="",
    key_share="",
)
#: Django database vendors with event tables, and their dialects.
DJANGO_DIALECTS: Final = {"sqlite": DJANGO_SQLITE, "postgresql": POSTGRESQL}


@lru_cache(maxsize=256)
def render(sql: str, dialect: Dialect) -> str:
    """Neutral SQL (``{events}``, ``?``, ``{skip_locked}`` …) in ``dialect``'s form (pure).

    Placeholders are replaced outside quoted literals only, so a ``?`` or ``%`` inside
    ``'…'`` stays what it is (a ``%`` is doubled for psycopg, which reads it as a format).
    """
    text = sql.format(
        outbox=dialect.outbox,
        events=dialect.events,
        suppressions=dialect.suppressions,
        skip_locked=dialect.skip_locked,
        for_update=dialect.for_update,
        key_share=dialect.key_share,
    )
    if not dialect.format_params:
        return text
    out: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted  # '' inside a literal toggles twice: still inside
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class _Cursor(Protocol):
    """What :class:`Tx` needs of a DB-API cursor (sqlite3's and psycopg's both have it)."""

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Tx:
    """A cursor inside a read or a write of :class:`EventDB`; takes neutral SQL."""

    __slots__ = ("_cursor", "dialect")

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor: Any = cursor
        self.dialect = dialect

    def _run(self, sql: str, args: Sequence[Any]) -> _Cursor:
        # always a tuple, even empty: psycopg only reads %% as % when parameters are given
        self._cursor.execute(render(sql, self.dialect), tuple(args))
        cursor: _Cursor = self._cursor
        return cursor

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row ``sql`` returns."""
        return [tuple(row) for row in self._run(sql, args).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row ``sql`` returns, or ``None``."""
        row = self._run(sql, args).fetchone()
        return None if row is None else tuple(row)

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; return how many rows it changed."""
        return max(self._run(sql, args).rowcount, 0)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run a statement once per parameter row; return how many rows changed in all."""
        values = [tuple(row) for row in rows]
        if not values:
            return 0
        self._cursor.executemany(render(sql, self.dialect), values)
        return max(int(self._cursor.rowcount), 0)


class EventDB(Protocol):
    """Reads and writes of the event tables of one store."""

    dialect: Dialect

    def read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` outside a write transaction (it only reads)."""
        ...

    def write(self, work: Callable[[Tx], T], *, durable: bool = False) -> T:
        """Run ``work`` in one transaction. ``durable``: the commit waits for the disk on
        PostgreSQL even when the store's workers commit asynchronously (an event the provider
        is told we have, an operator's change); SQLite commits as its file is configured."""
        ...


class _SQLiteDB:
    dialect: Dialect = SQLITE

    def __init__(self, store: SQLiteOutbox) -> None:
        self._store = store

    def read(self, work: Callable[[Tx], T]) -> T:
        with self._store._lock:
            return work(Tx(self._store._db.cursor(), SQLITE))

    def write(self, work: Callable[[Tx], T], *, durable: bool = False) -> T:
        with self._store._transaction() as db:
            return work(Tx(db.cursor(), SQLITE))


class _PostgresDB:
    dialect: Dialect = POSTGRESQL

    def __init__(self, store: PostgresOutbox) -> None:
        self._store = store

    def read(self, work: Callable[[Tx], T]) -> T:
        return self._store._run(lambda cur: work(Tx(cur, POSTGRESQL)), write=False)

    def write(self, work: Callable[[Tx], T], *, durable: bool = False) -> T:
        def run(cur: psycopg.Cursor[Any]) -> T:
            return work(Tx(cur, POSTGRESQL))

        return self._store._run(run, durable=durable)


@runtime_checkable
class ExternalEventStore(Protocol):
    """An outbox store defined outside the core whose database keeps the event tables: it gives
    its own :class:`EventDB` (the Django-database outbox does, on SQLite and PostgreSQL). The
    core never imports such a store; it recognizes one by these members."""

    retention: Retention

    @property
    def url(self) -> str: ...

    def find(self, id_or_prefix: str) -> Entry: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def event_db(self) -> EventDB | None:
        """This store's :class:`EventDB`, or None when its database keeps no events."""
        ...

    def release_thread(self) -> None:
        """Give back what the calling thread holds of the store (a thread that ends)."""
        ...


def has_events(store: object) -> TypeGuard[EventStore]:
    """Whether ``store`` keeps delivery events and the suppression list: a SQLite or PostgreSQL
    outbox, or an :class:`ExternalEventStore` whose database does (the Django-database outbox on
    SQLite or PostgreSQL)."""
    if isinstance(store, SQLiteOutbox | PostgresOutbox):
        return True
    return isinstance(store, ExternalEventStore) and store.event_db() is not None


def event_db(store: EventStore) -> EventDB:
    """The :class:`EventDB` of ``store``.

    :raises ConfigurationError: for a store without event tables (see :func:`no_events_message`).
    """
    if isinstance(store, SQLiteOutbox):
        return _SQLiteDB(store)
    if isinstance(store, PostgresOutbox):
        return _PostgresDB(store)
    found = store.event_db() if isinstance(store, ExternalEventStore) else None
    if found is None:
        raise ConfigurationError(no_events_message(_describe(store)))
    return found


def release_thread(store: EventStore) -> None:
    """What a thread that used ``store`` gives back when it ends (the event pipeline's handler):
    an external store's per-thread resources (Django's connection); nothing for mailcore's own
    stores, whose connection is the store's."""
    if isinstance(store, ExternalEventStore):
        store.release_thread()


def _describe(store: object) -> str:
    where = str(getattr(store, "url", None) or type(store).__name__)
    vendor = getattr(store, "vendor", None)
    return f"{where} (a {vendor} database)" if isinstance(vendor, str) else where


def open_event_store(url: str | None = None) -> EventStore:
    """Open the outbox whose database keeps the events and the suppression list: ``url``, else
    ``MAILCORE_OUTBOX``, else the per-user SQLite file (created when missing, as a producer does).

    A PostgreSQL outbox's schema is created or upgraded when it is missing or older, as every
    producer and worker does on open (``mailcore outbox migrate`` does it ahead of time). A
    ``django://[ALIAS]`` URL opens the Django-database outbox (Django configured, or
    ``DJANGO_SETTINGS_MODULE`` set; its tables are ``manage.py migrate``'s).

    :raises ConfigurationError: for another queue (Celery) or a Django database that is neither
        SQLite nor PostgreSQL, saying what to use instead.
    """
    chosen = resolve_outbox_url(url)
    scheme = queue_scheme(chosen)
    if scheme == "sqlite":
        return open_outbox(chosen)
    if scheme in ("postgresql", "postgres"):
        return PostgresOutbox(chosen)
    if scheme == "django":  # through the queue registry: the core imports no adapter
        store = open_store(chosen)
        if has_events(store):
            return store
        store.close()
        raise ConfigurationError(no_events_message(_describe(store)))
    raise ConfigurationError(no_events_message(f"the {scheme!r} queue"))


def no_events_message(where: str) -> str:
    """Why ``where`` (a store's URL or kind, never with a password) has no delivery events or
    suppression list, and what to use instead."""
    return (
        f"delivery events, `mailcore status` and the suppression list are kept in a SQLite or PostgreSQL "
        f"outbox; {where} is neither. Use a sqlite:/// file or a postgresql:// database as the outbox URL "
        f"(--outbox, MAILCORE_OUTBOX, suppression=), or django://ALIAS for a Django database on SQLite or "
        f"PostgreSQL (`manage.py migrate` creates the tables)"
    )
