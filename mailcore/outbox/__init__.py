"""The durable outbox: ``mailer.enqueue()`` persists a message, a worker delivers it.

* :class:`SQLiteOutbox` / :func:`open_outbox` — the store (``sqlite:///path``, WAL, durable commits);
* :class:`OutboxStore` / :class:`MessageQueue` — the interfaces every queue backend implements;
  :func:`open_queue` / :func:`open_store` dispatch on the URL scheme (``sqlite``, ``postgresql``,
  ``django``, ``celery``, plugins' — hook ``mailcore_register_queues``);
* :mod:`mailcore.outbox.lifetimes` — priority order with aging, expiry, idempotency window;
* :class:`OutboxWorker` — claims batches under a lease and delivers through a Mailer's policy;
* :class:`Queued` — what ``send()`` returns when ``park_on_failure=True`` parked the message;
* :class:`Retention` — how long message content and metadata are kept (content of sent messages:
  not at all, by default);
* :func:`send_budget` — the worst-case seconds of one send through a policy stack (leases);
* :data:`OUTBOX_BACKOFF` — the default spacing of delivery runs (a RetryPolicy).

See ``docs/operations.md`` for running the worker as a service and what to watch.
"""

from __future__ import annotations

from mailcore.outbox.api import MessageQueue, OutboxStore
from mailcore.outbox.backoff import OUTBOX_BACKOFF, Delays, next_delay
from mailcore.outbox.lease import send_budget
from mailcore.outbox.location import OUTBOX_ENV, default_outbox_path, outbox_path, resolve_outbox_url
from mailcore.outbox.queue import open_queue, open_store
from mailcore.outbox.result import Queued
from mailcore.outbox.retention import Retention, recipient_digest
from mailcore.outbox.store import STATES, Claim, Entry, SQLiteOutbox, open_outbox
from mailcore.outbox.worker import OutboxWorker, WorkerStats

__all__ = [
    "OUTBOX_BACKOFF",
    "OUTBOX_ENV",
    "STATES",
    "Claim",
    "Delays",
    "Entry",
    "MessageQueue",
    "OutboxStore",
    "OutboxWorker",
    "Queued",
    "Retention",
    "SQLiteOutbox",
    "WorkerStats",
    "default_outbox_path",
    "next_delay",
    "open_outbox",
    "open_queue",
    "open_store",
    "outbox_path",
    "recipient_digest",
    "resolve_outbox_url",
    "send_budget",
]
