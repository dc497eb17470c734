"""Failover: try each transport in the configured order until one accepts the message."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from mailcore.errors import DeliveryFailed, MessageRejected, SendError, SendTimeout
from mailcore.message import Message
from mailcore.result import Attempt, SendResult
from mailcore.transport import Transport, close_all

log = logging.getLogger("mailcore")


class Failover(Transport):
    """Send through the first transport; on a transient or transport error move to the next.

    A :class:`MessageRejected` stops at once (the next provider would refuse it too), and a
    :class:`SendTimeout` with ``maybe_sent`` stops too (the message may already be delivered).
    """

    def __init__(self, transports: Sequence[Transport]) -> None:
        if not transports:
            raise ValueError("Failover needs at least one transport")
        self.transports = list(transports)
        self.name = "failover(" + " ".join(t.name for t in self.transports) + ")"

    def children(self) -> Sequence[Transport]:
        return self.transports

    def send(self, message: Message) -> SendResult:
        attempts: list[Attempt] = []
        for transport in self.transports:
            started = time.perf_counter()
            try:
                result = transport.send(message)
            except DeliveryFailed as error:
                attempts.extend(error.attempts)
                if not error.transient:
                    break
                continue
            except SendError as error:
                attempts.append(Attempt(transport.name, error, time.perf_counter() - started))
                if isinstance(error, MessageRejected) or (isinstance(error, SendTimeout) and error.maybe_sent):
                    break
                log.warning("transport %s failed (%s); failing over", transport.name, type(error).__name__)
                continue
            return SendResult(
                message_id=result.message_id,
                transport=result.transport,
                provider_message_id=result.provider_message_id,
                attempts=(*attempts, *result.attempts),
                rejected=result.rejected,
            )
        last = attempts[-1].error if attempts else None
        raise DeliveryFailed(
            f"no transport delivered {message.message_id}: {last}", attempts=attempts, transport=self.name
        )

    def open(self) -> None:
        for transport in self.transports:
            transport.open()

    def close(self) -> None:
        close_all(self.transports)
