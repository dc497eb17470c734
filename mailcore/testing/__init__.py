"""Helpers for testing code that sends mail with mailcore.

* :func:`outbox` — the messages a ``memory://NAME`` transport kept;
* the pytest plugin (installed with mailcore) gives a ``mail_outbox`` fixture and a
  ``memory_mailer`` fixture;
* :class:`TransportContract` — the base test class every transport plugin's tests subclass.
"""

from __future__ import annotations

from mailcore.message import Message
from mailcore.testing.contract import TransportContract
from mailcore.transports.memory import MemoryTransport, outboxes

__all__ = ["MemoryTransport", "TransportContract", "clear_outboxes", "outbox"]


def outbox(name: str = "default") -> list[Message]:
    """The live list of messages sent through ``memory://NAME``."""
    return outboxes.setdefault(name, [])


def clear_outboxes() -> None:
    """Empty every memory outbox (between tests)."""
    for messages in outboxes.values():
        messages.clear()
