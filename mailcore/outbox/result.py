""":class:`Queued`: what ``send()`` returns when it parked a message instead of delivering it."""

from __future__ import annotations

from dataclasses import dataclass

from mailcore.result import SendResult

__all__ = ["Queued"]


@dataclass(frozen=True, slots=True)
class Queued(SendResult):
    """The message was **not delivered yet**: it is safe in the outbox and a worker will send it.

    Returned by ``Mailer.send()`` with ``park_on_failure=True`` when every attempt failed
    transiently. It is a :class:`SendResult` (so code that only needs "the message is safe" keeps
    working), with ``transport == "outbox"``, no ``provider_message_id``, the failed
    ``attempts``, and ``outbox_id`` to follow it (``mailcore outbox show ID``). Test for it with
    ``isinstance(result, Queued)`` or ``result.transport == "outbox"``.
    """

    outbox_id: str = ""
    reason: str = ""

    @property
    def delivered(self) -> bool:
        """Always false: a queued message has not reached a provider yet."""
        return False
