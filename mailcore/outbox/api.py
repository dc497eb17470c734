"""The interfaces every queue backend implements, and the rows they hand out.

* :class:`MessageQueue` — what ``Mailer.enqueue()`` needs: ``enqueue`` and ``close``. Celery's
  queue is only this.
* :class:`OutboxStore` — a durable outbox table a worker drains (SQLite, PostgreSQL, Django's
  database): the public methods of :class:`mailcore.outbox.store.SQLiteOutbox`, with the same
  signatures. :class:`~mailcore.outbox.worker.OutboxWorker` and ``mailcore outbox`` depend only on it.
* :class:`Entry` / :class:`Claim` — a row as listed, and a row as claimed by a worker.

Backends register themselves by URL scheme with the ``mailcore_register_queues`` hook (see
:mod:`mailcore.outbox.queue` and docs/architecture.md, "Queue backends").

Semantics every store keeps (tests/outbox and each backend's tests check them):

* ``enqueue``/``enqueue_many`` commit before returning; a message whose ``idempotency_key`` was
  enqueued within the store's idempotency window returns the FIRST row's id and stores nothing
  (checked in the same transaction as the insert);
* ``claim`` takes due rows (``queued``, or ``sending`` with an expired lease) in ascending
  ``due_at + rank * aging`` (:func:`mailcore.outbox.lifetimes.claim_key`) and never hands out a
  row at or past its ``expires_at``: such rows move to ``expired`` with
  :func:`~mailcore.outbox.lifetimes.expiry_reason` in the same transaction;
* ``mark_*``/``reschedule``/``release``/``renew`` change a row only while ``owner`` holds its
  lease (``mark_sent`` excepted: a delivery is the truth whoever holds the row);
* a store may set ``storage_errors`` (a tuple of exception classes: a locked or unreachable
  database) that the worker retries instead of failing; SQLite's are sqlite3/OS errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mailcore.message import Message
from mailcore.sender import Sender

if TYPE_CHECKING:
    from mailcore.outbox.retention import Retention

__all__ = ["Claim", "Entry", "MessageQueue", "OutboxSender", "OutboxStore"]


@runtime_checkable
class MessageQueue(Protocol):
    """Something that durably accepts a message for later delivery and returns an id."""

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox row without its message content (what ``mailcore outbox list`` shows).

    ``due_at`` is when a ``queued`` row may next be tried, or when a ``sending`` row's lease
    expires. ``runs`` counts claims (each claim is one full pass through the policy).
    ``has_body`` is false once the retention rule dropped the content: ``subject`` is then empty
    and ``recipients`` are ``sha256:`` digests (:func:`mailcore.outbox.retention.recipient_digest`).
    ``priority`` is the message's (``high``/``normal``/``low``), ``expires_at`` its expiry in
    epoch seconds (None: never).
    """

    id: str
    message_id: str
    state: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    runs: int
    created_at: float
    updated_at: float
    age_from: float
    due_at: float
    lease_owner: str | None
    last_error: str | None
    transport: str | None
    provider_message_id: str | None
    has_body: bool = True
    priority: str = "normal"
    expires_at: float | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Entry:
        """From the columns ``id … provider_message_id, has_body[, priority rank, expires_at]``."""
        from mailcore.outbox.lifetimes import PRIORITY_RANK

        values = list(row)
        values[4] = tuple(r for r in str(values[4]).split(",") if r)
        values[15] = bool(values[15])
        if len(values) > 16:
            names = {rank: name for name, rank in PRIORITY_RANK.items()}
            values[16] = names.get(int(values[16]), "normal")
        return cls(*values)


@dataclass(frozen=True, slots=True)
class Claim:
    """A row a worker has claimed: its id, the serialized message and bookkeeping."""

    id: str
    payload: str
    runs: int
    age_from: float

    def message(self) -> Message:
        """The message, rebuilt and re-validated from its stored ``to_dict()`` JSON."""
        return Message.from_dict(json.loads(self.payload))


@runtime_checkable
class OutboxStore(MessageQueue, Protocol):
    """A durable outbox a worker drains; see the module docs for the semantics.

    ``url`` names it (credentials masked) for logs and the CLI; ``retention`` is the rule given
    by its URL (``?keep_sent_body=…``).
    """

    retention: Retention

    @property
    def url(self) -> str: ...

    # producers
    def enqueue_many(
        self, messages: Iterable[Message], *, delay: float = 0.0, last_error: str | None = None
    ) -> list[str]: ...

    # workers
    def claim(self, owner: str, *, limit: int, lease: float) -> list[Claim]: ...

    def renew(self, owner: str, ids: Sequence[str], lease: float) -> list[str]: ...

    def release(self, owner: str, ids: Sequence[str]) -> None: ...

    def mark_sent(
        self, id: str, *, transport: str, provider_message_id: str | None, drop_body: bool | None = None
    ) -> None: ...

    def mark_failed(self, owner: str, id: str, reason: str) -> None: ...

    def mark_unknown(self, owner: str, id: str, reason: str) -> None: ...

    def mark_expired(self, owner: str, id: str, reason: str) -> None: ...

    def reschedule(self, owner: str, id: str, delay: float, reason: str) -> None: ...

    # operators
    def counts(self) -> dict[str, int]: ...

    def oldest_due(self) -> float | None: ...

    def next_due(self) -> float | None: ...

    def entries(self, *, state: str | None = None, limit: int = 50) -> list[Entry]: ...

    def find(self, id_or_prefix: str) -> Entry: ...

    def message(self, id: str) -> Message: ...

    def retry(self, *, ids: Sequence[str] = (), state: str | None = None) -> int: ...

    def purge(self, *, state: str, older_than: float = 0.0) -> int: ...

    def enforce_retention(self, retention: Retention | None = None, *, now: float | None = None) -> tuple[int, int]: ...

    def scrub(self) -> bool: ...


@runtime_checkable
class OutboxSender(Sender, Protocol):
    """What :class:`~mailcore.outbox.worker.OutboxWorker` needs from a Mailer: a
    :class:`~mailcore.sender.Sender` that also names its outbox (``outbox_url``; None: the default)."""

    outbox_url: str | None
