"""The Mailer: the one object applications talk to.

A Mailer owns one composed transport (a policy stack built from URLs) and adds what every send
needs around it: the default sender, observer hooks, logging, and connection reuse when used as
a context manager::

    with Mailer.from_url("failover(sendgrid://KEY@ smtp://relay:587)") as mailer:
        for message in messages:
            mailer.send(message)
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from mailcore.config import Node
from mailcore.errors import ConfigurationError, DeliveryFailed, SendError
from mailcore.message import Message
from mailcore.plugins import has_observers, notify
from mailcore.result import Attempt, SendResult
from mailcore.transport import Transport

__all__ = ["Mailer", "send_mail"]

log = logging.getLogger("mailcore")
URL_ENV = "MAILCORE_URL"
FROM_ENV = "MAILCORE_FROM"


class Mailer:
    """Sends messages through a policy stack.

    :param transports: one URL, a composite expression (``"failover(a b)"``), a
        :class:`~mailcore.transport.Transport`, or a list of these (combined by ``strategy``).
    :param strategy: how a list is combined: ``"failover"`` (in order), ``"roundrobin"``,
        ``"weighted"``.
    :param from_email: sender used by :func:`send_mail` and :meth:`send_text` when none is given.
    :param policy: further options for the policy layer (``retry=...``, ``on_ambiguous=...``).
    """

    def __init__(
        self,
        transports: str | Node | Transport | Sequence[str | Node | Transport],
        *,
        strategy: str = "failover",
        from_email: str | None = None,
        outbox: str | None = None,
        **policy: Any,
    ) -> None:
        from mailcore.policy import build

        self.transport = build(transports, strategy=strategy, **policy)
        self.from_email = from_email
        self.outbox_url = outbox

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Mailer:
        """A Mailer for one URL or composite expression, e.g. ``failover(a b)``."""
        return cls(url, **options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Mailer:
        """A Mailer from ``MAILCORE_URL`` (and ``MAILCORE_FROM`` as the default sender)."""
        env = os.environ if environ is None else environ
        url = env.get(URL_ENV, "").strip()
        if not url:
            raise ConfigurationError(
                f"{URL_ENV} is not set; set it to a transport URL such as "
                "smtp://user:password@smtp.example.com:587 (see docs/urls.md)"
            )
        options.setdefault("from_email", env.get(FROM_ENV) or None)
        return cls(url, **options)

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        """Send one message through the policy; raise a :class:`SendError` when it fails."""
        try:
            result = self.transport.send(message)
        except SendError as error:
            failure = _as_delivery_failed(error)
            self._after_failure(message, failure)
            if failure is error:
                raise
            raise failure from error
        self._after_success(message, result)
        return result

    def send_many(self, messages: Iterable[Message]) -> list[SendResult | SendError]:
        """Send each message over kept-open connections; one result or error per message, in order.

        A failure does not stop the batch: its :class:`SendError` takes that message's place in
        the list.
        """
        results: list[SendResult | SendError] = []
        with self:
            for message in messages:
                try:
                    results.append(self.send(message))
                except SendError as error:
                    results.append(error)
        return results

    async def asend(self, message: Message) -> SendResult:
        """Async twin of :meth:`send`, with the same policy."""
        try:
            result = await self.transport.asend(message)
        except SendError as error:
            failure = _as_delivery_failed(error)
            await asyncio.to_thread(self._after_failure, message, failure)
            if failure is error:
                raise
            raise failure from error
        self._after_success(message, result)
        return result

    def send_text(self, to: str | Sequence[str], subject: str, text: str, **fields: Any) -> SendResult:
        """Shortcut: build a :class:`Message` from the default sender and send it."""
        sender = fields.pop("from_email", None) or self.from_email
        if not sender:
            raise ConfigurationError(f"no sender: pass from_email=... or set {FROM_ENV}")
        return self.send(Message(sender, to, subject, text=text, **fields))

    def enqueue(self, message: Message) -> str:
        """Persist ``message`` in the durable outbox and return its id; a worker delivers it.

        The outbox is ``outbox=`` or ``MAILCORE_OUTBOX`` (``sqlite:///path``).
        """
        raise ConfigurationError("the durable outbox is not available in this build")

    # -- observers ---------------------------------------------------------------------------

    def _after_success(self, message: Message, result: SendResult) -> None:
        failed = [a for a in result.attempts if a.error is not None]
        if failed and has_observers("mailcore_attempt_failed"):
            for attempt in failed:
                notify("mailcore_attempt_failed", message=message, attempt=attempt)
        if has_observers("mailcore_message_sent"):
            notify("mailcore_message_sent", message=message, result=result)

    def _after_failure(self, message: Message, error: DeliveryFailed) -> None:
        log.error(
            "message %s not delivered (%s) after %d attempt(s): %s",
            message.message_id, error.outcome, len(error.attempts), error.last_error,
        )  # fmt: skip
        if has_observers("mailcore_attempt_failed"):
            for attempt in error.attempts:
                notify("mailcore_attempt_failed", message=message, attempt=attempt)
        if has_observers("mailcore_message_failed"):
            notify("mailcore_message_failed", message=message, error=error)

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        self.transport.open()

    def close(self) -> None:
        self.transport.close()

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
        return f"<Mailer {self.transport.name}>"


def _as_delivery_failed(error: SendError) -> DeliveryFailed:
    """Every failed send surfaces as DeliveryFailed with its attempts, whatever the stack."""
    if isinstance(error, DeliveryFailed):
        return error
    return DeliveryFailed(
        f"not delivered: {error}",
        attempts=[Attempt(error.transport or "?", error, 0.0)],
        transport=error.transport,
    )


def send_mail(
    subject: str,
    message: str,
    from_email: str | None,
    recipient_list: Sequence[str],
    *,
    html_message: str | None = None,
    fail_silently: bool = False,
    mailer: Mailer | None = None,
) -> int:
    """Send one email, Django-style; return 1 when sent, 0 when it failed silently.

    The Mailer comes from the environment (``MAILCORE_URL``, ``MAILCORE_FROM``) unless given.
    ``fail_silently`` swallows :class:`SendError` only: a configuration or message error is
    always raised, because it will not fix itself.
    """
    owned = mailer is None
    active = mailer or Mailer.from_env()
    try:
        sender = from_email or active.from_email
        if not sender:
            raise ConfigurationError(f"no sender: pass from_email or set {FROM_ENV}")
        msg = Message(sender, list(recipient_list), subject, text=message, html=html_message)
        active.send(msg)
        return 1
    except SendError:
        if fail_silently:
            log.warning("send_mail failed silently", exc_info=True)
            return 0
        raise
    finally:
        if owned:
            active.close()
