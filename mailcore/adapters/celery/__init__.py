"""Celery: deliver messages from a Celery queue when one machine's outbox is not enough.

Install with ``pip install 'steadymail[celery]'``. The task ``mailcore.deliver`` takes a message as
``Message.to_dict()`` JSON and sends it through a Mailer's policy::

    # producer (web app): enqueue instead of sending
    mailer = Mailer.from_env(queue="celery")          # or Django: MAILCORE = {"QUEUE": "celery"}
    task_id = mailer.enqueue(message)

    # workers, on any number of machines
    MAILCORE_URL="failover(ses://?region=eu-west-1&rate=14/s sendgrid://KEY@)" \\
    MAILCORE_STATE_URL=redis://redis:6379/1 \\
    celery -A mailcore.adapters.celery.app worker -Q mailcore

The task is ``acks_late`` with ``reject_on_worker_lost``: a worker killed mid-send leaves the
message on the broker for another worker (at least once). What a delivery ends in:

* sent → the task returns ``{"status": "sent", "transport": ..., "provider_message_id": ...}``;
* transient failure → ``self.retry(countdown=...)`` with the outbox's backoff (a RetryPolicy;
  ``Retry-After`` is a floor), until the message is ``mailcore_max_age`` seconds old;
* permanent failure → logged (and the ``mailcore_message_failed`` hook called), not retried;
  returns ``{"status": "failed", "reason": ...}``;
* ambiguous timeout (``outcome == "unknown"``) → logged, not retried (it may have been
  delivered); returns ``{"status": "unknown", ...}``.

Configuration is read from the Celery app's conf, then the environment: ``mailcore_url``
(``MAILCORE_URL``), ``mailcore_state_url`` (``MAILCORE_STATE_URL``: Redis for breakers and rate
limits shared by every worker), ``mailcore_queue`` (the Celery queue to route to),
``mailcore_backoff`` (a RetryPolicy or a dict of its fields), ``mailcore_max_age`` (seconds).
:func:`configure` sets a Mailer factory explicitly.

On RabbitMQ, call :func:`configure_broker` on your app (the ready-made app does): publisher
confirms make ``enqueue()`` return only once the broker has the task, and raise
:class:`~mailcore.errors.EnqueueFailed` when it does not (docs/operations.md#which-broker).

Message lifetimes (docs/operations.md#celery):

* ``priority`` routes the task: ``high`` → ``<queue>.high``, ``normal`` → ``<queue>``, ``low`` →
  ``<queue>.low``, where ``<queue>`` is ``mailcore_queue`` (else the app's default queue, which
  is ``mailcore`` for :mod:`mailcore.adapters.celery.app`). Workers must consume all three
  (``-Q mailcore.high,mailcore,mailcore.low``, or dedicated workers for ``mailcore.high``);
  ``mailcore_priority_queues = False`` sends every priority to ``<queue>``;
* ``expires`` becomes the task's Celery ``expires`` (a worker discards it unrun after that), and
  the task checks it again when it runs: an expired message is not sent (logged once, result
  ``{"status": "expired", ...}``), and no retry is scheduled past the expiry;
* ``idempotency_key``: ``enqueue`` returns the first task id for a key seen within the window
  (state store: ``mailcore_state_url``/``MAILCORE_STATE_URL``, else this process's memory), and
  the worker's ``Mailer.send`` sends a key once (its state store: set ``MAILCORE_STATE_URL`` to
  Redis so every worker shares it).

The task's arguments carry the whole message (a one-time code included) through the broker;
their *representation* (``argsrepr``, which Celery puts in task headers, events, Flower and
``celery inspect``) is only ``<message Message-ID>``, on the first send and on every retry. What
the broker and the result backend keep, and for how long, is in docs/operations.md#celery.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from amqp.exceptions import AMQPError, MessageNacked  # type: ignore[import-untyped,unused-ignore]
from celery import Celery, Task, current_app, shared_task  # type: ignore[import-untyped,unused-ignore]
from celery.exceptions import Reject  # type: ignore[import-untyped,unused-ignore]
from kombu.exceptions import KombuError  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.celery.broker import configure_broker, enqueue_failure
from mailcore.errors import ConfigurationError, DeliveryFailed, InvalidMessage
from mailcore.mailer import URL_ENV, Mailer
from mailcore.message import Message
from mailcore.outbox.backoff import OUTBOX_BACKOFF, Delays, next_delay
from mailcore.outbox.lifetimes import IDEMPOTENCY_WINDOW, expires_at, expiry_reason, is_expired
from mailcore.policy.retry import RetryPolicy
from mailcore.redact import install_log_filter

__all__ = ["TASK_NAME", "CeleryQueue", "configure", "configure_broker", "deliver", "open_celery_queue"]

TASK_NAME = "mailcore.deliver"
STATE_ENV = "MAILCORE_STATE_URL"
DEFAULT_MAX_AGE = 5 * 24 * 3600.0
log = install_log_filter(logging.getLogger("mailcore.celery"))
#: What publishing a task raises when the broker does not take it (kombu wraps amqp's and redis'
#: connection errors, a RabbitMQ nack included, in OperationalError).
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (KombuError, AMQPError, MessageNacked, OSError)

_lock = threading.Lock()
_mailers: dict[int, Mailer] = {}
_factory: Callable[[], Mailer] | None = None


def configure(mailer_factory: Callable[[], Mailer] | None) -> None:
    """Use ``mailer_factory()`` to build the worker's Mailer (once per worker process)."""
    global _factory
    with _lock:
        _factory = mailer_factory
        _mailers.clear()


