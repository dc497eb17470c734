"""The PostgreSQL outbox: the SQLite outbox's states and guarantees, for workers on many machines.

``MAILCORE_OUTBOX=postgresql://mailcore@db.internal/app`` (psycopg 3: ``pip install
'steadymail[postgresql]'``). The rows live in the table ``mailcore_outbox`` (the columns of the
SQLite ``outbox`` table plus ``priority``, ``expires_at`` and ``idempotency_key``), which is also
the table of the Django-database outbox: ``mailcore worker --outbox postgresql://…`` drains what
a Django application wrote in its own transactions.

* **Claims** take a batch with ``SELECT … FOR UPDATE SKIP LOCKED`` and put it under a lease in
  the same statement, in the claim order of :mod:`mailcore.outbox.lifetimes` (``due_at + rank ×
  aging``, an expression index serves it): workers on many machines never wait for each other
  and never share a row. A crashed worker's rows come back when their lease runs out, exactly as
  in SQLite, so delivery is at least once.
* **Durability**: :meth:`PostgresOutbox.enqueue` (and ``retry``, ``purge``) commit with
  ``synchronous_commit = on`` before they return, whatever the server's default. The state
  changes a worker makes (claims, leases, ``sent``/``failed``/… marks) commit with
  ``synchronous_commit = off`` (``synchronous="NORMAL"``, the default; ``?synchronous=full`` on
  the URL or ``synchronous="FULL"`` makes them wait too): a crash of the *database server* may
  roll back the last of them, which turns a ``sent`` mark back into a claim that is retried —
  a possible duplicate, never a loss (SQLite's NORMAL trade-off for workers).
* **Every wait is bounded**: ``connect_timeout`` (default 10 s), ``statement_timeout`` (30 s),
  ``lock_timeout`` (10 s), ``idle_in_transaction_session_timeout`` (60 s), and TCP keepalives
  that notice a vanished server within about a minute.
* **One connection per store**, used under a lock (threads share it, like the SQLite store). A
  broken connection (server restarted, ``pg_terminate_backend``, a network cut) is dropped and
  the next call opens a new one; a call that failed *before* its COMMIT was sent is run again
  once on the new connection, so an idle store survives a server restart without an error.
* **Storage errors** (connection lost, timeouts, serialization failures, a read-only server
  after a failover) are raised as :class:`PostgresStorageError`, an ``OSError``: the worker
  retries them like a locked SQLite file. Their text never contains the password.
* **Schema**: versioned in ``mailcore_schema``; created or migrated on open (under an advisory
  lock, so workers starting together do not race) or by ``mailcore outbox migrate``. A table
  created by Django's migration with the same columns is adopted as it is.
* **Retention** as in SQLite: content of a sent message dropped in the transaction that marks it
  sent (recipients kept as digests), the rest by :meth:`PostgresOutbox.enforce_retention`, which
  applies the same rule to the delivery events stored beside the outbox (schema version 2:
  ``mailcore_delivery_events`` and ``mailcore_suppressions``, see :mod:`mailcore.outbox.events`).
  PostgreSQL keeps old row versions until VACUUM and in its WAL and backups: encrypt the volume
  if that matters (docs/operations.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final, TypeVar

from mailcore.errors import ConfigurationError, MailcoreError
from mailcore.message import Message
from mailcore.outbox.api import Claim, Entry
from mailcore.outbox.lifetimes import (
    DEFAULT_AGING,
    IDEMPOTENCY_WINDOW,
    check_aging,
    check_window,
    expiry_reason,
)
from mailcore.outbox.pgurl import PostgresURL, parse_postgres_url
from mailcore.outbox.retention import Retention, digest_recipients, parse_duration
from mailcore.outbox.rules import (
    FINISHED,
    RETRYABLE,
    SUMMARY_SQL,
    ParkingMarks,
    check_purge_state,
    check_retry_state,
    content_drops,
    drops_body,
    like_prefix,
    new_row,
    pick_match,
    split_expired,
    state_counts,
    stored_message,
)
from mailcore.redact import mask_secrets

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA_VERSION", "PostgresOutbox", "PostgresStorageError", "open_postgres_outbox"]

T = TypeVar("T")

#: The schema version this mailcore writes and reads (``mailcore_schema.version``). Version 1:
#: the outbox and idempotency tables; version 2: delivery events and the suppression list
#: (:mod:`mailcore.outbox.events`).
SCHEMA_VERSION: Final = 2
TABLE: Final = "mailcore_outbox"  # the name is written out in the SQL below


def claim_order(aging: float) -> str:
    """The SQL of the claim order for ``aging`` seconds per rank. The expression index
    ``mailcore_outbox_claim`` is on the text for the default aging (300 s): another aging still
    claims in the right order, without that index."""
    return f"(due_at + priority * {float(aging)!r})"


_CLAIM_KEY: Final = claim_order(DEFAULT_AGING)
_WAITING: Final = "state IN ('queued', 'sending')"
#: Serializes schema changes between processes (an arbitrary constant: "mailcore" in ASCII).
_MIGRATION_LOCK: Final = 0x6D61696C636F7265
_DEFAULTS: Final = {"connect_timeout": 10.0, "statement_timeout": 30.0, "lock_timeout": 10.0}

#: Each version's statements; a database at version N runs those of N+1 … SCHEMA_VERSION.
#: Every statement tolerates objects that exist already (a table created by Django's migration).
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS mailcore_outbox (
            id text PRIMARY KEY,
            message_id text NOT NULL,
            state text NOT NULL,
            payload text NOT NULL,
            sender text NOT NULL,
            recipients text NOT NULL,
            subject text NOT NULL,
            runs integer NOT NULL DEFAULT 0,
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            age_from double precision NOT NULL,
            due_at double precision NOT NULL,
            lease_owner text NULL,
            last_error text NULL,
            transport text NULL,
            provider_message_id text NULL,
            priority smallint NOT NULL DEFAULT 1,
            expires_at double precision NULL,
            idempotency_key text NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS mailcore_outbox_claim ON mailcore_outbox ({_CLAIM_KEY}) WHERE {_WAITING}",
        f"CREATE INDEX IF NOT EXISTS mailcore_outbox_due ON mailcore_outbox (due_at) WHERE {_WAITING}",
        "CREATE INDEX IF NOT EXISTS mailcore_outbox_state ON mailcore_outbox (state, updated_at)",
        "CREATE INDEX IF NOT EXISTS mailcore_outbox_message_id ON mailcore_outbox (message_id)",
        """CREATE TABLE IF NOT EXISTS mailcore_idempotency (
            key text PRIMARY KEY,
            outbox_id text NOT NULL,
            created_at double precision NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS mailcore_idempotency_created ON mailcore_idempotency (created_at)",
    ),
    # Delivery events and the suppression list, beside the outbox (the SQLite outbox's tables,
    # see mailcore.outbox.events). An outbox row's events are deleted with it by a statement-level
    # trigger, not a foreign key: a TRUNCATE of the outbox (Django's test flush) still works, and
    # the events of rows gone that way are deleted later as linked to no row.
    2: (
        """CREATE TABLE IF NOT EXISTS mailcore_delivery_events (
            seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            dedup_key text NOT NULL UNIQUE,
            provider text NOT NULL,
            kind text NOT NULL,
            bounce_type text NULL,
            suppressed_by text NULL,
            categories text NOT NULL DEFAULT '',
            recipient text NULL,
            correlation_id text NULL,
            message_id text NULL,
            provider_message_id text NULL,
            provider_event_id text NULL,
            occurred_at double precision NOT NULL,
            received_at double precision NOT NULL,
            reason text NULL,
            diagnostic text NULL,
            raw text NOT NULL,
            outbox_id text NULL,
            handled_at double precision NULL,
            claimed_until double precision NULL
        )""",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_pending ON mailcore_delivery_events (seq) "
        "WHERE handled_at IS NULL",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_outbox ON mailcore_delivery_events (outbox_id)",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_message ON mailcore_delivery_events (message_id)",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_provider_message "
        "ON mailcore_delivery_events (provider_message_id)",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_recipient ON mailcore_delivery_events (recipient)",
        "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_received ON mailcore_delivery_events (received_at)",
        "CREATE INDEX IF NOT EXISTS mailcore_outbox_provider_message_id ON mailcore_outbox (provider_message_id)",
        """CREATE OR REPLACE FUNCTION mailcore_outbox_delete_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM mailcore_delivery_events AS e USING gone WHERE e.outbox_id = gone.id;
            RETURN NULL;
        END
        $$""",
        "DROP TRIGGER IF EXISTS mailcore_outbox_delete_events ON mailcore_outbox",
        "CREATE TRIGGER mailcore_outbox_delete_events AFTER DELETE ON mailcore_outbox "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION mailcore_outbox_delete_events()",
        """CREATE TABLE IF NOT EXISTS mailcore_suppressions (
            address text NOT NULL,
            scope text NOT NULL,
            reason text NOT NULL,
            source text NOT NULL,
            detail text NULL,
            created_at double precision NOT NULL,
            PRIMARY KEY (address, scope)
        )""",
        "CREATE INDEX IF NOT EXISTS mailcore_suppressions_created ON mailcore_suppressions (created_at)",
    ),
}
#: ``digest_recipients(recipients)`` in SQL, for printable-ASCII recipients only (where
#: PostgreSQL's lower() is Python's): ``sha256:`` + 16 hex digits of each lower-cased address.
_SQL_DIGESTS: Final = (
    "(SELECT coalesce(string_agg(CASE WHEN lower(btrim(r)) LIKE 'sha256:%%' THEN lower(btrim(r)) ELSE 'sha256:' || "
    "left(encode(sha256(convert_to(lower(btrim(r)), 'UTF8')), 'hex'), 16) END, ',' ORDER BY n), '') "
    "FROM unnest(string_to_array(recipients, ',')) WITH ORDINALITY AS t(r, n) WHERE btrim(r) != '')"
)


