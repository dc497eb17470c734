"""The Mailer: the one object applications talk to.

A Mailer owns one composed transport (a policy stack built from URLs) and adds what every send
needs around it: the default sender, observer hooks, logging, and connection reuse when used as
a context manager::

    with Mailer.from_url("failover(sendgrid://KEY@ smtp://relay:587)") as mailer:
        for message in messages:
            mailer.send(message)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from mailcore.capabilities import ensure_carriable
from mailcore.config import Node
from mailcore.errors import (
    ConfigurationError,
    DeliveryFailed,
    DuplicateSend,
    MessageExpired,
    SendError,
    failure_summary,
)
from mailcore.message import Message
from mailcore.plugins import has_observers, notify
from mailcore.redact import Secret, install_log_filter
from mailcore.result import Attempt, SendResult
from mailcore.sender import current_failure_log_level, failure_log_level
from mailcore.transport import Transport

if TYPE_CHECKING:
    from mailcore.bulk.model import Recipient, RecipientResult
    from mailcore.outbox.api import MessageQueue
    from mailcore.outbox.worker import OutboxWorker

__all__ = ["Mailer", "failure_log_level", "send_mail"]

log = install_log_filter(logging.getLogger("mailcore"))
URL_ENV = "MAILCORE_URL"
FROM_ENV = "MAILCORE_FROM"
#: Default seconds a sent ``idempotency_key`` is remembered (``Mailer(idempotency_window=…)``).
IDEMPOTENCY_WINDOW = 86400.0


class Mailer:
    """Sends messages through a policy stack.

    :param transports: one URL, a composite expression (``"failover(a b)"``), a
        :class:`~mailcore.transport.Transport`, or a list of these (combined by ``strategy``).
        A URL may be wrapped in :class:`~mailcore.redact.Secret`: it is then revealed only
        where the transports are built, never in a frame a debug page would print.
    :param strategy: how a list is combined: ``"failover"`` (in order), ``"roundrobin"``,
        ``"weighted"``.
    :param from_email: sender used by :func:`send_mail` and :meth:`send_text` when none is given.
    :param policy: further options for the policy layer, passed to :func:`mailcore.policy.build`:
        ``retry=RetryPolicy(...)|dict|None``, ``breaker=BreakerPolicy(...)|dict|None``,
        ``on_ambiguous="fail"|"retry"``, ``state="redis://…"`` (shared breakers and rate limits),
        and ``clock``/``sleep``/``random`` for tests. See docs/policies.md.
    :param outbox: the durable outbox for :meth:`enqueue`: a URL whose scheme picks the backend
        (``sqlite:///path``, ``postgresql://…``, ``django``, ``celery``; see
        :mod:`mailcore.outbox.queue`); default ``MAILCORE_OUTBOX`` or the per-user SQLite file
        (see docs/operations.md).
    :param park_on_failure: when a :meth:`send` ends in a transient :class:`DeliveryFailed`,
        store the message in the queue and return a :class:`mailcore.outbox.Queued` instead.
    :param queue: where :meth:`enqueue` writes: ``"outbox"`` (the ``outbox`` URL, default
        SQLite), a queue URL or registered name (``"postgresql://…"``, ``"celery"``, ``"db"``), or
        an object with ``enqueue(message, *, delay=0.0, last_error=None) -> str`` and ``close()``.
    :param idempotency_window: seconds :meth:`send` remembers a message's ``idempotency_key``
        (in the state store: ``state=``/``MAILCORE_STATE_URL``, else this Mailer's memory); a
        second send with the same key returns the first :class:`SendResult` (``replayed=True``).
    """

    def __init__(
        self,
        transports: str | Secret | Node | Transport | Sequence[str | Secret | Node | Transport],
        *,
        strategy: str = "failover",
        from_email: str | None = None,
        outbox: str | None = None,
        park_on_failure: bool = False,
        queue: Any = None,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        **policy: Any,
    ) -> None:
        from mailcore.outbox.lifetimes import check_window
        from mailcore.policy import build

        self.transport = build(transports, strategy=strategy, **policy)
        self.idempotency_window = check_window(idempotency_window, "Mailer idempotency_window")
        self._state_option = policy.get("state")
        self._idempotency: Any = None
        self.from_email = from_email
        self.outbox_url = outbox
        self.park_on_failure = park_on_failure
        self.queue = queue
        self._queue: Any = None

    @classmethod
    def from_url(cls, url: str | Secret, **options: Any) -> Mailer:
        """A Mailer for one URL or composite expression, e.g. ``failover(a b)``."""
        return cls(url, **options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Mailer:
        """A Mailer from ``MAILCORE_URL`` (and ``MAILCORE_FROM`` as the default sender).

        The URL is read into a :class:`~mailcore.redact.Secret` at once, so no frame of a
        configuration error's traceback holds it revealed.
        """
        url = _env_url(os.environ if environ is None else environ)
        options.setdefault("from_email", (os.environ if environ is None else environ).get(FROM_ENV) or None)
        return cls(url, **options)

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: Message, *, park: bool | None = None) -> SendResult:
        """Send one message through the policy; raise a :class:`SendError` when it fails.

        With ``park`` (default: the Mailer's ``park_on_failure``), a transient failure stores the
        message in the queue and returns a :class:`mailcore.outbox.Queued` (not delivered yet).

        A message past its ``expires`` is not sent: :class:`DeliveryFailed` with
        ``reason == "expired"`` (the policy never retries past the expiry either). A message whose
        ``idempotency_key`` was sent within the window returns that first result
        (``replayed=True``) and sends nothing.
        """
        ensure_carriable(self.transport, message)
        if message.idempotency_key is not None:
            return self._send_once(message, park)
        return self._send(message, park)

    def _send(self, message: Message, park: bool | None) -> SendResult:
        expired = self._expired(message)
        if expired is not None:
            self._after_failure(message, expired)
            raise expired
        try:
            result = self.transport.send(message)
        except SendError as error:
            failure = _as_delivery_failed(error)
            if failure.transient and (self.park_on_failure if park is None else park):
                return self._park(message, failure)
            self._after_failure(message, failure)
            if failure is error:
                raise
            raise failure from error
        self._after_success(message, result)
        return result

    def _expired(self, message: Message) -> DeliveryFailed | None:
        """The failure to raise instead of sending a message whose ``expires`` has passed."""
        if message.expires is None or time.time() < message.expires.timestamp():
            return None
        from mailcore.outbox.lifetimes import expiry_reason

        at = message.expires.timestamp()
        name = self.transport.name
        error = MessageExpired(f"not sent: {expiry_reason(at)}", expires_at=at, transport=name)
        return DeliveryFailed(f"{message.message_id} {error}", attempts=[Attempt(name, error, 0.0)], transport=name)

    def _send_once(self, message: Message, park: bool | None) -> SendResult:
        """Send a message with an ``idempotency_key`` at most once per window (see :meth:`send`)."""
        from mailcore.idempotency import run_once

        store = self._idempotency_store()
        sent: list[SendResult] = []

        def send() -> str:
            sent.append(self._send(message, park))
            return _result_json(sent[0])

        try:
            stored, replayed = run_once(store, f"send:{message.idempotency_key}", self.idempotency_window, send)
        except DuplicateSend as error:
            name = self.transport.name
            error.transport = name
            raise DeliveryFailed(
                f"{message.message_id} not sent: {error}", attempts=[Attempt(name, error, 0.0)], transport=name
            ) from None
        if not replayed:
            return sent[0]
        log.info("message %s: idempotency key seen before; returning the first result", message.message_id)
        return _replayed(stored)

    def _idempotency_store(self) -> Any:
        """The state store (``state=``/``MAILCORE_STATE_URL``), else the process-wide memory store,
        so a Mailer built per request still remembers the keys of the process."""
        if self._idempotency is None:
            from mailcore.idempotency import idempotency_store

            self._idempotency = idempotency_store(self._state_option)
        return self._idempotency

    def send_many(self, messages: Iterable[Message]) -> list[SendResult | SendError]:
        """Send each message over kept-open connections; one result or error per message, in order.

        A failure does not stop the batch: its :class:`SendError` takes that message's place in
        the list.
        """
        return list(self.send_iter(messages))

    def send_iter(
        self, messages: Iterable[Message], *, concurrency: int = 1, window: int | None = None
    ) -> Iterator[SendResult | SendError]:
        """Stream ``messages`` (any iterable, even an endless generator): yield one result or
        error per message, in order, with at most ``window`` (default ``2 × concurrency``) taken
        from the input at a time, so memory stays flat. ``concurrency`` threads send at once.
        """
        from mailcore.bulk.stream import bounded_map

        with self:
            yield from bounded_map(self._send_or_error, messages, concurrency=concurrency, window=window)

    def _send_or_error(self, message: Message) -> SendResult | SendError:
        try:
            return self.send(message)
        except SendError as error:
            return error

    def send_bulk(
        self,
        template: Message,
        recipients: Iterable[Recipient | Mapping[str, Any] | str],
        *,
        concurrency: int = 4,
        batch_size: int | None = None,
    ) -> Iterator[RecipientResult]:
        """Send ``template`` personalized for each recipient; yield a result per recipient, in order.

        ``{field}`` placeholders in the subject, text and HTML are filled from each recipient's
        fields (HTML-escaped in the HTML). Provider batch APIs are used when the stack has them
        (``batch_size`` defaults to the provider's maximum), else one message per recipient;
        the policy applies per batch. Recipients are read lazily. See docs/bulk.md.
        """
        from mailcore.bulk.engine import send_bulk

        return send_bulk(self, template, recipients, concurrency=concurrency, batch_size=batch_size)

    async def asend(self, message: Message) -> SendResult:
        """Async twin of :meth:`send`, with the same policy."""
        import asyncio  # only async callers pay for it (``import mailcore`` stays cheap)

        ensure_carriable(self.transport, message)
        if message.idempotency_key is not None:  # the store calls block: run the sync path
            return await asyncio.to_thread(self.send, message)
        expired = self._expired(message)
        if expired is not None:
            await asyncio.to_thread(self._after_failure, message, expired)
            raise expired
        try:
            result = await self.transport.asend(message)
        except SendError as error:
            failure = _as_delivery_failed(error)
            if failure.transient and self.park_on_failure:
                return await asyncio.to_thread(self._park, message, failure)
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
        """Persist ``message`` in the queue and return its id; a worker delivers it.

        With the default SQLite outbox (``outbox=`` or ``MAILCORE_OUTBOX``, ``sqlite:///path``)
        the row is committed to disk before this returns; with ``queue="celery"`` the id is the
        Celery task id. Run ``mailcore worker`` or :meth:`start_worker` to deliver. A message no
        transport of this Mailer can carry whole is refused here (``InvalidMessage``), not parked
        later.
        """
        ensure_carriable(self.transport, message)
        return self._message_queue().enqueue(message)

    def start_worker(self, **options: Any) -> OutboxWorker:
        """Deliver this Mailer's outbox from a daemon thread; ``options`` go to :class:`OutboxWorker`.

        Call ``.stop()`` on the returned worker at shutdown (the message in flight finishes).
        """
        from mailcore.outbox.worker import OutboxWorker

        return OutboxWorker(self, **options).start()

    def _message_queue(self) -> MessageQueue:
        if self._queue is None:
            from mailcore.outbox.queue import open_queue

            self._queue = open_queue(self.queue, self.outbox_url)
        queue: MessageQueue = self._queue
        return queue

    def _park(self, message: Message, failure: DeliveryFailed) -> SendResult:
        """Store a transiently failed message for the worker; return a :class:`Queued` result."""
        from mailcore.outbox.backoff import OUTBOX_BACKOFF, next_delay
        from mailcore.outbox.result import Queued

        reason = str(failure.last_error or failure)
        try:
            outbox_id = self._message_queue().enqueue(
                message, delay=next_delay(OUTBOX_BACKOFF, 1, failure), last_error=reason
            )
        except Exception as error:
            self._after_failure(message, failure)
            raise failure from error
        log.warning("message %s not delivered yet (%s); parked as %s", message.message_id, reason, outbox_id)
        return Queued(
            message_id=message.message_id, transport="outbox", attempts=failure.attempts,
            outbox_id=outbox_id, reason=reason,
        )  # fmt: skip

    # -- observers ---------------------------------------------------------------------------

    def _after_success(self, message: Message, result: SendResult) -> None:
        if len(result.attempts) > 1 and has_observers("mailcore_attempt_failed"):
            for attempt in _failed_attempts(result.attempts):
                notify("mailcore_attempt_failed", message=message, attempt=attempt)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "message %s sent through %s", message.message_id, result.transport,
                extra={"transport": result.transport, "message_id": message.message_id, "outcome": "sent",
                       "attempt": len(result.attempts), "duration": round(sum(a.duration for a in result.attempts), 6)},
            )  # fmt: skip
        if has_observers("mailcore_message_sent"):
            notify("mailcore_message_sent", message=message, result=result)

    def _after_failure(self, message: Message, error: DeliveryFailed) -> None:
        last = error.attempts[-1].transport if error.attempts else (error.transport or "?")
        level = current_failure_log_level()
        if level is not None:
            self._log_failure(level, message, error, last)
        if has_observers("mailcore_attempt_failed"):
            for attempt in _failed_attempts(error.attempts):
                notify("mailcore_attempt_failed", message=message, attempt=attempt)
        if has_observers("mailcore_message_failed"):
            notify("mailcore_message_failed", message=message, error=error)

    @staticmethod
    def _log_failure(level: int, message: Message, error: DeliveryFailed, last: str) -> None:
        log.log(
            level,
            "message %s not delivered (%s) after %d attempt(s): %s",
            message.message_id, error.outcome, len(error.attempts), error.last_error,
            extra={"transport": last, "message_id": message.message_id, "outcome": error.outcome,
                   "attempt": len(error.attempts), "duration": round(sum(a.duration for a in error.attempts), 6)},
        )  # fmt: skip

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


def _failed_attempts(attempts: Iterable[Attempt]) -> list[Attempt]:
    """Attempts that reached a transport and failed; a route the policy skipped (circuit open,
    own rate limit used up) is listed in the result but is not a failed attempt."""
    from mailcore.policy.errors import RouteSkipped

    return [a for a in attempts if a.error is not None and not isinstance(a.error, RouteSkipped)]


def _result_json(result: SendResult) -> str:
    """What the idempotency store keeps of a result: ids and names, no attempts or errors."""
    data: dict[str, Any] = {
        "message_id": result.message_id,
        "transport": result.transport,
        "provider_message_id": result.provider_message_id,
        "rejected": dict(result.rejected),
    }
    outbox_id = getattr(result, "outbox_id", None)
    if outbox_id:
        data["outbox_id"] = outbox_id
        data["reason"] = getattr(result, "reason", "")
    return json.dumps(data, separators=(",", ":"))


def _replayed(stored: str) -> SendResult:
    """The result :func:`_result_json` stored, returned again (``replayed=True``)."""
    data = json.loads(stored)
    fields = {
        "message_id": data["message_id"],
        "transport": data["transport"],
        "provider_message_id": data.get("provider_message_id"),
        "rejected": data.get("rejected") or {},
        "replayed": True,
    }
    if data.get("outbox_id"):
        from mailcore.outbox.result import Queued

        return Queued(**fields, outbox_id=data["outbox_id"], reason=data.get("reason", ""))
    return SendResult(**fields)


def _env_url(environ: Mapping[str, str]) -> Secret:
    url = environ.get(URL_ENV, "").strip()
    if not url:
        raise ConfigurationError(
            f"{URL_ENV} is not set; set it to a transport URL such as "
            "smtp://user:password@smtp.example.com:587 (see docs/urls.md)"
        )
    return Secret(url)


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

    The Mailer comes from the environment (``MAILCORE_URL``, ``MAILCORE_FROM``) unless given;
    that one is shared process-wide per configuration (see :mod:`mailcore.shared`), so calling
    this once per request reuses one connection instead of opening one per call.
    ``fail_silently`` swallows :class:`SendError` only: a configuration or message error is
    always raised, because it will not fix itself.
    """
    owned = mailer is None
    active = mailer or _env_mailer()
    try:
        sender = from_email or active.from_email
        if not sender:
            raise ConfigurationError(f"no sender: pass from_email or set {FROM_ENV}")
        msg = Message(sender, list(recipient_list), subject, text=message, html=html_message)
        with failure_log_level(None) if fail_silently else nullcontext():  # logged once, below
            active.send(msg)
        return 1
    except SendError as error:
        if fail_silently:
            log.warning("message %s not sent (fail_silently): %s", msg.message_id, failure_summary(error))
            return 0
        raise
    finally:
        if owned:
            active.close()


def _env_mailer() -> Mailer:
    """The process-wide Mailer for ``MAILCORE_URL``/``MAILCORE_FROM`` (closing it is a no-op)."""
    from mailcore.shared import shared_mailer

    url = os.environ.get(URL_ENV, "").strip()
    if not url:
        return Mailer.from_env()  # raises the ConfigurationError that says what to set
    return shared_mailer(url, from_email=os.environ.get(FROM_ENV) or None)
