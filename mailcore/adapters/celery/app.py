"""A ready-made Celery app for running mailcore workers::

    celery -A mailcore.adapters.celery.app worker -Q mailcore.high,mailcore,mailcore.low

The three queues carry ``priority="high"``, ``"normal"`` and ``"low"`` messages (the default
queue is ``mailcore``, or ``MAILCORE_CELERY_QUEUE``); for a strict preference run a separate
worker for ``-Q mailcore.high``.

The broker and result backend come from Celery's own ``CELERY_BROKER_URL`` /
``CELERY_RESULT_BACKEND`` environment variables (default: Redis on 127.0.0.1); the transport
from ``MAILCORE_URL``; shared breaker and rate-limit state from ``MAILCORE_STATE_URL``.
:func:`~mailcore.adapters.celery.broker.configure_broker` applies the broker's reliability
settings: on RabbitMQ (``amqp://``) publisher confirms, persistent messages on durable queues,
acks late, prefetch 1 (``MAILCORE_CELERY_QUORUM=1``: quorum queues); on Redis a one-hour
visibility timeout, acks late, prefetch 1. Projects that already have a Celery app (Django's
``proj/celery.py``) import ``mailcore.adapters.celery`` there and call ``configure_broker(app)``.
"""

from __future__ import annotations

import os

from celery import Celery  # type: ignore[import-untyped,unused-ignore]

import mailcore.adapters.celery  # noqa: F401 - registers the mailcore.deliver task
from mailcore.adapters.celery.broker import configure_broker

app = Celery(
    "mailcore",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("CELERY_RESULT_BACKEND") or None,
)
app.conf.update(
    task_default_queue=os.environ.get("MAILCORE_CELERY_QUEUE", "mailcore"),
    broker_connection_retry_on_startup=True,
)
configure_broker(app, quorum=os.environ.get("MAILCORE_CELERY_QUORUM", "") not in ("", "0", "false", "no"))