class PostgresStorageError(MailcoreError, OSError):
    """The outbox database could not be used right now: connection lost or refused, a timeout,
    a serialization failure, a read-only server. Retried by the worker; the text names the
    database (password masked) and what PostgreSQL said."""


class PostgresOutbox(ParkingMarks):
    """A durable outbox in a PostgreSQL database, shared by producers and workers on many machines.

    :param url: ``postgresql://user:password@host:port/dbname?…`` (see :mod:`mailcore.outbox.pgurl`).
    :param retention: what to keep how long (default: the URL's ``keep_*`` parameters, else the
        defaults of :class:`Retention`).
    :param synchronous: ``"NORMAL"`` (default: enqueues wait for the WAL flush, a worker's state
        changes do not) or ``"FULL"`` (every commit waits); see the module docs. The URL's
        ``?synchronous=full|normal`` sets it when this argument is not given.
    :param migrate: create or upgrade the schema when it is missing or older (default); with
        ``False`` a missing schema is a :class:`ConfigurationError` that says to run
        ``mailcore outbox migrate`` (the inspecting CLI commands never create anything).
    :param check: with ``migrate=False``, whether to check the schema version at all
        (``mailcore outbox migrate`` opens the store without it, then calls :meth:`migrate`).
    """

    #: What the worker retries (with a backoff) instead of failing: see :class:`PostgresStorageError`.
    storage_errors: tuple[type[BaseException], ...] = (PostgresStorageError,)

    def __init__(
        self,
        url: str,
        *,
        retention: Retention | None = None,
        synchronous: str | None = None,
        migrate: bool = True,
        check: bool = True,
    ) -> None:
        self._url: PostgresURL = parse_postgres_url(url)
        params = self._url.params
        mode = (synchronous or params.get("synchronous") or "NORMAL").upper()
        if mode not in ("FULL", "NORMAL"):
            raise ConfigurationError(
                f"synchronous must be full or normal, not {synchronous or params['synchronous']!r}"
            )
        self._psycopg = _import_psycopg()
        self.retention = retention or Retention.from_params(params)
        self.connect_timeout = _seconds(params, "connect_timeout")
        self.statement_timeout = _seconds(params, "statement_timeout")
        self.lock_timeout = _seconds(params, "lock_timeout")
        window = params.get("idempotency_window")
        self.idempotency_window = (
            IDEMPOTENCY_WINDOW if window is None else check_window(_duration(window, "idempotency_window"))
        )
        self.aging = check_aging(params.get("aging", DEFAULT_AGING), "aging= on the outbox URL")
        self._claim_key = claim_order(self.aging)
        #: the session's synchronous_commit: the worker's state changes; durable writes say "on" locally
        self.synchronous_commit = "off" if mode == "NORMAL" else "on"
        self._begin_durable = "BEGIN; SET LOCAL synchronous_commit = on" if mode == "NORMAL" else "BEGIN"
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        if migrate:
            self.migrate()
        elif check:
            self._check_schema()

    # -- connection ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The outbox URL with the password masked (for logs and status output)."""
        return self._url.display

    def _connection(self) -> psycopg.Connection[Any]:
        current = self._conn
        if current is not None and not current.closed and not current.broken:
            return current
        self._discard()
        options: dict[str, Any] = {
            "application_name": "mailcore-outbox",
            **self._url.connect,
            "connect_timeout": max(2, round(self.connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": 20,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": int((self.statement_timeout + 30.0) * 1000),
        }
        if self._url.password is not None:
            options["password"] = self._url.password.reveal()
        try:
            conn: psycopg.Connection[Any] = self._psycopg.connect(autocommit=True, **options)
        except self._psycopg.Error as error:
            raise self._storage_error("cannot connect to", error) from None
        try:
            conn.execute(
                f"SET statement_timeout = {int(self.statement_timeout * 1000)}; "
                f"SET lock_timeout = {int(self.lock_timeout * 1000)}; "
                "SET idle_in_transaction_session_timeout = 60000; "
                f"SET synchronous_commit = {self.synchronous_commit}"
            )
        except self._psycopg.Error as error:
            conn.close()
            raise self._storage_error("cannot configure the session on", error) from None
        self._conn = conn
        return conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection may fail to close; it is gone either way
                conn.close()

    def _storage_error(self, doing: str, error: BaseException) -> PostgresStorageError:
        text = mask_secrets(str(error).strip(), [self._url.password])
        return PostgresStorageError(f"{doing} the outbox database {self.url}: {type(error).__name__}: {text}")

    def _run(
        self,
        work: Callable[[psycopg.Cursor[Any]], T],
        *,
        write: bool = True,
        idempotent: bool = False,
        durable: bool = False,
    ) -> T:
        """Run ``work`` with a cursor: in a transaction for a write, in autocommit for a read or
        an ``idempotent`` write (one statement whose second run changes nothing: one round trip
        instead of BEGIN, statement, COMMIT). A ``durable`` write's COMMIT waits for the WAL
        flush whatever the session's ``synchronous_commit`` (enqueues, operator actions).

        A storage error becomes :class:`PostgresStorageError`. When the connection broke during
        a read or an idempotent write, or before a write's COMMIT was sent, ``work`` runs once
        more on a new connection: nothing of the first try can have been committed twice.
        """
        pg = self._psycopg
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                committing = False
                try:
                    if not write or idempotent:
                        with conn.cursor() as cur:
                            return work(cur)
                    with conn.cursor() as cur:
                        # BEGIN and SET LOCAL in one round trip (a simple query of two statements)
                        cur.execute(self._begin_durable if durable else "BEGIN")
                        try:
                            result = work(cur)
                        except BaseException:
                            if not conn.broken:
                                with suppress(pg.Error):
                                    cur.execute("ROLLBACK")
                            raise
                        committing = True
                        cur.execute("COMMIT")
                    return result
                except (pg.OperationalError, pg.InterfaceError, pg.errors.InternalError) as error:
                    broken = conn.closed or conn.broken
                    if broken:
                        self._discard()
                    if attempt == 1 and broken and not committing:
                        continue
                    raise self._storage_error("lost" if broken else "error on", error) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- schema --------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version of the database (0: no mailcore schema yet)."""
        return self._run(_read_version, write=False)

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema; return (version before, version after).

        Safe to run again and from many processes at once (an advisory lock serializes them). A
        database at a newer version than this mailcore knows is a :class:`ConfigurationError`.
        """
        before = self.schema_version()
        self._refuse_newer(before)
        if before == SCHEMA_VERSION:
            return before, before

        def upgrade(cur: psycopg.Cursor[Any]) -> int:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            version = _read_version(cur)
            self._refuse_newer(version)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    cur.execute(statement)  # fixed DDL, no input in it
            cur.execute("CREATE TABLE IF NOT EXISTS mailcore_schema (version integer NOT NULL)")
            cur.execute("DELETE FROM mailcore_schema")
            cur.execute("INSERT INTO mailcore_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
            return version

        self._run(upgrade, durable=True)
        return before, SCHEMA_VERSION

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"outbox {self.url} has schema version {version}; this mailcore knows {SCHEMA_VERSION}. Upgrade mailcore."
            )

    def _check_schema(self) -> None:
        version = self.schema_version()
        self._refuse_newer(version)
        if version < SCHEMA_VERSION:
            found = "no mailcore outbox" if version == 0 else f"outbox schema version {version}"
            raise ConfigurationError(
                f"{found} in {self.url} (this mailcore needs version {SCHEMA_VERSION}); "
                f"run `mailcore outbox migrate --outbox URL` first"
            )

    # -- producers -----------------------------------------------------------------------------

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str:
        """Store ``message`` as ``queued`` (due after ``delay`` seconds) and return its outbox id.

        The row is committed when this returns. A message whose ``idempotency_key`` was enqueued
        within the window stores nothing and returns the first message's id.
        """
        return self.enqueue_many([message], delay=delay, last_error=last_error)[0]

    def enqueue_many(
        self, messages: Iterable[Message], *, delay: float = 0.0, last_error: str | None = None
    ) -> list[str]:
        """Store several messages in one transaction; return their ids in order.

        Every column is given (no reliance on column defaults): a table created by Django's
        migration has none."""
        now = time.time()
        # one microsecond apart: a batch is claimed in the order it was given (FIFO on ties)
        rows = [new_row(message, now, now + delay + n * 1e-6, last_error) for n, message in enumerate(messages)]
        if not rows:
            return []
        window_start = now - self.idempotency_window

        def insert(cur: psycopg.Cursor[Any]) -> list[str]:
            ids: list[str] = []
            fresh: list[tuple[Any, ...]] = []
            for row in rows:
                key = row[-1]
                if key is not None:
                    first = _claim_key(cur, key, row[0], now, window_start)
                    if first != row[0]:
                        ids.append(first)
                        continue
                ids.append(row[0])
                fresh.append(row)
            if fresh:
                cur.executemany(
                    "INSERT INTO mailcore_outbox (id, message_id, state, payload, sender, recipients, subject, runs, "
                    "created_at, updated_at, age_from, due_at, last_error, priority, expires_at, idempotency_key) "
                    "VALUES (%s, %s, 'queued', %s, %s, %s, %s, 0, %s, %s, %s, %s, %s, %s, %s, %s)",
                    fresh,
                )
            return ids

        return self._run(insert, durable=True)

    # -- workers -------------------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease: float) -> list[Claim]:
        """Claim up to ``limit`` due rows for ``owner`` under a lease of ``lease`` seconds.

        Due rows are ``queued`` ones whose time has come and ``sending`` ones whose lease has
        expired. In claim order (earliest ``due_at + rank × aging`` first); rows another worker
        is claiming at this moment are skipped, not waited for.
        """
        now = time.time()
        key = self._claim_key

        def take(cur: psycopg.Cursor[Any]) -> list[tuple[Any, ...]]:
            cur.execute(
                f"WITH picked AS (SELECT id, {key} AS rank FROM mailcore_outbox "  # noqa: S608 - fixed fragments
                f"WHERE {_WAITING} AND due_at <= %(now)s ORDER BY {key} LIMIT %(limit)s "
                "FOR UPDATE SKIP LOCKED) "
                f"UPDATE mailcore_outbox AS o SET state = 'sending', lease_owner = %(owner)s, due_at = %(until)s, "
                "runs = o.runs + 1, updated_at = %(now)s FROM picked WHERE o.id = picked.id "
                "RETURNING o.id, o.payload, o.runs, o.age_from, picked.rank, o.expires_at",
                {"now": now, "limit": limit, "owner": owner, "until": now + lease},
            )
            expired, live = split_expired(cur.fetchall(), now, 5)
            if expired:  # claimed at or after its expiry: never sent, parked with the reason
                cur.executemany(
                    "UPDATE mailcore_outbox SET state = 'expired', lease_owner = NULL, last_error = %s WHERE id = %s",
                    [(expiry_reason(row[5]), row[0]) for row in expired],
                )
            return live

        rows = sorted(self._run(take), key=lambda row: (row[4], row[0]))
        return [Claim(row[0], row[1], row[2], row[3]) for row in rows]

    def renew(self, owner: str, ids: Sequence[str], lease: float) -> list[str]:
        """Extend ``owner``'s lease on ``ids``; return the ids it still held, in the given order."""
        if not ids:
            return []
        now = time.time()

        def extend(cur: psycopg.Cursor[Any]) -> set[str]:
            cur.execute(
                "UPDATE mailcore_outbox SET due_at = %s, updated_at = %s "
                "WHERE id = ANY(%s) AND state = 'sending' AND lease_owner = %s RETURNING id",
                (now + lease, now, list(ids), owner),
            )
            return {row[0] for row in cur.fetchall()}

        held = self._run(extend, idempotent=True)
        return [id for id in ids if id in held]

    def release(self, owner: str, ids: Sequence[str]) -> None:
        """Give claimed rows back unsent (graceful shutdown): due now, this claim not counted."""
        now = time.time()
        self._update_owned(owner, ids, "state = 'queued', lease_owner = NULL, due_at = %s, runs = runs - 1", (now,))

    def mark_sent(
        self, id: str, *, transport: str, provider_message_id: str | None, drop_body: bool | None = None
    ) -> None:
        """Record a delivery, unconditionally (but for rows already sent); with ``drop_body``
        (default: the retention says so) the content goes in the same transaction."""
        now = time.time()
        drop = drops_body(self.retention, drop_body)
        sent = (
            "UPDATE mailcore_outbox SET state = 'sent', lease_owner = NULL, transport = %s, "
            "provider_message_id = %s, updated_at = %s, due_at = %s"
        )
        values = (transport, provider_message_id, now, now)
        if not drop:
            self._run(
                lambda cur: cur.execute(sent + " WHERE id = %s AND state != 'sent'", (*values, id)), idempotent=True
            )
            return

        def ascii_in_sql(cur: psycopg.Cursor[Any]) -> int:
            cur.execute(
                f"{sent}, payload = '', subject = '', recipients = {_SQL_DIGESTS} "
                "WHERE id = %s AND state != 'sent' AND recipients ~ '^[ -~]*$'",
                (*values, id),
            )
            return cur.rowcount

        def in_python(cur: psycopg.Cursor[Any]) -> None:
            cur.execute("SELECT recipients FROM mailcore_outbox WHERE id = %s AND state != 'sent' FOR UPDATE", (id,))
            row = cur.fetchone()
            if row is not None:
                cur.execute(
                    f"{sent}, payload = '', subject = '', recipients = %s WHERE id = %s",
                    (*values, digest_recipients(row[0]), id),
                )

        # ASCII recipients (nearly all): one statement, digests computed by PostgreSQL exactly as
        # recipient_digest() does; otherwise (or already sent) a transaction with Python's digests.
        if not self._run(ascii_in_sql, idempotent=True):
            self._run(in_python)

    def reschedule(self, owner: str, id: str, delay: float, reason: str) -> None:
        """Send a row back to ``queued`` after a transient failure, due in ``delay`` seconds."""
        now = time.time()
        self._update_owned(
            owner, [id], "state = 'queued', lease_owner = NULL, due_at = %s, last_error = %s", (now + delay, reason)
        )

    def _finish(self, owner: str, id: str, state: str, reason: str) -> None:
        self._update_owned(owner, [id], "state = %s, lease_owner = NULL, last_error = %s", (state, reason))

    def _update_owned(self, owner: str, ids: Sequence[str], assignments: str, values: tuple[Any, ...]) -> None:
        """Change rows only while ``owner`` still holds their lease (a reclaimed row is not ours)."""
        if not ids:
            return
        now = time.time()
        sql = (
            f"UPDATE mailcore_outbox SET {assignments}, updated_at = %s "  # noqa: S608 - fixed assignments
            "WHERE id = ANY(%s) AND state = 'sending' AND lease_owner = %s"
        )
        self._run(lambda cur: cur.execute(sql, (*values, now, list(ids), owner)), idempotent=True)

    # -- operators -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zero when empty)."""
        rows = self._run(
            lambda cur: cur.execute("SELECT state, COUNT(*) FROM mailcore_outbox GROUP BY state").fetchall(),
            write=False,
        )
        return state_counts(rows)

    def oldest_due(self) -> float | None:
        """Creation time of the oldest message still waiting (``queued`` or ``sending``)."""
        return self._scalar(f"SELECT MIN(created_at) FROM mailcore_outbox WHERE {_WAITING}")  # noqa: S608

    def next_due(self) -> float | None:
        """When the next row becomes claimable, or ``None`` when nothing waits."""
        return self._scalar(f"SELECT MIN(due_at) FROM mailcore_outbox WHERE {_WAITING}")  # noqa: S608

    def _scalar(self, sql: str) -> float | None:
        row = self._run(lambda cur: cur.execute(sql).fetchone(), write=False)
        return None if row is None or row[0] is None else float(row[0])

    def entries(self, *, state: str | None = None, limit: int = 50) -> list[Entry]:
        """Rows without content, newest first, optionally of one state."""
        where, args = ("WHERE state = %s", (state,)) if state else ("", ())
        sql = f"SELECT {SUMMARY_SQL} FROM mailcore_outbox {where} ORDER BY created_at DESC LIMIT %s"  # noqa: S608
        rows = self._run(lambda cur: cur.execute(sql, (*args, limit)).fetchall(), write=False)
        return [Entry.from_row(row) for row in rows]

    def find(self, id_or_prefix: str) -> Entry:
        """The row whose id (or unique id prefix, or Message-ID) is ``id_or_prefix``."""
        key = id_or_prefix.strip()
        sql = (
            f"SELECT {SUMMARY_SQL} FROM mailcore_outbox "  # noqa: S608 - fixed fragments
            "WHERE id = %s OR message_id = %s OR message_id = %s OR id LIKE %s LIMIT 2"
        )
        rows = self._run(
            lambda cur: cur.execute(sql, (key, key, f"<{key}>", like_prefix(key))).fetchall(),
            write=False,
        )
        return Entry.from_row(pick_match(rows, key))

    def message(self, id: str) -> Message:
        """The stored message of row ``id``."""
        row = self._run(
            lambda cur: cur.execute("SELECT payload FROM mailcore_outbox WHERE id = %s", (id,)).fetchone(),
            write=False,
        )
        return stored_message(None if row is None else row[0], id)

    def retry(self, *, ids: Sequence[str] = (), state: str | None = None) -> int:
        """Make rows due now: the given ``ids`` and/or every row in ``state``; return how many.

        Only ``queued``, ``failed`` and ``unknown`` rows that still have their content move; a
        retried row's age (for expiry) starts again.
        """
        check_retry_state(state)
        now = time.time()
        sql = (
            "UPDATE mailcore_outbox SET state = 'queued', due_at = %s, age_from = %s, updated_at = %s "
            "WHERE state = ANY(%s) AND payload != ''"
        )
        base = (now, now, now, list(RETRYABLE))

        def requeue(cur: psycopg.Cursor[Any]) -> int:
            changed = 0
            if ids:
                cur.execute(sql + " AND id = ANY(%s)", (*base, list(ids)))
                changed += cur.rowcount
            if state is not None:
                cur.execute(sql + " AND state = %s", (*base, state))
                changed += cur.rowcount
            return changed

        return self._run(requeue, durable=True)

    def purge(self, *, state: str, older_than: float = 0.0) -> int:
        """Delete rows in ``state`` last changed more than ``older_than`` seconds ago."""
        check_purge_state(state)
        cutoff = time.time() - older_than

        def delete(cur: psycopg.Cursor[Any]) -> int:
            cur.execute("DELETE FROM mailcore_outbox WHERE state = %s AND updated_at <= %s", (state, cutoff))
            return cur.rowcount

        return self._run(delete, durable=True)

    # -- retention -----------------------------------------------------------------------------

    def enforce_retention(self, retention: Retention | None = None, *, now: float | None = None) -> tuple[int, int]:
        """Apply ``retention`` (default: this outbox's) as of ``now``; return (contents dropped, rows
        deleted). Rows still waiting are never touched. Idempotency keys older than the window
        are forgotten too."""
        rule = retention or self.retention
        at = time.time() if now is None else now

        def apply(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
            dropped = deleted = 0
            for states, keep in content_drops(rule):
                cur.execute(
                    "SELECT id, recipients FROM mailcore_outbox WHERE state = ANY(%s) AND updated_at <= %s "
                    "AND payload != '' FOR UPDATE SKIP LOCKED",
                    (list(states), at - keep),
                )
                rows = cur.fetchall()
                if rows:
                    cur.executemany(
                        "UPDATE mailcore_outbox SET payload = '', subject = '', recipients = %s WHERE id = %s",
                        [(digest_recipients(recipients), id) for id, recipients in rows],
                    )
                    dropped += len(rows)
            if rule.metadata is not None:
                cur.execute(
                    "DELETE FROM mailcore_outbox WHERE state = ANY(%s) AND updated_at <= %s",
                    (list(FINISHED), at - rule.metadata),
                )
                deleted = cur.rowcount
            cur.execute("DELETE FROM mailcore_idempotency WHERE created_at < %s", (at - self.idempotency_window,))
            return dropped, deleted

        result = self._run(apply)
        from mailcore.outbox.events import enforce_event_retention

        enforce_event_retention(self, rule, now=at)
        return result

    def scrub(self) -> bool:
        """Nothing to do on PostgreSQL (there is no WAL file of the outbox's own to truncate);
        dead row versions are reclaimed by (auto)vacuum. Always true."""
        return True

    def close(self) -> None:
        with self._lock:
            self._discard()

    def __enter__(self) -> PostgresOutbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PostgresOutbox {self.url}>"


def open_postgres_outbox(url: str, *, synchronous: str | None = None, migrate: bool = True) -> PostgresOutbox:
    """Open the PostgreSQL outbox at ``url`` (the ``postgresql`` queue scheme's factory)."""
    return PostgresOutbox(url, synchronous=synchronous, migrate=migrate)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigurationError(
            "the PostgreSQL outbox needs psycopg 3, which is not installed: "
            "pip install 'steadymail[postgresql]' (or psycopg[binary])"
        ) from None
    return psycopg


def _read_version(cur: psycopg.Cursor[Any]) -> int:
    cur.execute("SELECT to_regclass('mailcore_schema') IS NOT NULL")
    row = cur.fetchone()
    if not row or not row[0]:
        return 0
    cur.execute("SELECT MAX(version) FROM mailcore_schema")
    found = cur.fetchone()
    return int(found[0]) if found and found[0] is not None else 0


def _claim_key(cur: psycopg.Cursor[Any], key: str, outbox_id: str, now: float, window_start: float) -> str:
    """Record ``key`` for ``outbox_id`` unless it was recorded within the window; return the id
    that owns the key now. A concurrent enqueue of the same key waits on the unique index, then
    sees the committed first one."""
    cur.execute(
        "INSERT INTO mailcore_idempotency AS k (key, outbox_id, created_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (key) DO UPDATE SET outbox_id = EXCLUDED.outbox_id, created_at = EXCLUDED.created_at "
        "WHERE k.created_at < %s RETURNING outbox_id",
        (key, outbox_id, now, window_start),
    )
    row = cur.fetchone()
    if row is not None:
        return str(row[0])
    cur.execute("SELECT outbox_id FROM mailcore_idempotency WHERE key = %s", (key,))
    found = cur.fetchone()
    return outbox_id if found is None else str(found[0])


def _seconds(params: dict[str, str] | Any, name: str) -> float:
    value = params.get(name)
    return _DEFAULTS[name] if value is None else _duration(value, name)


def _duration(text: str, name: str) -> float:
    seconds = parse_duration(text, name=name)
    assert seconds is not None
    if seconds <= 0:
        raise ConfigurationError(f"{name}={text!r} must be more than 0 (every wait is bounded)")
    return seconds
