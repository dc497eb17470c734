"""The ``memory`` transport: keeps messages in a list instead of sending them.

For tests and demos. ``memory://NAME`` appends to the shared outbox ``NAME`` (``default`` when
omitted), readable with :func:`mailcore.testing.outbox`. ``?fail=N&error=KIND`` makes the first N
sends fail with a core error of that kind, to rehearse a policy without a network:
``transient``, ``connection``, ``timeout``, ``ambiguous`` (timeout after hand-over), ``rate``,
``rejected`` (transport), ``message`` (message rejected).

A memory transport carries every capability; ``?lacks=provider_template,tags`` takes some away,
to rehearse how the policy skips a transport that cannot carry a message whole.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable

from mailcore.capabilities import Capability, coerce_capabilities
from mailcore.config import TransportURL
from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    InvalidMessage,
    MessageRejected,
    RateLimited,
    SendError,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.message import Message
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport

__all__ = ["ERROR_KINDS", "MemoryTransport", "outboxes"]

_lock = threading.Lock()
#: Every named memory outbox of this process.
outboxes: dict[str, list[Message]] = {}

ERROR_KINDS: dict[str, Callable[[], SendError]] = {
    "transient": lambda: TransientError("scripted transient failure"),
    "connection": lambda: ConnectionFailed("scripted connection failure"),
    "timeout": lambda: SendTimeout("scripted timeout before hand-over"),
    "ambiguous": lambda: SendTimeout("scripted timeout after hand-over", maybe_sent=True),
    "rate": lambda: RateLimited("scripted rate limit", retry_after=1.0),
    "rejected": lambda: TransportRejected("scripted authentication failure"),
    "message": lambda: MessageRejected("scripted content rejection"),
}


class MemoryTransport(ProviderTransport):
    """Appends each message to ``outbox``; raises the scripted ``errors`` first, in order."""

    def __init__(
        self,
        name: str = "default",
        *,
        outbox: list[Message] | None = None,
        errors: Iterable[SendError | None] = (),
        lacks: Iterable[str] = (),
    ) -> None:
        self.capabilities = frozenset(Capability) - coerce_capabilities(lacks, "lacks")
        self.outbox_name = name
        self.name = f"memory://{name}"
        with _lock:
            self.outbox = outbox if outbox is not None else outboxes.setdefault(name, [])
        self._errors = iter(list(errors))
        self._counter = itertools.count(1)
        self.closed = False

    @classmethod
    def from_url(cls, url: TransportURL) -> MemoryTransport:
        url.check_params({"fail", "error", "timeout", "lacks"})
        url.get_seconds("timeout", 1.0)  # accepted like every transport's; memory never waits
        fail = url.get_int("fail", 0) or 0
        kind = url.get_choice("error", ERROR_KINDS, "transient")
        lacks = [name.strip() for name in (url.get("lacks") or "").split(",") if name.strip()]
        try:
            coerce_capabilities(lacks, "lacks")
        except InvalidMessage as error:
            raise ConfigurationError(f"{url.masked()}: {error}") from None
        return cls(url.host or "default", errors=[ERROR_KINDS[kind]() for _ in range(fail)], lacks=lacks)

    def deliver(self, message: Message) -> Delivery:
        self.closed = False
        error = next(self._errors, None)
        if error is not None:
            raise error
        with _lock:
            self.outbox.append(message)
            number = next(self._counter)
        return Delivery(provider_message_id=f"{self.outbox_name}-{number}")

    def close(self) -> None:
        self.closed = True
