"""The transport interface: everything that can send a :class:`~mailcore.message.Message`.

Provider plugins and policies implement the same small interface, so ``Failover([a, b])`` is
itself a transport. Sync and async are twins: :meth:`Transport.asend` runs the sync
:meth:`Transport.send` in a worker thread unless a transport has a native async path.

A leaf (provider) transport subclasses :class:`ProviderTransport` and writes one method,
``deliver(message) -> Delivery``; the base class times the attempt, stamps its name on errors and
builds the :class:`~mailcore.result.SendResult`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from mailcore.capabilities import Capability, adapt
from mailcore.errors import SendError
from mailcore.message import Message
from mailcore.result import Attempt, Delivery, SendResult

__all__ = ["CheckStep", "ProviderTransport", "Transport"]


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One step of ``mailcore check``: what was checked, whether it passed, and a hint if not.

    ``detail`` and ``hint`` must never contain a secret.
    """

    name: str
    ok: bool
    detail: str = ""
    duration: float = 0.0
    hint: str | None = None
    #: The step did not run (plain ``http://``, STARTTLS not offered on loopback): shown as
    #: skipped, never as a pass, though it does not fail the check.
    skipped: bool = False


class Transport(ABC):
    """Something that sends messages.

    ``name`` identifies the transport in results, errors and logs; it never contains a secret.
    ``close()`` may be called any number of times. Used as a context manager, a transport keeps
    its connections open until the block ends.

    ``capabilities`` declares what a provider transport carries faithfully (see
    :mod:`mailcore.capabilities`); a transport that declares nothing is trusted with the basics
    only (addresses, subject, bodies, attachments) and skipped for anything more. A leaf that
    implements :meth:`send` itself, rather than :meth:`ProviderTransport.deliver`, must pass the
    message through :func:`mailcore.capabilities.adapt` first, as :class:`ProviderTransport` does.
    """

    name: str = "transport"
    capabilities: frozenset[Capability] = frozenset()

    @abstractmethod
    def send(self, message: Message) -> SendResult:
        """Send one message or raise a :class:`~mailcore.errors.SendError` subclass."""

    async def asend(self, message: Message) -> SendResult:
        """Async twin of :meth:`send`; by default runs :meth:`send` in a worker thread."""
        import asyncio  # only async callers pay for it

        return await asyncio.to_thread(self.send, message)

    def open(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Prepare for a batch (connect, warm a pool). Optional; sends open lazily anyway."""

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Release connections. Idempotent."""

    def check(self) -> Iterator[CheckStep]:
        """Diagnose the connection step by step without sending a message (``mailcore check``).

        Transports override this to report DNS, TCP, TLS, authentication or API-credential
        steps; a step that fails ends the check. The default says no checks exist.
        """
        yield CheckStep(name="checks", ok=True, detail=f"{type(self).__name__} has no connection checks")

    def children(self) -> Sequence[Transport]:
        """The transports this one wraps (policies); empty for a provider transport."""
        return ()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class ProviderTransport(Transport):
    """Base for transports that talk to one provider.

    Subclasses implement :meth:`deliver`. It raises core errors only (the plugin's own
    classification module maps vendor answers), and it must not retry on its own: one call is
    one attempt, retries belong to the policy. The attempt as a whole must end within
    :func:`mailcore.budget.attempt_seconds` ``(self.timeout)`` seconds: the transport's own
    per-attempt bound, cut short by the message deadline of the policy around it.

    :meth:`send` first fits the message to this transport's ``capabilities``
    (:func:`mailcore.capabilities.adapt`): it renders a local template, writes the text part of
    an HTML-only message, or raises :class:`~mailcore.capabilities.CannotCarry` before
    :meth:`deliver` is called, so ``deliver`` only ever sees a message it can carry whole.
    """

    @abstractmethod
    def deliver(self, message: Message) -> Delivery:
        """Hand ``message`` to the provider once and say what it answered."""

    def send(self, message: Message) -> SendResult:
        started = time.perf_counter()
        try:
            message = adapt(message, self.capabilities, self.name)
            delivery = self.deliver(message)
        except SendError as error:
            if error.transport is None:
                error.transport = self.name
            raise
        duration = time.perf_counter() - started
        return SendResult(
            message_id=message.message_id,
            transport=self.name,
            provider_message_id=delivery.provider_message_id,
            attempts=(Attempt(self.name, None, duration),),
            rejected=delivery.rejected,
        )


def close_all(transports: Iterable[Transport]) -> None:
    """Close each transport, even when an earlier one fails to close; re-raise the first error."""
    first: BaseException | None = None
    for transport in transports:
        try:
            transport.close()
        except Exception as error:  # keep closing the others
            first = first or error
    if first is not None:
        raise first
