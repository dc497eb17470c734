"""Delivery events and the suppression list, stored beside the outbox in the same database.

The SQLite outbox keeps them in its file (tables created by :func:`ensure_schema`, additive: the
outbox table and its ``user_version`` are not touched, so an older mailcore still opens the
file); the PostgreSQL outbox in ``mailcore_delivery_events`` and ``mailcore_suppressions``
(schema version 2 of :mod:`mailcore.outbox.postgres`, ``mailcore outbox migrate``). The code
below runs on both through :mod:`mailcore.outbox.eventsql`. Tables:

* ``delivery_events`` — one row per provider event, linked to its outbox row (``outbox_id``,
  found through the Message-ID / correlation id, else the provider's message id). A provider
  that redelivers an event (same provider and event id, or — without an id — the same record)
  is stored once: ``dedup_key`` is unique. ``handled_at`` is NULL until the background handler
  (:mod:`mailcore.webhooks.pipeline`) has run the hook, fed the suppression list and settled the
  outbox row; ``claimed_until`` lets several receiver processes share that work (on PostgreSQL
  a claim also skips the events another process is claiming at that moment).
* ``suppressions`` — addresses not to mail, one row per (address, scope): scope ``*`` is all
  mail, a category (a :attr:`Message.tags` value) for unsubscribes from that category, or
  ``provider:<name>`` when only that provider refuses the address (its own suppression list).

Retention follows the outbox's rule: a trigger deletes the events of an outbox row when the row
is deleted (by the retention rule or ``mailcore outbox purge``); :func:`enforce_event_retention`
drops an event's ``raw`` record (and turns its recipient into a digest) after
``keep_failed_body`` — the same time the outbox keeps a failed message's content — and deletes
events linked to no outbox row after ``keep_metadata``. The suppression list is not subject to
retention: it is the point of keeping it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mailcore.events import DeliveryEvent
from mailcore.outbox.eventsql import EventStore, Tx, event_db
from mailcore.outbox.retention import Retention, digest_recipients, recipient_digest

__all__ = [
    "ALL",
    "EVENT_TABLES",
    "StoredEvent",
    "Suppression",
    "claim_pending",
    "dedup_key",
    "enforce_event_retention",
    "ensure_schema",
    "events_for",
    "mark_handled",
    "provider_scope",
    "store_events",
]

#: The scope of a suppression that applies to all mail.
ALL: Final = "*"
#: Tables this module owns in the outbox file.
EVENT_TABLES: Final = ("delivery_events", "suppressions")
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS delivery_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL,
    bounce_type TEXT,
    suppressed_by TEXT,
    categories TEXT NOT NULL DEFAULT '',
    recipient TEXT,
    correlation_id TEXT,
    message_id TEXT,
    provider_message_id TEXT,
    provider_event_id TEXT,
    occurred_at REAL NOT NULL,
    received_at REAL NOT NULL,
    reason TEXT,
    diagnostic TEXT,
    raw TEXT NOT NULL,
    outbox_id TEXT,
    handled_at REAL,
    claimed_until REAL
);
CREATE INDEX IF NOT EXISTS delivery_events_pending ON delivery_events (seq) WHERE handled_at IS NULL;
CREATE INDEX IF NOT EXISTS delivery_events_outbox ON delivery_events (outbox_id);
CREATE INDEX IF NOT EXISTS delivery_events_message ON delivery_events (message_id);
CREATE INDEX IF NOT EXISTS delivery_events_provider_message ON delivery_events (provider_message_id);
CREATE INDEX IF NOT EXISTS delivery_events_recipient ON delivery_events (recipient);
CREATE INDEX IF NOT EXISTS delivery_events_received ON delivery_events (received_at);
CREATE INDEX IF NOT EXISTS outbox_provider_message_id ON outbox (provider_message_id);
CREATE TRIGGER IF NOT EXISTS outbox_delete_events AFTER DELETE ON outbox
BEGIN
    DELETE FROM delivery_events WHERE outbox_id = OLD.id;
END;
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT NOT NULL,
    scope TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (address, scope)
);
"""
_EVENT_COLUMNS: Final = (
    "seq, provider, kind, bounce_type, suppressed_by, categories, recipient, correlation_id, message_id, "
    "provider_message_id, provider_event_id, occurred_at, received_at, reason, diagnostic, raw, "
    "outbox_id, handled_at"
)


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the event tables, indexes and trigger if missing (run inside a write transaction).

    Statements are split on ``;`` outside the trigger body, so the trigger is created whole.
    """
    for statement in _split(_SCHEMA):
        db.execute(statement)


def has_schema(db: sqlite3.Connection) -> bool:
    """Whether every table and the trigger exist (then opening the file only reads)."""
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
    return {*EVENT_TABLES, "outbox_delete_events"} <= names


def _split(script: str) -> list[str]:
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A delivery event as stored: the event's fields plus the storage bookkeeping.

    ``raw`` is ``{}`` once the retention rule dropped it; ``recipient`` is then a ``sha256:``
    digest. ``outbox_id`` is the linked outbox row, ``None`` for mail the outbox never saw.
    """

    seq: int
    provider: str
    kind: str
    bounce_type: str | None
    suppressed_by: str | None
    categories: str
    recipient: str | None
    correlation_id: str | None
    message_id: str | None
    provider_message_id: str | None
    provider_event_id: str | None
    occurred_at: float
    received_at: float
    reason: str | None
    diagnostic: str | None
    raw: str
    outbox_id: str | None
    handled_at: float | None

    def event(self) -> DeliveryEvent:
        """The :class:`DeliveryEvent` again (for the hook)."""
        try:
            raw = json.loads(self.raw) if self.raw else {}
        except ValueError:
            raw = {}
        return DeliveryEvent(
            self.kind,  # type: ignore[arg-type]  # validated into an EventKind by the dataclass
            self.provider,
            datetime.fromtimestamp(self.occurred_at, tz=UTC),
            recipient=self.recipient,
            correlation_id=self.correlation_id,
            message_id=self.message_id,
            provider_message_id=self.provider_message_id,
            provider_event_id=self.provider_event_id,
            bounce_type=self.bounce_type,
            reason=self.reason,
            diagnostic=self.diagnostic,
            suppressed_by=self.suppressed_by,
            categories=self.category_list,
            raw=raw if isinstance(raw, dict) else {"record": raw},
        )

    @property
    def category_list(self) -> tuple[str, ...]:
        return tuple(c for c in self.categories.split("\n") if c)

    def as_dict(self) -> dict[str, Any]:
        """For ``--json`` output: every field but ``raw`` and the bookkeeping."""
        return {
            "provider": self.provider,
            "kind": self.kind,
            "bounce_type": self.bounce_type,
            "suppressed_by": self.suppressed_by,
            "categories": list(self.category_list),
            "recipient": self.recipient,
            "message_id": self.message_id,
            "provider_message_id": self.provider_message_id,
            "provider_event_id": self.provider_event_id,
            "occurred_at": self.occurred_at,
            "received_at": self.received_at,
            "reason": self.reason,
            "diagnostic": self.diagnostic,
            "outbox_id": self.outbox_id,
            "handled": self.handled_at is not None,
        }


