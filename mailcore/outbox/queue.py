"""Which queue ``Mailer.enqueue()`` writes to: the SQLite outbox (default) or Celery."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mailcore.errors import ConfigurationError
from mailcore.message import Message

__all__ = ["MessageQueue", "open_queue"]


@runtime_checkable
class MessageQueue(Protocol):
    """Something that durably accepts a message for later delivery and returns an id."""

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str: ...

    def close(self) -> None: ...


def open_queue(queue: str | MessageQueue | None, outbox: str | None) -> MessageQueue:
    """The queue for a Mailer: ``queue`` (``"outbox"``, ``"celery"`` or an object) and its outbox URL.

    ``None``/``"outbox"``/``"sqlite"`` → the SQLite outbox at ``outbox`` (or ``MAILCORE_OUTBOX``,
    or the default location); a ``sqlite:///`` URL → that outbox; ``"celery"`` → the task in
    :mod:`mailcore.adapters.celery`.
    """
    if isinstance(queue, MessageQueue):
        return queue
    if queue is None and outbox is not None and outbox.strip() == "celery":
        queue, outbox = "celery", None  # ``outbox="celery"`` (e.g. Django's QUEUE) means the Celery queue
    kind = (queue or "outbox").strip()
    if kind in ("outbox", "sqlite"):
        from mailcore.outbox.store import open_outbox

        return open_outbox(outbox)
    if kind.startswith("sqlite:") or "/" in kind:
        from mailcore.outbox.store import open_outbox

        return open_outbox(kind)
    if kind == "celery":
        from mailcore.adapters.celery import CeleryQueue

        return CeleryQueue()
    raise ConfigurationError(
        f"unknown queue {queue!r}; use 'outbox' (SQLite, the default), 'celery' or a sqlite:/// URL"
    )
