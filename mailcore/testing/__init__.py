"""Helpers for testing code that sends mail with mailcore.

* :func:`outbox` — the messages a ``memory://NAME`` transport kept;
* the pytest plugin (installed with mailcore) gives a ``mail_outbox`` fixture and a
  ``memory_mailer`` fixture;
* :class:`TransportContract` — the base test class every transport plugin's tests subclass;
* :func:`skip_or_fail` — skip a test whose service or data file is missing, except in CI
  (``MAILCORE_REQUIRE_SERVICES=1``), where the test fails instead.

Importing this package does not import pytest (the demo and benchmarks use the outboxes
without it); ``TransportContract`` loads it on first access.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

from mailcore.message import Message
from mailcore.transports.memory import MemoryTransport, outboxes

if TYPE_CHECKING:
    from mailcore.testing.contract import TransportContract

__all__ = [
    "REQUIRE_SERVICES_ENV",
    "MemoryTransport",
    "TransportContract",
    "clear_outboxes",
    "outbox",
    "skip_or_fail",
]

#: Set to ``1`` (CI does) to turn "service or spec missing" skips into failures.
REQUIRE_SERVICES_ENV = "MAILCORE_REQUIRE_SERVICES"


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


def skip_or_fail(reason: str) -> NoReturn:
    """End the running test because something it needs is missing (Redis, a spec file, a plugin).

    It is skipped with ``reason``, so a developer without the service still gets a green run;
    under ``MAILCORE_REQUIRE_SERVICES=1`` (CI) it fails instead, so a missing service can never
    turn a CI run green by skipping::

        try:
            client.ping()
        except redis.RedisError as error:
            skip_or_fail(f"Redis is not reachable at {url}: {error}")
    """
    import pytest

    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{REQUIRE_SERVICES_ENV}=1 but {reason}")
    pytest.skip(reason)