def _conf(app: Celery, name: str, env: str | None = None) -> Any:
    value = app.conf.get(name)
    if value is None and env is not None:
        value = os.environ.get(env) or None
    return value


def worker_mailer(app: Celery) -> Mailer:
    """The Mailer this worker process delivers with, built on first use (after the pool forks)."""
    key = id(app)
    with _lock:
        mailer = _mailers.get(key)
        if mailer is None:
            mailer = _factory() if _factory is not None else _mailer_from_conf(app)
            _mailers[key] = mailer
        return mailer


def _mailer_from_conf(app: Celery) -> Mailer:
    url = _conf(app, "mailcore_url", URL_ENV)
    if not url:
        raise ConfigurationError(f"the Celery worker has no transport: set {URL_ENV} or app.conf.mailcore_url")
    state = _conf(app, "mailcore_state_url", STATE_ENV)
    return Mailer.from_url(url, **({"state": state} if state else {}))


def _backoff(app: Celery) -> Delays:
    value = app.conf.get("mailcore_backoff")
    if value is None:
        return OUTBOX_BACKOFF
    if isinstance(value, Mapping):
        return RetryPolicy(**{"deadline": None, **value})
    if not hasattr(value, "delay"):
        raise ConfigurationError("mailcore_backoff must be a RetryPolicy or a dict of its fields")
    delays: Delays = value
    return delays


@shared_task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, max_retries=None)  # type: ignore[untyped-decorator,unused-ignore]
def deliver(self: Task[Any, Any], message: Mapping[str, Any], enqueued_at: float | None = None) -> dict[str, Any]:
    """Deliver one serialized message (``Message.to_dict()``) through the worker's policy."""
    try:
        msg = Message.from_dict(message)
    except (InvalidMessage, KeyError, TypeError, ValueError) as error:
        log.error("mailcore.deliver: the queued message cannot be read, dropped: %s", error)
        return {"status": "failed", "reason": f"the queued message cannot be read: {error}"}
    expiry = expires_at(msg)
    if is_expired(expiry, time.time()):
        return _expired(msg, expiry_reason(expiry or 0.0))
    try:
        result = worker_mailer(self.app).send(msg, park=False)
    except DeliveryFailed as failure:
        return _after_failure(self, msg, failure, enqueued_at)
    except InvalidMessage as error:
        log.error("mailcore.deliver: %s is invalid, not retried: %s", msg.message_id, error)
        return {"status": "failed", "message_id": msg.message_id, "reason": str(error)}
    except Exception as error:  # misconfiguration or a bug: keep the message, try later
        log.exception("mailcore.deliver: unexpected error for %s; will retry", msg.message_id)
        raise _retry(self, msg, f"{type(error).__name__}: {error}", None, enqueued_at) from None
    return {
        "status": "sent",
        "message_id": msg.message_id,
        "transport": result.transport,
        "provider_message_id": result.provider_message_id,
        "attempts": len(result.attempts),
        "replayed": result.replayed,
    }