@dataclass(frozen=True, slots=True)
class Suppression:
    """One entry of the suppression list.

    :param address: lower-cased email address.
    :param scope: ``*`` (all mail), a category (a message tag), or ``provider:<name>``.
    :param reason: ``hard_bounce``, ``complaint``, ``unsubscribe``, ``provider`` or ``manual``.
    :param source: where it came from (``sendgrid event``, ``cli``, ``import``).
    :param detail: the provider's reason or a note, when any.
    :param created_at: Unix seconds.
    """

    address: str
    scope: str
    reason: str
    source: str
    detail: str | None
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "scope": self.scope,
            "reason": self.reason,
            "source": self.source,
            "detail": self.detail,
            "created_at": self.created_at,
        }


def provider_scope(provider: str) -> str:
    """The scope of an entry only ``provider`` refuses (``provider:sendgrid``)."""
    return f"provider:{provider.lower()}"


def dedup_key(event: DeliveryEvent) -> str:
    """What makes two deliveries of one provider event the same: the provider and its event id,
    or — for a provider record without an id — a hash of the record, its kind and recipient."""
    if event.provider_event_id:
        return f"{event.provider}:id:{event.provider_event_id}"
    record = json.dumps(
        [event.kind.value, event.recipient, event.timestamp.timestamp(), _jsonable(event.raw)],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return f"{event.provider}:sha256:{hashlib.sha256(record.encode('utf-8')).hexdigest()}"


def _jsonable(raw: Any) -> Any:
    return dict(raw) if hasattr(raw, "items") else raw


def store_events(outbox: EventStore, events: Iterable[DeliveryEvent], *, now: float | None = None) -> int:
    """Store ``events`` in one transaction (one disk sync); return how many were new.

    A redelivered event (same :func:`dedup_key`) is ignored. Each new event is linked to its
    outbox row by Message-ID, else by the provider's message id. The commit is durable before
    this returns (the receiver answers 2xx only then).
    """
    received = time.time() if now is None else now
    rows = [_event_row(event, received) for event in events]
    if not rows:
        return 0

    def insert(tx: Tx) -> int:
        links: dict[tuple[str | None, str | None], str | None] = {}
        values = []
        for row, key in rows:
            if key not in links:  # a batch holds several events per message: one lookup each
                links[key] = _find_row(tx, *key)
            values.append((*row, links[key]))
        return tx.many(
            "INSERT INTO {events} (dedup_key, provider, kind, bounce_type, suppressed_by, "
            "categories, recipient, correlation_id, message_id, provider_message_id, provider_event_id, "
            "occurred_at, received_at, reason, diagnostic, raw, outbox_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING",
            values,
        )

    return event_db(outbox).write(insert, durable=True)


def _event_row(event: DeliveryEvent, received: float) -> tuple[tuple[Any, ...], tuple[str | None, str | None]]:
    raw = json.dumps(_jsonable(event.raw), ensure_ascii=False, separators=(",", ":"), default=str)
    recipient = event.recipient.strip().lower() if event.recipient else None
    row = (
        dedup_key(event), event.provider, event.kind.value, event.bounce_type, event.suppressed_by,
        "\n".join(event.categories), recipient,
        event.correlation_id, event.message_id, event.provider_message_id, event.provider_event_id,
        event.timestamp.timestamp(), received, event.reason, event.diagnostic, raw,
    )  # fmt: skip
    return row, (event.message_id, event.provider_message_id)


def _find_row(tx: Tx, message_id: str | None, provider_message_id: str | None) -> str | None:
    """The outbox row an event belongs to (newest first when a Message-ID was enqueued twice).

    On PostgreSQL the row is key-share locked until the event is committed: a concurrent delete
    (retention, purge) waits, then its trigger deletes the event with the row."""
    for column, value in (("message_id", message_id), ("provider_message_id", provider_message_id)):
        if value:
            row = tx.one(
                f"SELECT id FROM {{outbox}} WHERE {column} = ? ORDER BY created_at DESC LIMIT 1{{key_share}}",  # noqa: S608
                (value,),
            )
            if row:
                return str(row[0])
    return None


def claim_pending(outbox: EventStore, *, limit: int = 100, lease: float = 60.0) -> list[StoredEvent]:
    """Claim up to ``limit`` stored-but-unhandled events (oldest first) for ``lease`` seconds.

    Several processes may drain the same outbox: a claimed event is not handed to another one
    until its lease runs out (its handler died before :func:`mark_handled`). On PostgreSQL the
    claim skips events another process is claiming at that moment instead of waiting.
    """
    now = time.time()

    def claim(tx: Tx) -> list[tuple[Any, ...]]:
        rows = tx.rows(
            f"SELECT {_EVENT_COLUMNS} FROM {{events}} "  # noqa: S608 - fixed columns
            "WHERE handled_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY seq LIMIT ?"
            "{skip_locked}",
            (now, limit),
        )
        tx.many("UPDATE {events} SET claimed_until = ? WHERE seq = ?", [(now + lease, row[0]) for row in rows])
        return rows

    return [StoredEvent(*row) for row in event_db(outbox).write(claim)]


def mark_handled(outbox: EventStore, seqs: Sequence[int], *, now: float | None = None) -> None:
    """Record that events ``seqs`` were handled (hook run, suppression fed, outbox settled)."""
    if not seqs:
        return
    at = time.time() if now is None else now
    event_db(outbox).write(
        lambda tx: tx.many(
            "UPDATE {events} SET handled_at = ?, claimed_until = NULL WHERE seq = ?", [(at, s) for s in seqs]
        )
    )


def pending_count(outbox: EventStore) -> int:
    """Events stored but not handled yet."""
    row = event_db(outbox).read(lambda tx: tx.one("SELECT COUNT(*) FROM {events} WHERE handled_at IS NULL"))
    return int(row[0]) if row else 0


def events_for(
    outbox: EventStore,
    *,
    outbox_id: str | None = None,
    message_id: str | None = None,
    recipient: str | None = None,
    limit: int = 500,
) -> list[StoredEvent]:
    """Stored events of one outbox row, one Message-ID, or one recipient (address or its
    digest), oldest first."""
    clauses: list[str] = []
    args: list[Any] = []
    if outbox_id:
        clauses.append("outbox_id = ?")
        args.append(outbox_id)
    if message_id:
        clauses.append("message_id = ?")
        args.append(message_id)
    if recipient:
        clauses.append("recipient IN (?, ?)")
        args += [recipient.strip().lower(), recipient_digest(recipient)]
    if not clauses:
        return []
    sql = (
        f"SELECT {_EVENT_COLUMNS} FROM {{events}} WHERE {' OR '.join(clauses)} "  # noqa: S608 - fixed fragments
        "ORDER BY occurred_at, seq LIMIT ?"
    )
    return [StoredEvent(*row) for row in event_db(outbox).read(lambda tx: tx.rows(sql, (*args, limit)))]


def enforce_event_retention(outbox: EventStore, retention: Retention, *, now: float | None = None) -> tuple[int, int]:
    """Apply the outbox's retention to events; return (raw records dropped, events deleted).

    ``raw`` (the provider's record: addresses, sometimes subjects) is dropped after
    ``retention.failed_body`` and the recipient becomes a digest; events linked to no outbox
    row (never linked, or their row is gone) are deleted after ``retention.metadata``. Events
    of an outbox row go when the row goes (a trigger). Only handled events are touched.
    """
    at = time.time() if now is None else now

    def apply(tx: Tx) -> tuple[int, int]:
        dropped = deleted = 0
        if retention.failed_body is not None:
            aged = tx.rows(
                "SELECT seq, recipient FROM {events} WHERE received_at <= ? AND raw != '' "
                "AND handled_at IS NOT NULL{skip_locked}",
                (at - retention.failed_body,),
            )
            dropped = tx.many(
                "UPDATE {events} SET raw = '', recipient = ? WHERE seq = ?",
                [(None if recipient is None else digest_recipients(recipient), seq) for seq, recipient in aged],
            )
        if retention.metadata is not None:
            deleted = tx.run(
                "DELETE FROM {events} WHERE received_at <= ? AND handled_at IS NOT NULL AND (outbox_id IS NULL "
                "OR NOT EXISTS (SELECT 1 FROM {outbox} WHERE {outbox}.id = {events}.outbox_id))",
                (at - retention.metadata,),
            )
        return dropped, deleted

    return event_db(outbox).write(apply)


#: Event kinds that prove a provider took the message (they settle an ``unknown`` row as sent).
SETTLING_KINDS: Final = ("accepted", "delivered")


def settle(outbox: EventStore, outbox_id: str, *, provider: str, provider_message_id: str | None, kind: str) -> bool:
    """Mark row ``outbox_id`` ``sent`` because ``provider`` reported ``kind`` for it.

    Moves an ``unknown`` row, and a ``sending`` one: the event can overtake the worker that is
    about to record its ambiguous timeout, and the worker's own updates only apply to rows still
    ``sending``, so the truth is kept whichever write comes first. ``queued``, ``failed`` and
    ``sent`` rows are left alone. ``transport`` becomes the provider's name, ``last_error`` says
    how it was settled; the content is dropped when the retention drops sent content at once
    (recipients kept as digests, as the store's own ``mark_sent`` does). Returns whether the row
    was settled.
    """
    now = time.time()
    drop = outbox.retention.drops_sent_body_at_once
    note = f"settled by a {provider} '{kind}' event (the attempt's own outcome was unknown or not yet recorded)"
    settling = "WHERE id = ? AND state IN ('unknown', 'sending')"

    def apply(tx: Tx) -> bool:
        row = tx.one(f"SELECT recipients FROM {{outbox}} {settling}{{for_update}}", (outbox_id,))  # noqa: S608
        if row is None:
            return False
        content, digests = (
            (", payload = '', subject = '', recipients = ?", [digest_recipients(row[0])]) if drop else ("", [])
        )
        changed = tx.run(
            "UPDATE {outbox} SET state = 'sent', lease_owner = NULL, transport = ?, "  # noqa: S608 - fixed fragments
            "provider_message_id = COALESCE(?, provider_message_id), last_error = ?, updated_at = ?, due_at = ?"
            f"{content} {settling}",
            (provider, provider_message_id, note, now, now, *digests, outbox_id),
        )
        return bool(changed)

    return event_db(outbox).write(apply)
