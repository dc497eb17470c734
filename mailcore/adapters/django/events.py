"""Delivery events in a Django project: where the receivers store them, and their timeline lines.

**Where.** :func:`events_outbox_url` is the outbox beside which the Django webhook views (and
``manage.py mailcore_ingest_dsn``) store events, and whose suppression list they feed:

1. ``settings.MAILCORE_EVENTS_OUTBOX`` when set (``"db"``, ``django://ALIAS``, ``sqlite:///…``
   or ``postgresql://…``);
2. else Django's database when the outbox is there (``MAILCORE["QUEUE"] = "db"`` or
   ``django://ALIAS``; on Django 6.1 also a mailcore ``MAILERS`` entry's ``queue`` option):
   tables ``mailcore_delivery_events`` and ``mailcore_suppressions`` of migration
   ``mailcore.0002``, written in ``transaction.atomic(using=alias)`` and committed before the
   provider gets its 2xx;
3. else ``None``: the process's pipeline on ``MAILCORE_OUTBOX``, as outside Django.

**Timeline.** :func:`delivery_event_lines` is the admin timeline source (registered by the
admin module) that shows an outbox row's stored events — kind, provider, recipient, reason —
beside its delivery runs. The provider's raw record is never part of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.options import django_outbox_url
from mailcore.adapters.django.timeline import TimelineEntry
from mailcore.errors import ConfigurationError
from mailcore.redact import printable

__all__ = ["EVENTS_SETTING", "SOURCE", "check_events_outbox", "delivery_event_lines", "events_outbox_url"]

#: The setting naming the outbox the receivers store events beside (optional).
EVENTS_SETTING = "MAILCORE_EVENTS_OUTBOX"
#: The ``source`` of the timeline lines :func:`delivery_event_lines` yields.
SOURCE = "events"
_EVENT_SCHEMES = ("sqlite", "postgresql", "postgres", "django")


def events_outbox_url() -> str | None:
    """The outbox URL events are stored beside (see the module docs); ``None``: ``MAILCORE_OUTBOX``.

    :raises ImproperlyConfigured: ``MAILCORE_EVENTS_OUTBOX`` is not a string.
    """
    chosen = getattr(settings, EVENTS_SETTING, None)
    if chosen is not None:
        if not isinstance(chosen, str) or not chosen.strip():
            raise ImproperlyConfigured(
                f"{EVENTS_SETTING} must be an outbox URL (db, django://ALIAS, sqlite:////path or postgresql://…)"
            )
        return django_outbox_url(chosen.strip()) or chosen.strip()
    return _queue_url()


def _queue_url() -> str | None:
    """The ``django://`` URL of the configured queue when it is in Django's database."""
    base = getattr(settings, "MAILCORE", None)
    if isinstance(base, Mapping):
        found = django_outbox_url(_stripped(base.get("QUEUE")))
        if found is not None:
            return found
    mailers = getattr(settings, "MAILERS", None)
    if isinstance(mailers, Mapping):
        from mailcore.adapters.django.checks import _is_mailcore

        # the "default" alias first, then the others in order
        for alias in sorted(mailers, key=lambda name: name != "default"):
            config = mailers[alias]
            if isinstance(config, Mapping) and _is_mailcore(str(config.get("BACKEND", ""))):
                options = config.get("OPTIONS") or {}
                found = django_outbox_url(_stripped(options.get("queue"))) if isinstance(options, Mapping) else None
                if found is not None:
                    return found
    return None


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def check_events_outbox() -> str | None:
    """:func:`events_outbox_url`, checked without opening anything: the scheme must be one whose
    database keeps events (the URLconf calls this, so a typo fails at start-up)."""
    from mailcore.outbox.queue import queue_scheme

    url = events_outbox_url()
    if url is None:
        return None
    try:
        scheme = queue_scheme(url)
    except ConfigurationError as error:
        raise ImproperlyConfigured(f"{EVENTS_SETTING}: {error}") from None
    if scheme not in _EVENT_SCHEMES:
        raise ImproperlyConfigured(
            f"{EVENTS_SETTING}: the {scheme!r} queue keeps no delivery events; use db, django://ALIAS, "
            "sqlite:////path or postgresql://…"
        )
    return url


def delivery_event_lines(row: Any) -> Iterator[TimelineEntry]:
    """The admin timeline source: the delivery events stored for ``row`` (an ``OutboxMessage``)
    in the database it was read from, linked by outbox id or Message-ID. Nothing for other rows
    or for a database that keeps no events."""
    from mailcore.adapters.django.models import OutboxMessage
    from mailcore.adapters.django.outbox import DjangoOutbox
    from mailcore.outbox.events import events_for
    from mailcore.outbox.eventsql import has_events

    if not isinstance(row, OutboxMessage):
        return
    store = DjangoOutbox(row._state.db or None)
    if not has_events(store):
        return
    for event in events_for(store, outbox_id=row.id, message_id=row.message_id):
        what = event.kind if event.kind != "bounced" else f"bounced ({event.bounce_type or '?'})"
        if event.suppressed_by:
            what += f" (on {event.provider}'s {event.suppressed_by} list)"
        parts = [f"by {event.provider}"]
        if event.recipient:
            parts.append(f"for {event.recipient}")
        reason = "; ".join(text for text in (event.reason, event.diagnostic) if text)
        detail = " ".join(parts) + (f": {reason}" if reason else "")
        yield TimelineEntry(event.occurred_at, printable(what), printable(detail), SOURCE)
