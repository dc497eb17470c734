"""What a send returns: :class:`SendResult`, and one :class:`Attempt` per try."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Attempt", "Delivery", "SendResult"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one transport: ``error`` is ``None`` when it succeeded.

    ``duration`` is in seconds. ``transport`` is the transport's masked name.
    """

    transport: str
    error: BaseException | None
    duration: float

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a provider said when it accepted a message (returned by leaf transports).

    ``rejected`` maps recipients the provider refused to its reason, when it accepted the
    message for the others.
    """

    provider_message_id: str | None = None
    rejected: dict[str, str] = field(default_factory=dict)
    response: Any = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of a successful send.

    ``transport`` names the transport that delivered; ``attempts`` lists every attempt in order,
    failed ones included (a failover shows up here); ``rejected`` lists recipients that were
    refused while the others got the message.
    """

    message_id: str
    transport: str
    provider_message_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    rejected: dict[str, str] = field(default_factory=dict)
    #: True when nothing was sent this time: the message's ``idempotency_key`` was sent before
    #: within the window, and this is that first send's result (``attempts`` is then empty).
    replayed: bool = False

    @property
    def failed_over(self) -> bool:
        """True when a transport other than the first one tried delivered the message."""
        return bool(self.attempts) and self.attempts[0].transport != self.transport