def _expired(msg: Message, reason: str) -> dict[str, Any]:
    """The task's result for a message whose ``expires`` passed: not sent, logged once."""
    log.warning("mailcore.deliver: %s not sent, %s", msg.message_id, reason)
    return {"status": "expired", "message_id": msg.message_id, "reason": reason}


def safe_reprs(message_id: str) -> dict[str, Any]:
    """The ``argsrepr``/``kwargsrepr`` options that name the message without its content."""
    return {"argsrepr": f"(<message {message_id}>,)", "kwargsrepr": "{'enqueued_at': ...}"}


def _after_failure(
    task: Task[Any, Any], msg: Message, failure: DeliveryFailed, enqueued_at: float | None
) -> dict[str, Any]:
    reason = str(failure.last_error or failure)
    expiry = expires_at(msg)
    if failure.expired:
        return _expired(msg, expiry_reason(expiry) if expiry is not None else reason)
    if failure.transient and expiry is not None:
        countdown = next_delay(_backoff(task.app), task.request.retries + 1, failure)
        if is_expired(expiry, time.time() + countdown):  # no retry past the expiry
            return _expired(msg, f"{expiry_reason(expiry)} (last error: {reason})")
    if failure.outcome == "unknown":
        log.warning(
            "mailcore.deliver: outcome of %s unknown (may have been delivered), not retried: %s", msg.message_id, reason
        )
        return {"status": "unknown", "message_id": msg.message_id, "reason": reason}
    if failure.transient:
        raise _retry(task, msg, reason, failure, enqueued_at)
    log.error("mailcore.deliver: %s failed permanently, not retried: %s", msg.message_id, reason)
    return {"status": "failed", "message_id": msg.message_id, "reason": reason}


def _retry(
    task: Task[Any, Any], msg: Message, reason: str, failure: DeliveryFailed | None, enqueued_at: float | None
) -> BaseException:
    """The exception to raise: a scheduled retry, or a permanent give-up once too old."""
    run = task.request.retries + 1
    countdown = next_delay(_backoff(task.app), run, failure)
    max_age = float(task.app.conf.get("mailcore_max_age") or DEFAULT_MAX_AGE)
    if enqueued_at is not None and time.time() + countdown - enqueued_at > max_age:
        log.error("mailcore.deliver: %s expired after %d run(s), not retried: %s", msg.message_id, run, reason)
        return _Expired(f"{msg.message_id} expired after {run} run(s): {reason}")
    log.warning("mailcore.deliver: %s not delivered (%s); retry %d in %.1fs", msg.message_id, reason, run, countdown)
    try:
        retry: BaseException = task.retry(
            countdown=countdown, max_retries=None, throw=False, **safe_reprs(msg.message_id)
        )
    except Reject as rejected:
        # Celery could not publish the retry and would drop this task (requeue=False): put the
        # original task back on the queue instead, so the message is not lost.
        log.error("mailcore.deliver: could not schedule the retry of %s; requeued: %s", msg.message_id, rejected)
        requeue: BaseException = Reject(getattr(rejected, "reason", None), requeue=True)
        return requeue
    return retry


class _Expired(Exception):
    """A message that kept failing transiently until ``mailcore_max_age``: the task fails."""


