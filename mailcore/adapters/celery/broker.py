"""Broker settings that make a Celery app keep mail: publisher confirms on RabbitMQ, acks late.

:func:`configure_broker` applies them to a Celery app (the ready-made app calls it; call it on
your own app after setting ``broker_url``). What it sets depends on the broker URL's scheme:

* **RabbitMQ** (``amqp://``, ``amqps://``, ``pyamqp://``): publisher confirms
  (``broker_transport_options={"confirm_publish": True}``), so ``enqueue()`` returns only after
  the broker has taken responsibility for the task (for a durable queue and a persistent
  message, written it to disk) and raises :class:`~mailcore.errors.EnqueueFailed` when the
  broker refuses it or does not answer within ``mailcore_confirm_timeout`` seconds (default 10);
  persistent delivery mode; queues are durable (kombu's default); ``task_acks_late`` and
  ``task_reject_on_worker_lost`` (a task comes back when its worker dies mid-send);
  ``worker_prefetch_multiplier=1`` (a killed worker holds at most one unacknowledged task per
  pool slot); socket read/write timeouts of ``mailcore_confirm_timeout`` seconds, so a stalled
  broker cannot hold ``enqueue()`` forever (at worst about three timeouts: the confirm, then
  closing the channel and the connection). ``quorum=True`` makes every queue Celery declares a quorum queue
  (``x-queue-type: quorum``: replicated by Raft on a RabbitMQ cluster) on a topic exchange, which
  Celery's native delayed delivery needs for retries with a countdown; it also makes the mail
  queue (``mailcore_queue``, else ``"mailcore"``) the app's default queue unless you set
  ``task_default_queue``: native delayed delivery binds every queue the app knows, and gives up
  (retries then go nowhere) when one of them, like an undeclared ``"celery"``, cannot be bound.
* **Redis** (``redis://``, ``rediss://``): the settings the ready-made app always had:
  ``visibility_timeout`` one hour, acks late, reject on worker lost, prefetch 1.
* anything else: acks late, reject on worker lost, prefetch 1.

A setting the app already has explicitly is never overwritten; for ``broker_transport_options``
your keys win and ours fill the gaps. ``task_acks_late`` and ``task_reject_on_worker_lost`` are
app-wide: set them to False on your app first if other tasks must not run twice (the
``mailcore.deliver`` task is acks-late by its own decorator either way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailcore.errors import ConfigurationError, EnqueueFailed

__all__ = [
    "AMQP_SCHEMES",
    "DEFAULT_CONFIRM_TIMEOUT",
    "REDIS_SCHEMES",
    "broker_kind",
    "broker_settings",
    "configure_broker",
    "enqueue_failure",
]

AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})
REDIS_SCHEMES = frozenset({"redis", "rediss"})
#: The queue workers consume (``celery worker -Q mailcore``), the ready-made app's default.
DEFAULT_QUEUE = "mailcore"
#: Seconds ``enqueue()`` waits for RabbitMQ's confirm before raising ``EnqueueFailed``.
DEFAULT_CONFIRM_TIMEOUT = 10.0
#: Redis: an unacknowledged task comes back after this; longer than the longest retry countdown.
REDIS_VISIBILITY_TIMEOUT = 3600

_RELIABLE_WORKER = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
}


def broker_kind(broker_url: str | None) -> str:
    """``"rabbitmq"``, ``"redis"`` or ``"other"`` for a Celery broker URL.

    No URL means Celery's default broker, RabbitMQ on localhost. Of a failover list
    (``amqp://a;amqp://b``) the first URL decides.
    """
    if not broker_url:
        return "rabbitmq"
    first = broker_url.split(";", 1)[0].strip()
    # the scheme only: urlsplit() would raise on a malformed host part such as "amqp://["
    scheme = first.partition("://")[0].lower().split("+", 1)[0] if "://" in first else ""
    if scheme in AMQP_SCHEMES:
        return "rabbitmq"
    if scheme in REDIS_SCHEMES:
        return "redis"
    return "other"


def broker_settings(broker_url: str | None, *, quorum: bool = False) -> dict[str, Any]:
    """The Celery settings mailcore recommends for this broker (a new dict; nothing applied).

    ``quorum=True`` is only meaningful on RabbitMQ; elsewhere it raises ConfigurationError.
    """
    kind = broker_kind(broker_url)
    if quorum and kind != "rabbitmq":
        raise ConfigurationError(
            f"quorum queues are a RabbitMQ feature; the broker URL is {kind}: drop quorum=True or use amqp://"
        )
    settings: dict[str, Any] = dict(_RELIABLE_WORKER)
    if kind == "rabbitmq":
        settings.update(
            # read/write timeouts bound everything that waits on the socket, also the channel
            # close after a missing confirm, which otherwise waits forever on a stalled broker
            broker_transport_options={
                "confirm_publish": True,
                "read_timeout": DEFAULT_CONFIRM_TIMEOUT,
                "write_timeout": DEFAULT_CONFIRM_TIMEOUT,
            },
            task_default_delivery_mode="persistent",
            mailcore_confirm_timeout=DEFAULT_CONFIRM_TIMEOUT,
        )
        if quorum:
            settings.update(
                task_default_queue_type="quorum",
                task_create_missing_queue_type="quorum",
                task_default_exchange_type="topic",
                task_create_missing_queue_exchange_type="topic",
            )
    elif kind == "redis":
        settings["broker_transport_options"] = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT}
    return settings


def configure_broker(app: Any, *, quorum: bool = False) -> dict[str, Any]:
    """Apply :func:`broker_settings` for ``app``'s broker to ``app.conf``; return what was set.

    Settings the app already has explicitly are kept; ``broker_transport_options`` is merged
    (the app's keys win).
    """
    conf = app.conf
    applied: dict[str, Any] = {}
    for key, value in broker_settings(conf.broker_url, quorum=quorum).items():
        if key == "broker_transport_options":
            current = conf.get(key) or {}
            if not isinstance(current, Mapping):
                raise ConfigurationError(f"broker_transport_options must be a dict, not {type(current).__name__}")
            merged = {**value, **current}
            if merged != current:
                applied[key] = merged
        elif not conf.value_set_for(key) and conf.get(key) != value:
            applied[key] = value
    if quorum and not conf.value_set_for("task_default_queue"):
        # Celery's native delayed delivery (how retries with a countdown reach a quorum queue)
        # binds every queue the app knows; Celery's default queue "celery", declared by nobody,
        # makes it give up, and the retries are then routed nowhere.
        applied["task_default_queue"] = conf.get("mailcore_queue") or DEFAULT_QUEUE
    if applied:
        conf.update(applied)
    return applied


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and its causes/contexts, outermost first (cycles cut)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def enqueue_failure(error: BaseException, queue: str | None) -> EnqueueFailed:
    """The :class:`EnqueueFailed` for an exception raised while publishing a task.

    Pure classification on the exception chain: a ``basic.nack`` or a refused connection means
    the broker does not have the task; a missing confirm or a connection lost mid-publish means
    it may. The text names exception classes and errno texts only, never the broker URL.
    """
    chain = _chain(error)
    names = {type(e).__name__ for e in chain}
    where = f"Celery queue {queue!r}" if queue else "the Celery queue"
    if "MessageNacked" in names:
        reason, maybe = (
            "the broker refused the task (basic.nack: e.g. a full queue with x-overflow=reject-publish)",
            False,
        )
    elif any(isinstance(e, ConnectionRefusedError) for e in chain):
        reason, maybe = "the broker refused the connection (is it running? is the URL right?)", False
    elif any(isinstance(e, TimeoutError) for e in chain):
        reason, maybe = "the broker did not confirm the task in time (mailcore_confirm_timeout)", True
    else:
        detail = next((e.strerror for e in chain if isinstance(e, OSError) and e.strerror), None)
        kinds = " <- ".join(type(e).__name__ for e in chain)
        reason, maybe = f"publishing failed ({kinds}{': ' + detail if detail else ''})", True
    advice = "it may have been stored: enqueuing again may deliver it twice" if maybe else "it was NOT stored"
    return EnqueueFailed(f"{where}: {reason}; {advice}", queue=queue, maybe_stored=maybe)
