"""Helpers for testing code that sends mail with mailcore.

* :func:`outbox` — the messages a ``memory://NAME`` transport kept;
* the pytest plugin (installed with mailcore) gives a ``mail_outbox`` fixture and a
  ``memory_mailer`` fixture;
* :class:`TransportContract` — the base test class every transport plugin's tests subclass.

Importing this package does not import pytest (the demo and benchmarks use the outboxes
without it); ``TransportContract`` loads it on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailcore.message import Message
from mailcore.transports.memory import MemoryTransport, outboxes

if TYPE_CHECKING:
    from mailcore.testing.contract import TransportContract

__all__ = ["MemoryTransport", "TransportContract", "clear_outboxes", "outbox"]


def __getattr__(name: str) -> Any:
    if name == "TransportContract":
        from mailcore.testing.contract import TransportContract

        return TransportContract
    raise AttributeError(f"module 'mailcore.testing' has no attribute {name!r}")


def outbox(name: str = "default") -> list[Message]:
    """The live list of messages sent through ``memory://NAME``."""
    return outboxes.setdefault(name, [])


def clear_outboxes() -> None:
    """Empty every memory outbox (between tests)."""
    for messages in outboxes.values():
        messages.clear()
