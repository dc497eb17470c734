"""Which queue ``Mailer.enqueue()`` writes to and ``mailcore worker`` drains: dispatch by URL scheme.

Queue backends are plugins (hook ``mailcore_register_queues``): each registers a URL scheme and a
factory, usually as a ``"module:attr"`` string, so the core imports no backend (Celery, psycopg,
Django) until a queue of that kind is opened. mailcore's own:

==============  ==============================================  ==================================
scheme          factory                                         what
==============  ==============================================  ==================================
``sqlite``      ``mailcore.outbox.store:open_outbox``           the SQLite outbox (default; bare
                                                                file paths too)
``postgresql``  ``mailcore.outbox.postgres:open_postgres_outbox``  a PostgreSQL outbox table
``django``      ``mailcore.adapters.django.outbox:...``          the table in Django's database
                                                                (``"db"`` is an alias)
``celery``      ``mailcore.adapters.celery:open_celery_queue``  the ``mailcore.deliver`` task
==============  ==============================================  ==================================
"""

from __future__ import annotations

import re

from mailcore.errors import ConfigurationError
from mailcore.outbox.api import MessageQueue, OutboxStore
from mailcore.outbox.location import resolve_outbox_url

__all__ = ["MessageQueue", "OutboxStore", "open_queue", "open_store", "queue_scheme"]

#: Names that mean another queue: ``"db"`` is Django's database (``MAILCORE["QUEUE"] = "db"``).
ALIASES = {"db": "django"}
_BARE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+-]*")
_DEFAULT = ("outbox", "sqlite")


def open_queue(queue: str | MessageQueue | None = None, outbox: str | None = None) -> MessageQueue:
    """The queue for a Mailer: ``queue`` (a URL, a registered name or an object) and its outbox URL.

    ``None``/``"outbox"`` → the outbox named by ``outbox`` (or ``MAILCORE_OUTBOX``, or the
    per-user SQLite file), whatever its scheme; ``"sqlite"`` → the SQLite outbox at ``outbox``;
    a URL (``postgresql://…``, ``sqlite:///path``) or a file path → that queue; a bare registered
    name (``"celery"``, ``"django"``, ``"db"``) → that backend, with the ``outbox`` URL when its
    scheme is that name. An object with ``enqueue()`` and ``close()`` is used as it is.
    """
    if queue is not None and not isinstance(queue, str):
        if isinstance(queue, MessageQueue):
            return queue
        raise ConfigurationError(
            f"queue must be a URL, a queue name or an object with enqueue() and close(), not {type(queue).__name__}"
        )
    target = _target(queue, outbox)
    return _open(target)


def open_store(url: str | None = None, *, worker: bool = False) -> OutboxStore:
    """The outbox store named by ``url`` (else ``MAILCORE_OUTBOX``, else the per-user SQLite file).

    ``worker=True`` opens SQLite with ``synchronous=NORMAL`` (safe for a worker's state updates,
    see :mod:`mailcore.outbox.store`). A queue that is not a store a worker drains (Celery: its
    workers are Celery workers) is a :class:`ConfigurationError`.
    """
    target = _alias(resolve_outbox_url(url))
    scheme = queue_scheme(target)
    if scheme == "sqlite":
        from mailcore.outbox.store import open_outbox

        return open_outbox(target, synchronous="NORMAL" if worker else "FULL")
    queue = _open(target)
    if not isinstance(queue, OutboxStore):
        queue.close()
        hint = " (run: celery -A mailcore.adapters.celery.app worker -Q mailcore.high,mailcore,mailcore.low)"
        raise ConfigurationError(
            f"the {scheme!r} queue is not an outbox store that mailcore's worker drains"
            + (hint if scheme == "celery" else "")
        )
    return queue


def queue_scheme(target: str) -> str:
    """The registered scheme a queue URL, name or path dispatches to (``sqlite`` for a path)."""
    from mailcore.plugins import get_queue_registry

    text = _alias(target.strip())
    if "://" in text:
        scheme = text.split("://", 1)[0].split("+", 1)[0].lower()  # postgresql+psycopg:// → postgresql
        get_queue_registry().get(scheme)  # unknown → ConfigurationError listing the known ones
        return scheme
    registry = get_queue_registry()
    if text.lower() in registry:
        return text.lower()
    if _BARE_NAME.fullmatch(text):
        registry.get(text)  # raises: an unknown name, not a path (a path has a '/' or a '.')
    return "sqlite"


def _target(queue: str | None, outbox: str | None) -> str:
    kind = _alias((queue or "outbox").strip())
    if kind in _DEFAULT:
        resolved = resolve_outbox_url(outbox)
        if kind == "sqlite" and queue_scheme(resolved) != "sqlite":
            raise ConfigurationError(
                f"queue 'sqlite' needs a sqlite:/// outbox URL, not a {queue_scheme(resolved)!r} one"
            )
        return resolved
    if "://" not in kind and _BARE_NAME.fullmatch(kind) and outbox:
        named = _alias(outbox.strip())
        if "://" in named and queue_scheme(named) == queue_scheme(kind):
            return named  # queue="postgresql", outbox="postgresql://…"
    return kind


def _open(target: str) -> MessageQueue:
    from mailcore.plugins import get_queue_registry

    target = _alias(target)  # a factory sees "django", never "db"
    scheme = queue_scheme(target)
    queue = get_queue_registry().get(scheme).load()(target)
    if not isinstance(queue, MessageQueue):
        raise ConfigurationError(f"the {scheme!r} queue factory returned {type(queue).__name__}, not a MessageQueue")
    return queue


def _alias(text: str) -> str:
    return ALIASES.get(text.strip().lower(), text)
