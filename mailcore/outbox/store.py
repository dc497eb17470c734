"""The SQLite outbox: a durable table of messages and their delivery state.

Every message is one row. Its ``state`` moves through::

    queued ──claim──▶ sending ──▶ sent
      ▲                  │ ├────▶ failed    (permanent: the reason is kept)
      └── later ─────────┘ └────▶ unknown   (a timeout after hand-over: may have been delivered)

A claim puts a row under a *lease* (``due_at`` is then the lease's expiry): a worker that
crashes never releases its rows, and they become claimable again when the lease runs out.
Delivery is therefore at least once; a message may go out twice only if a worker died between
the provider's acceptance and the ``sent`` mark.

Durability: the database is in WAL mode. :meth:`SQLiteOutbox.enqueue` commits with
``synchronous=FULL`` (the commit is on disk before ``enqueue`` returns). A worker's connection
may use ``synchronous=NORMAL``: in WAL mode a crashed *process* never loses a commit, and a power
cut can only roll back state changes — which turns a ``sent`` mark back into a claim that is
retried, never a loss. The file is created ``0600``: it holds message content.

Retention (:mod:`mailcore.outbox.retention`): by default the content of a message is dropped in
the same write that marks it ``sent`` (subject and body gone, recipients kept as digests), the
content of ``failed``/``unknown`` rows after 7 days, whole finished rows after 30 days.
``PRAGMA secure_delete=ON`` makes SQLite overwrite dropped content with zeros instead of leaving
it in free space, and :meth:`SQLiteOutbox.scrub` checkpoints and truncates the WAL so no old copy
of a page survives in the ``-wal`` file either.

Storage errors (``database is locked`` after ``busy_timeout``, ``database or disk is full``, I/O
errors) surface as :data:`STORAGE_ERRORS`; the worker retries them (see its docs).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

from mailcore.errors import ConfigurationError
from mailcore.message import Message
from mailcore.outbox.api import Claim, Entry
from mailcore.outbox.lifetimes import (
    DEFAULT_AGING,
    IDEMPOTENCY_WINDOW,
    PRIORITY_RANK,
    check_aging,
    check_window,
    expiry_reason,
)
from mailcore.outbox.location import outbox_params, outbox_path, resolve_outbox_url
from mailcore.outbox.retention import RETENTION_PARAMS, Retention, digest_recipients, parse_duration
from mailcore.outbox.rules import (
    EXPIRED,
    FAILED,
    FINISHED,
    QUEUED,
    RETRYABLE,
    SENDING,
    SENT,
    STATES,
    SUMMARY_SQL,
    UNKNOWN,
    ParkingMarks,
    check_purge_state,
    check_retry_state,
    content_drops,
    drops_body,
    like_prefix,
    new_row,
    pick_match,
    state_counts,
    stored_message,
)

# The states live in mailcore.outbox.rules (shared by every store); their names stay importable here.
__all__ = [
    "EXPIRED",
    "FAILED",
    "FINISHED",
    "QUEUED",
    "RETRYABLE",
    "SENDING",
    "SENT",
    "STATES",
    "STORAGE_ERRORS",
    "UNKNOWN",
    "Claim",
    "Entry",
    "SQLiteOutbox",
    "open_outbox",
]

#: What a failing database raises: locked past ``busy_timeout``, disk full, I/O errors.
STORAGE_ERRORS: Final = (sqlite3.OperationalError, OSError)
#: Outbox URL query parameters besides the retention ones.
_STORE_PARAMS: Final = ("busy_timeout", "aging", "idempotency_window")
#: SQL that drops a row's content and keeps its metadata (recipients as digests).
_DROP_CONTENT: Final = "payload = '', subject = '', recipients = mailcore_digest_recipients(recipients)"
#: Version 1: the outbox table. Version 2 (issue 18): priority, expires_at, idempotency_key
#: columns, the claim index and the idempotency table; a version-1 file is upgraded in place.
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    age_from REAL NOT NULL,
    due_at REAL NOT NULL,
    lease_owner TEXT,
    last_error TEXT,
    transport TEXT,
    provider_message_id TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at) WHERE state IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, updated_at);
CREATE INDEX IF NOT EXISTS outbox_message_id ON outbox (message_id);
"""
#: Each version's upgrade from the one before (a new file runs them all, in order).
_MIGRATIONS: Final = {
    2: """
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
ALTER TABLE outbox ADD COLUMN expires_at REAL;
ALTER TABLE outbox ADD COLUMN idempotency_key TEXT;
CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (priority, due_at) WHERE state IN ('queued', 'sending');
CREATE INDEX IF NOT EXISTS outbox_expiry ON outbox (expires_at)
    WHERE state IN ('queued', 'sending') AND expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    outbox_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
""",
}


