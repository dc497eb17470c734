"""What the bulk engine, the outbox worker and queue adapters need from a Mailer.

They depend on this small interface, not on :class:`mailcore.Mailer` itself, so the import graph
points inward: ``mailer`` → ``bulk.engine`` / ``outbox.worker`` / ``outbox.queue``, and none of
them imports ``mailer`` back (``tests/test_import_graph.py`` checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mailcore.message import Message
    from mailcore.result import SendResult
    from mailcore.transport import Transport

__all__ = ["Sender", "current_failure_log_level", "failure_log_level"]

_failure_level: ContextVar[int | None] = ContextVar("mailcore_failure_log_level", default=logging.ERROR)


@runtime_checkable
class Sender(Protocol):
    """Sends one message through a policy stack (a :class:`mailcore.Mailer` is one).

    ``transport`` is the composed stack (for capability checks and the worst-case send time);
    ``send(message, park=False)`` raises :class:`~mailcore.errors.SendError` when it gives up;
    entering the context keeps connections open across sends.
    """

    transport: Transport

    def send(self, message: Message, *, park: bool | None = None) -> SendResult: ...

    def __enter__(self) -> Sender: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@contextmanager
def failure_log_level(level: int | None) -> Iterator[None]:
    """Within the block, :meth:`Mailer.send` logs a message it gives up on at ``level``.

    ``None`` means not at all: the caller reports the outcome itself, once (the outbox worker
    logs a WARNING when it requeues and an ERROR only when it gives up; the CLI prints one line;
    Django's ``fail_silently`` logs one WARNING). Observer hooks are called either way.
    """
    token = _failure_level.set(level)
    try:
        yield
    finally:
        _failure_level.reset(token)


def current_failure_log_level() -> int | None:
    """The level :func:`failure_log_level` set for this context (``logging.ERROR`` by default)."""
    return _failure_level.get()
