"""The timeline of one outbox message, as the admin's detail page shows it.

The outbox keeps bookkeeping, not a history: when the row was created, how many delivery runs
it had (``runs``), when it last changed and to what (``state``, ``last_error``, ``transport``,
``provider_message_id``), when it is next due, when it expires. :func:`bookkeeping_timeline`
turns that into dated lines; it is a pure function of the row, so it is tested without Django.

**Extension point.** Other sources add their own lines (the delivery events of issue 17:
delivered, bounced, opened… tied to the message by its Message-ID) by registering a callable::

    from mailcore.adapters.django.timeline import TimelineEntry, add_timeline_source

    def delivery_events(row):
        for event in Event.objects.filter(message_id=row.message_id):
            yield TimelineEntry(event.timestamp.timestamp(), event.type, event.reason or "")

    add_timeline_source(delivery_events)

:func:`timeline` merges every source with the bookkeeping, oldest first. A source that raises
is shown as one line saying so (the page still renders); its text never includes a body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from mailcore.config import mask_url
from mailcore.redact import printable

__all__ = [
    "OutboxRow",
    "TimelineEntry",
    "TimelineSource",
    "add_timeline_source",
    "bookkeeping_timeline",
    "remove_timeline_source",
    "timeline",
    "transport_label",
]

log = logging.getLogger("mailcore.django.admin")


class OutboxRow(Protocol):
    """What the timeline reads of a row (an ``OutboxMessage``, or any object with these)."""

    id: str
    state: str
    runs: int
    created_at: float
    updated_at: float
    age_from: float
    due_at: float
    lease_owner: str | None
    last_error: str | None
    transport: str | None
    provider_message_id: str | None
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One dated line: ``at`` in epoch seconds, ``what`` happened, and a ``detail`` (plain text)."""

    at: float
    what: str
    detail: str = ""
    #: "bookkeeping" for the outbox's own columns; a source names itself (e.g. "events").
    source: str = "bookkeeping"


TimelineSource = Callable[[Any], Iterable[TimelineEntry]]
_sources: list[TimelineSource] = []


def add_timeline_source(source: TimelineSource) -> None:
    """Add ``source`` (called with the row, yields :class:`TimelineEntry`) to every timeline."""
    if source not in _sources:
        _sources.append(source)


def remove_timeline_source(source: TimelineSource) -> None:
    """Undo :func:`add_timeline_source` (tests, or an app that is unloaded)."""
    if source in _sources:
        _sources.remove(source)


#: A provider's name as a settling event writes it into ``transport`` (``sendgrid``, ``ses``).
_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def transport_label(value: str | None) -> str:
    """The ``transport`` column for display: a transport URL with its secrets masked, or the bare
    provider name a delivery event settled the row with (no URL, so nothing in it to hide)."""
    if not value:
        return ""
    return value if _PROVIDER_NAME.fullmatch(value) else mask_url(value)


def bookkeeping_timeline(row: OutboxRow) -> list[TimelineEntry]:
    """The lines the outbox's own columns give, oldest first."""
    entries = [TimelineEntry(row.created_at, "enqueued")]
    if row.age_from > row.created_at + 0.5:  # retry() restarts the age: an operator sent it back
        entries.append(TimelineEntry(row.age_from, "retried", "made due again; its age counts from here"))
    runs = f"after {row.runs} delivery run{'s' if row.runs != 1 else ''}"
    error = printable(row.last_error) if row.last_error else ""
    transport = transport_label(row.transport)
    if row.state == "sent":
        detail = f"via {transport or 'an unnamed transport'}"
        if row.provider_message_id:
            detail += f", provider message id {printable(row.provider_message_id)}"
        entries.append(TimelineEntry(row.updated_at, "sent", f"{detail} ({runs})"))
    elif row.state == "sending":
        owner = printable(row.lease_owner) if row.lease_owner else "a worker"
        entries.append(TimelineEntry(row.updated_at, "claimed", f"run {row.runs} by {owner}; lease until due time"))
        entries.append(TimelineEntry(row.due_at, "lease ends", "claimable again if the worker died"))
    elif row.state == "queued":
        if row.runs:
            entries.append(TimelineEntry(row.updated_at, "deferred", f"{error or 'no reason kept'} ({runs})"))
        entries.append(TimelineEntry(row.due_at, "due", "the next delivery run may start"))
    else:  # failed, unknown, expired, and any state a newer store adds
        entries.append(TimelineEntry(row.updated_at, row.state, f"{error or 'no reason kept'} ({runs})"))
    if row.expires_at is not None:
        entries.append(TimelineEntry(row.expires_at, "expires", "never sent after this time"))
    return sorted(entries, key=lambda entry: entry.at)


def timeline(row: OutboxRow) -> list[TimelineEntry]:
    """The bookkeeping lines and every registered source's lines, oldest first."""
    entries = bookkeeping_timeline(row)
    for source in list(_sources):
        name = getattr(source, "__name__", type(source).__name__)
        try:
            entries.extend(source(row))
        except Exception as error:  # one broken source must not break the page
            log.warning("timeline source %s failed for outbox row %s: %s", name, row.id, type(error).__name__)
            entries.append(
                TimelineEntry(row.updated_at, "timeline source failed", f"{name}: {type(error).__name__}", name)
            )
    return sorted(entries, key=lambda entry: entry.at)