class SQLiteOutbox(ParkingMarks):
    """A durable outbox in one SQLite file; safe to share between threads and processes.

    :param path: the database file (created ``0600`` with its directory ``0700`` if missing).
    :param synchronous: ``"FULL"`` (default: every commit reaches the disk before returning) or
        ``"NORMAL"`` (workers: see the module docs for why that never loses a message).
    :param busy_timeout: seconds to wait for another process's write lock before a
        ``database is locked`` error.
    :param retention: how long content and metadata are kept (default :class:`Retention()`:
        content of sent messages dropped at once, rows deleted after 30 days).
    :param aging: seconds one priority step is worth in the claim order (URL ``?aging=``;
        default :data:`~mailcore.outbox.lifetimes.DEFAULT_AGING`; 0 ignores priority, due order only).
    :param idempotency_window: seconds an ``idempotency_key`` is remembered (URL
        ``?idempotency_window=``; default one day).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        retention: Retention | None = None,
        aging: float = DEFAULT_AGING,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigurationError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        if not busy_timeout >= 0 or busy_timeout == float("inf"):
            raise ConfigurationError(f"outbox busy_timeout must be finite seconds >= 0, not {busy_timeout!r}")
        self.path = Path(path).absolute()
        self.retention = retention or Retention()
        self.aging = check_aging(aging)
        self.idempotency_window = check_window(idempotency_window)
        self.busy_timeout = busy_timeout
        _create_private_file(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._db.create_function("mailcore_digest_recipients", 1, digest_recipients, deterministic=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA secure_delete=ON")  # dropped content is zeroed, not left in free pages
        self._migrate()
        self._migrate_events()

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def _migrate(self) -> None:
        """Create or check the schema. An up-to-date file is only read, so a worker starts even
        while another process holds the write lock (or the disk is full)."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
            return
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise ConfigurationError(
                    f"outbox {self.path} has schema version {version}; this mailcore knows "
                    f"{_SCHEMA_VERSION}. Upgrade mailcore."
                )
            if version < 1:
                _run_script(db, _SCHEMA)
            for target in range(max(version, 1) + 1, _SCHEMA_VERSION + 1):
                _run_script(db, _MIGRATIONS[target])
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _migrate_events(self) -> None:
        """Create the delivery-event and suppression tables (:mod:`mailcore.outbox.events`) if
        missing. Additive and independent of ``user_version``: only read when they exist."""
        from mailcore.outbox.events import ensure_schema, has_schema

        if has_schema(self._db):
            return
        with self._transaction() as db:
            ensure_schema(db)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: takes the write lock up front, so claims never race."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Roll back whatever is open. SQLite may already have rolled back on a full disk, and a
        failed COMMIT leaves the transaction open: either way the connection is usable after."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # nothing left to roll back; the original error is what matters
                self._db.execute("ROLLBACK")

    # -- producers -----------------------------------------------------------------------------

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str:
        """Store ``message`` as ``queued`` (due after ``delay`` seconds) and return its outbox id.

        The row is committed and on disk when this returns. A message whose ``idempotency_key``
        was enqueued within :attr:`idempotency_window` seconds is not stored again: the first
        message's id is returned.
        """
        return self.enqueue_many([message], delay=delay, last_error=last_error)[0]

    def enqueue_many(
        self, messages: Iterable[Message], *, delay: float = 0.0, last_error: str | None = None
    ) -> list[str]:
        """Store several messages in one transaction (one disk sync); return their ids in order.

        Idempotency keys are looked up and recorded in the same transaction as the inserts, so
        two processes enqueueing the same key store it once.
        """
        now = time.time()
        rows = [new_row(message, now, now + delay, last_error) for message in messages]
        ids: list[str] = []
        with self._transaction() as db:
            fresh: list[tuple[Any, ...]] = []
            seen: dict[str, str] = {}  # keys met earlier in this batch
            for row in rows:
                key = row[-1]
                if key is not None:
                    first = seen.get(key) or self._first_with_key(db, key, now)
                    if first is not None:
                        ids.append(first)
                        continue
                    seen[key] = row[0]
                    db.execute(
                        "INSERT OR REPLACE INTO idempotency (key, outbox_id, created_at) VALUES (?, ?, ?)",
                        (key, row[0], now),
                    )
                fresh.append(row)
                ids.append(row[0])
            db.executemany(
                "INSERT INTO outbox (id, message_id, state, payload, sender, recipients, subject, "
                "created_at, updated_at, age_from, due_at, last_error, priority, expires_at, idempotency_key) "
                "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                fresh,
            )
        return ids

    def _first_with_key(self, db: sqlite3.Connection, key: str, now: float) -> str | None:
        row = db.execute(
            "SELECT outbox_id FROM idempotency WHERE key = ? AND created_at > ?", (key, now - self.idempotency_window)
        ).fetchone()
        return None if row is None else str(row[0])

    # -- workers -------------------------------------------------------------------------------

    def claim(self, owner: str, *, limit: int, lease: float) -> list[Claim]:
        """Claim up to ``limit`` due rows for ``owner`` under a lease of ``lease`` seconds.

        Due rows are ``queued`` ones whose time has come and ``sending`` ones whose lease has
        expired (their worker died), taken in ascending ``due_at + rank * aging``
        (:func:`~mailcore.outbox.lifetimes.claim_key`): high before normal before low, and a
        message that waited ``aging`` seconds longer moves up a rank. Rows whose message expired
        (``expires_at`` passed) are never handed out: they move to ``expired`` in the same
        transaction.
        """
        now = time.time()
        with self._transaction() as db:
            self._expire_due(db, now)
            # one index range per rank (outbox_claim), merged by the claim key: O(limit), not a sort
            # of every due row
            per_rank = " UNION ALL ".join(
                "SELECT * FROM (SELECT id, payload, runs, age_from, due_at + priority * ? AS claim_key FROM outbox "
                "WHERE priority = ? AND state IN ('queued', 'sending') AND due_at <= ? ORDER BY due_at LIMIT ?)"
                for _ in PRIORITY_RANK
            )
            args: list[Any] = []
            for rank in sorted(PRIORITY_RANK.values()):
                args += [self.aging, rank, now, limit]
            rows = db.execute(
                f"SELECT id, payload, runs, age_from FROM ({per_rank}) ORDER BY claim_key LIMIT ?",  # noqa: S608
                (*args, limit),
            ).fetchall()
            if rows:
                db.executemany(
                    "UPDATE outbox SET state = 'sending', lease_owner = ?, due_at = ?, "
                    "runs = runs + 1, updated_at = ? WHERE id = ?",
                    [(owner, now + lease, now, row[0]) for row in rows],
                )
        return [Claim(row[0], row[1], row[2] + 1, row[3]) for row in rows]

    def _expire_due(self, db: sqlite3.Connection, now: float) -> int:
        """Move waiting rows whose message expired to ``expired`` (a ``sending`` row only once its
        lease ran out: its worker is still deciding). Returns how many."""
        # INDEXED BY: without statistics the planner would scan every waiting row by state
        expired = db.execute(
            "SELECT id, expires_at FROM outbox INDEXED BY outbox_expiry "
            "WHERE state IN ('queued', 'sending') AND expires_at IS NOT NULL AND expires_at <= ? "
            "AND (state = 'queued' OR due_at <= ?)",
            (now, now),
        ).fetchall()
        if expired:
            db.executemany(
                "UPDATE outbox SET state = 'expired', lease_owner = NULL, last_error = ?, updated_at = ?, due_at = ? "
                "WHERE id = ?",
                [(expiry_reason(at), now, now, id) for id, at in expired],
            )
        return len(expired)

    def renew(self, owner: str, ids: Sequence[str], lease: float) -> list[str]:
        """Extend ``owner``'s lease on ``ids`` (a long batch keeps its rows); return the ids it
        still held. A row missing from the answer was reclaimed after the lease ran out."""
        now = time.time()
        held: list[str] = []
        with self._transaction() as db:
            for id in ids:
                changed = db.execute(
                    "UPDATE outbox SET due_at = ?, updated_at = ? WHERE id = ? AND state = 'sending' AND lease_owner = ?",
                    (now + lease, now, id, owner),
                ).rowcount
                if changed:
                    held.append(id)
        return held

    def release(self, owner: str, ids: Sequence[str]) -> None:
        """Give claimed rows back unsent (graceful shutdown): due now, this claim not counted."""
        now = time.time()
        self._update_owned(owner, ids, "state = 'queued', lease_owner = NULL, due_at = ?, runs = runs - 1", (now,))

    def mark_sent(
        self, id: str, *, transport: str, provider_message_id: str | None, drop_body: bool | None = None
    ) -> None:
        """Record a delivery. Unconditional (but for rows already sent): it is the truth even when
        this worker's lease had run out and another worker took the row.

        ``drop_body`` (default: the retention says so, i.e. ``keep_sent_body=0``) drops the
        message content in the same write, so no committed state has a sent message's body.
        """
        now = time.time()
        content = f", {_DROP_CONTENT}" if drops_body(self.retention, drop_body) else ""
        with self._lock:  # one statement: atomic without an explicit transaction
            self._db.execute(
                "UPDATE outbox SET state = 'sent', lease_owner = NULL, transport = ?, "  # noqa: S608 - fixed fragments
                f"provider_message_id = ?, updated_at = ?, due_at = ?{content} WHERE id = ? AND state != 'sent'",
                (transport, provider_message_id, now, now, id),
            )

    def reschedule(self, owner: str, id: str, delay: float, reason: str) -> None:
        """Send a row back to ``queued`` after a transient failure, due in ``delay`` seconds."""
        now = time.time()
        self._update_owned(
            owner, [id], "state = 'queued', lease_owner = NULL, due_at = ?, last_error = ?", (now + delay, reason)
        )

    def _finish(self, owner: str, id: str, state: str, reason: str) -> None:
        self._update_owned(owner, [id], "state = ?, lease_owner = NULL, last_error = ?", (state, reason))

    def _update_owned(self, owner: str, ids: Sequence[str], assignments: str, values: tuple[Any, ...]) -> None:
        """Change rows only while ``owner`` still holds their lease (a reclaimed row is not ours)."""
        if not ids:
            return
        now = time.time()
        sql = (
            f"UPDATE outbox SET {assignments}, updated_at = ? "  # noqa: S608 - fixed assignments
            "WHERE id = ? AND state = 'sending' AND lease_owner = ?"
        )
        with self._transaction() as db:
            db.executemany(sql, [(*values, now, id, owner) for id in ids])

    # -- operators -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zero when empty)."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return state_counts(rows)

    def oldest_due(self) -> float | None:
        """Creation time of the oldest message still waiting (``queued`` or ``sending``)."""
        with self._lock:
            row = self._db.execute("SELECT MIN(created_at) FROM outbox WHERE state IN ('queued', 'sending')").fetchone()
        return None if row[0] is None else float(row[0])

    def next_due(self) -> float | None:
        """When the next row becomes claimable, or ``None`` when nothing waits."""
        with self._lock:
            row = self._db.execute("SELECT MIN(due_at) FROM outbox WHERE state IN ('queued', 'sending')").fetchone()
        return None if row[0] is None else float(row[0])

    def entries(self, *, state: str | None = None, limit: int = 50) -> list[Entry]:
        """Rows without content, newest first, optionally of one state."""
        where, args = ("WHERE state = ?", (state,)) if state else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {SUMMARY_SQL} FROM outbox {where} "  # noqa: S608 - fixed fragments
                "ORDER BY created_at DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [Entry.from_row(row) for row in rows]

    def find(self, id_or_prefix: str) -> Entry:
        """The row whose id (or unique id prefix, or Message-ID) is ``id_or_prefix``."""
        key = id_or_prefix.strip()
        with self._lock:
            rows = self._db.execute(
                f"SELECT {SUMMARY_SQL} FROM outbox "  # noqa: S608 - fixed fragments
                "WHERE id = ? OR message_id = ? OR message_id = ? OR id LIKE ? ESCAPE '\\' LIMIT 2",
                (key, key, f"<{key}>", like_prefix(key)),
            ).fetchall()
        return Entry.from_row(pick_match(rows, key))

    def message(self, id: str) -> Message:
        """The stored message of row ``id``."""
        with self._lock:
            row = self._db.execute("SELECT payload FROM outbox WHERE id = ?", (id,)).fetchone()
        return stored_message(None if row is None else row[0], id)

    def retry(self, *, ids: Sequence[str] = (), state: str | None = None) -> int:
        """Make rows due now: the given ``ids`` and/or every row in ``state``; return how many.

        Only ``queued``, ``failed`` and ``unknown`` rows that still have their content move; a
        retried row's age (for expiry) starts again. Retrying ``unknown`` rows may deliver them twice: that is the choice made.
        """
        check_retry_state(state)
        now = time.time()
        sql = (
            "UPDATE outbox SET state = 'queued', due_at = ?, age_from = ?, updated_at = ? "
            "WHERE state IN (?, ?, ?) AND payload != ''"  # a row whose content was dropped cannot be sent
        )
        base = (now, now, now, *RETRYABLE)
        changed = 0
        with self._transaction() as db:
            if ids:
                changed += db.executemany(sql + " AND id = ?", [(*base, id) for id in ids]).rowcount
            if state is not None:
                changed += db.execute(sql + " AND state = ?", (*base, state)).rowcount
        return changed

    def purge(self, *, state: str, older_than: float = 0.0) -> int:
        """Delete rows in ``state`` last changed more than ``older_than`` seconds ago."""
        check_purge_state(state)
        cutoff = time.time() - older_than
        with self._transaction() as db:
            return db.execute("DELETE FROM outbox WHERE state = ? AND updated_at <= ?", (state, cutoff)).rowcount

    # -- retention -----------------------------------------------------------------------------

    def enforce_retention(self, retention: Retention | None = None, *, now: float | None = None) -> tuple[int, int]:
        """Apply ``retention`` (default: this outbox's) as of ``now``; return (contents dropped, rows
        deleted). Rows still waiting (``queued``/``sending``) are never touched. The WAL is
        scrubbed afterwards when anything changed."""
        rule = retention or self.retention
        now = time.time() if now is None else now
        dropped = deleted = 0
        with self._transaction() as db:
            for states, keep in content_drops(rule):
                marks = ", ".join("?" * len(states))
                dropped += db.execute(
                    f"UPDATE outbox SET {_DROP_CONTENT} "  # noqa: S608 - fixed fragments
                    f"WHERE state IN ({marks}) AND updated_at <= ? AND payload != ''",
                    (*states, now - keep),
                ).rowcount
            if rule.metadata is not None:
                deleted = db.execute(
                    f"DELETE FROM outbox WHERE state IN ({', '.join('?' * len(FINISHED))}) AND updated_at <= ?",  # noqa: S608
                    (*FINISHED, now - rule.metadata),
                ).rowcount
            db.execute("DELETE FROM idempotency WHERE created_at <= ?", (now - self.idempotency_window,))
        from mailcore.outbox.events import enforce_event_retention

        raw_dropped, events_deleted = enforce_event_retention(self, rule, now=now)
        if dropped or deleted or raw_dropped or events_deleted:
            self.scrub()
        return dropped, deleted

    def scrub(self) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes, so dropped content
        survives in neither file (``secure_delete`` already zeroed it in the database pages).
        Returns whether the WAL was emptied; it is not while another connection reads (the next
        scrub catches up). Waits at most one second for other connections."""
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 1000")
            try:
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return not busy

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteOutbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SQLiteOutbox {self.path}>"


def open_outbox(url: str | None = None, *, synchronous: str = "FULL") -> SQLiteOutbox:
    """Open the outbox named by ``url``, ``MAILCORE_OUTBOX`` or the default location.

    The URL's query may set the retention (``keep_sent_body``, ``keep_failed_body``,
    ``keep_metadata``: durations such as ``0``, ``12h``, ``30d`` or ``forever``),
    ``busy_timeout`` (seconds to wait for another writer, default 30), ``aging`` (seconds a
    priority step is worth in the claim order, default 300) and ``idempotency_window`` (seconds
    an idempotency key is remembered, default 86400).
    """
    resolved = resolve_outbox_url(url)
    params = outbox_params(resolved, (*RETENTION_PARAMS, *_STORE_PARAMS))
    options: dict[str, Any] = {"synchronous": synchronous, "retention": Retention.from_params(params)}
    if "busy_timeout" in params:
        options["busy_timeout"] = parse_duration(params["busy_timeout"], name="busy_timeout")
    if "aging" in params:
        options["aging"] = check_aging(params["aging"], "outbox URL aging")
    if "idempotency_window" in params:
        options["idempotency_window"] = check_window(params["idempotency_window"], "outbox URL idempotency_window")
    return SQLiteOutbox(outbox_path(resolved), **options)


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL statements inside the caller's transaction (``executescript``
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _create_private_file(path: Path) -> None:
    """Create the database file ``0600`` (its WAL and SHM files inherit the mode) if missing."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