class CeleryQueue:
    """``Mailer(queue="celery")``: enqueue means sending the ``mailcore.deliver`` task.

    :param app: the Celery app (default: the current app, e.g. your Django project's).
    :param queue: the Celery queue normal-priority messages go to (default:
        ``app.conf.mailcore_queue``, else Celery's default routing); ``high`` and ``low`` go to
        ``<queue>.high`` / ``<queue>.low`` (see the module docs).
    :param state: where idempotency keys live (a URL or store; default ``mailcore_state_url`` /
        ``MAILCORE_STATE_URL``, else this process's memory).
    :param idempotency_window: seconds a key is remembered (default one day).
    :param options: further ``apply_async`` options.
    """

    def __init__(
        self,
        app: Celery | None = None,
        *,
        queue: str | None = None,
        state: Any = None,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        **options: Any,
    ) -> None:
        self.app = app
        self.queue = queue
        self.state = state
        self.idempotency_window = idempotency_window
        self.options = options
        self._store: Any = None

    def enqueue(self, message: Message, *, delay: float = 0.0, last_error: str | None = None) -> str:
        """Send the task; return its id. ``last_error`` is logged by the caller, not sent.

        A message whose ``idempotency_key`` was enqueued within the window is not sent again:
        the first task's id is returned. On RabbitMQ with publisher confirms
        (:func:`configure_broker`) this returns only after the broker confirmed the task; raises
        :class:`~mailcore.errors.EnqueueFailed` when the broker refused it, did not confirm it
        within ``mailcore_confirm_timeout``, or was unreachable.
        """
        if message.idempotency_key is None:
            return self._send(message, delay)
        from mailcore.idempotency import run_once

        task_id, _ = run_once(
            self._idempotency_store(),
            f"enqueue:{message.idempotency_key}",
            self.idempotency_window,
            lambda: self._send(message, delay),
        )
        return task_id

    def _send(self, message: Message, delay: float) -> str:
        app = self.app or current_app
        options = {**safe_reprs(message.message_id), **self.options}
        queue = self.route(message.priority, app)
        if queue:
            options["queue"] = queue
        if delay > 0:
            options["countdown"] = delay
        if message.expires is not None:
            options["expires"] = message.expires  # the worker discards the task unrun after it
        confirm_timeout = app.conf.get("mailcore_confirm_timeout")
        if confirm_timeout and "confirm_timeout" not in options:
            options["confirm_timeout"] = float(confirm_timeout)
        try:
            result = app.send_task(TASK_NAME, args=[message.to_dict()], kwargs={"enqueued_at": time.time()}, **options)
        except PUBLISH_ERRORS as error:
            raise enqueue_failure(error, queue) from None
        return str(result.id)

    def route(self, priority: str, app: Celery | None = None) -> str | None:
        """The Celery queue for a priority (None: Celery's default routing)."""
        app = app or self.app or current_app
        configured = self.queue or app.conf.get("mailcore_queue")
        if priority == "normal" or app.conf.get("mailcore_priority_queues") is False:
            return str(configured) if configured else None
        return f"{configured or app.conf.task_default_queue}.{priority}"

    def _idempotency_store(self) -> Any:
        if self._store is None:
            from mailcore.idempotency import idempotency_store

            app = self.app or current_app
            self._store = idempotency_store(self.state or _conf(app, "mailcore_state_url"))
        return self._store

    def close(self) -> None:
        """Nothing to release: the app owns its broker connections."""

    def __repr__(self) -> str:
        return f"<CeleryQueue {self.queue or 'default'}>"


def open_celery_queue(url: str) -> CeleryQueue:
    """The queue factory registered for ``celery`` (``Mailer(queue="celery")``): ``celery`` or
    ``celery://?queue=NAME`` (the Celery queue normal-priority messages go to)."""
    from urllib.parse import parse_qsl

    _, _, query = url.partition("?")
    params = dict(parse_qsl(query))
    unknown = set(params) - {"queue"}
    if unknown:
        raise ConfigurationError(f"unknown celery queue parameter(s) {', '.join(sorted(unknown))}; known: queue")
    return CeleryQueue(queue=params.get("queue") or None)
