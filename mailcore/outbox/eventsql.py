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
connection handling (reconnect, bounded waits, errors as ``PostgresStorageError``), on Django's
database in ``transaction.atomic(using=alias)`` through the store's error handling (errors as
``DjangoStorageError``, a broken connection closed for the next call). The Django store is found
without importing Django here: a ``DjangoOutbox`` exists only once its module was imported.

A store without these tables (a Django database that is neither SQLite nor PostgreSQL, Celery)
is a :class:`ConfigurationError` that says what to use instead (:func:`no_events_message`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeGuard, TypeVar

from mailcore.errors import ConfigurationError
from mailcore.outbox.location import resolve_outbox_url
from mailcore.outbox.postgres import PostgresOutbox
from mailcore.outbox.queue import queue_scheme
from mailcore.outbox.store import SQLiteOutbox, open_outbox

if TYPE_CHECKING:
    import psycopg

    from mailcore.adapters.django.outbox import DjangoOutbox

__all__ = [
    "DJANGO_SQLITE",
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "EventDB",
    "EventStore",
    "Tx",
    "event_db",
    "has_events",
    "no_events_message",
    "open_event_store",
    "release_thread",
    "render",
]

T = TypeVar("T")

#: The stores whose database holds delivery events and the suppression list (a ``DjangoOutbox``
#: only on a SQLite or PostgreSQL database: :func:`has_events` says).
EventStore: TypeAlias = "SQLiteOutbox | PostgresOutbox | DjangoOutbox"
#: Where the Django-database outbox lives (never imported here: see :func:`_django_outbox_class`).
_DJANGO_OUTBOX_MODULE: Final = "mailcore.adapters.django.outbox"


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
#: locks. Django's database on PostgreSQL is :data:`POSTGRESQL` exactly.
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


class _DjangoDB:
    """Django's database through its connection (``%s`` on both vendors)."""

    def __init__(self, store: DjangoOutbox, dialect: Dialect) -> None:
        self._store = store
        self.dialect = dialect

    def read(self, work: Callable[[Tx], T]) -> T:
        with self._store._atomic() as connection, connection.cursor() as cursor:
            return work(Tx(cursor, self.dialect))

    def write(self, work: Callable[[Tx], T], *, durable: bool = False) -> T:
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


def _django_outbox_class() -> type[DjangoOutbox] | None:
    """``DjangoOutbox`` when its module is loaded (a store of it can exist only then), else None:
    the core never imports Django."""
    module = sys.modules.get(_DJANGO_OUTBOX_MODULE)
    found: type[DjangoOutbox] | None = getattr(module, "DjangoOutbox", None)
    return found


def _django_dialect(store: object) -> Dialect | None:
    """The dialect of a ``DjangoOutbox``'s database, or None (not one, or another vendor)."""
    cls = _django_outbox_class()
    if cls is None or not isinstance(store, cls):
        return None
    return DJANGO_DIALECTS.get(store.vendor)


def has_events(store: object) -> TypeGuard[EventStore]:
    """Whether ``store`` keeps delivery events and the suppression list: a SQLite or PostgreSQL
    outbox, or the Django-database outbox on a SQLite or PostgreSQL database."""
    return isinstance(store, SQLiteOutbox | PostgresOutbox) or _django_dialect(store) is not None


def event_db(store: EventStore) -> EventDB:
    """The :class:`EventDB` of ``store``.

    :raises ConfigurationError: for a store without event tables (see :func:`no_events_message`).
    """
    if isinstance(store, SQLiteOutbox):
        return _SQLiteDB(store)
    if isinstance(store, PostgresOutbox):
        return _PostgresDB(store)
    dialect = _django_dialect(store)
    if dialect is not None:
        return _DjangoDB(store, dialect)
    raise ConfigurationError(no_events_message(_describe(store)))


def release_thread(store: EventStore) -> None:
    """What a thread that used ``store`` gives back when it ends (the event pipeline's handler):
    its own Django connection; nothing for the other stores, whose connection is the store's."""
    if _django_dialect(store) is not None:
        store.close_thread_connection()  # type: ignore[union-attr]  # a DjangoOutbox


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
    if scheme == "django":
        from mailcore.adapters.django.outbox import open_django_outbox

        store = open_django_outbox(chosen)
        if has_events(store):
            return store
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
