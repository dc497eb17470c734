"""A message's timeline: its outbox row and the provider events stored for it (``mailcore status``).

:func:`find_status` looks a key up — an outbox id (or prefix), a Message-ID with or without
angle brackets (which is also mailcore's correlation id), a provider's message id, or a
recipient address — and returns what is known, oldest first. :func:`recipient_states` and
:func:`unknown_note` are pure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mailcore.outbox import events as event_store
from mailcore.outbox.events import StoredEvent
from mailcore.outbox.eventsql import EventStore, event_db
from mailcore.outbox.retention import recipient_digest

if TYPE_CHECKING:
    from mailcore.outbox.api import Entry

__all__ = ["SETTLE_WINDOW", "MessageStatus", "TimelineItem", "find_status", "recipient_states", "unknown_note"]

#: How long an ``unknown`` row waits for an ``accepted``/``delivered`` event before ``mailcore
#: status`` reports it as probably not delivered (seconds).
SETTLE_WINDOW: Final = 3600.0
#: What a recipient's state is, by the strongest event seen (later events of lower rank do not
#: undo a higher one: a complaint after a delivery is still a complaint).
_RANK: Final = {
    "accepted": 1,
    "deferred": 2,
    "delivered": 3,
    "opened": 3,
    "clicked": 3,
    "unsubscribed": 4,
    "dropped": 5,
    "rejected": 5,
    "bounced": 5,
    "complained": 6,
}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One line of a timeline."""

    at: float
    what: str
    provider: str | None = None
    recipient: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "what": self.what, "provider": self.provider, "recipient": self.recipient,
                "detail": self.detail}  # fmt: skip


@dataclass(frozen=True)
class MessageStatus:
    """Everything known about one message: outbox row (if any), events, timeline, per recipient."""

    message_id: str | None
    entry: Entry | None
    events: Sequence[StoredEvent]
    items: Sequence[TimelineItem]
    recipients: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "message_id": self.message_id,
            "outbox": None
            if entry is None
            else {
                "id": entry.id,
                "state": entry.state,
                "runs": entry.runs,
                "created_at": entry.created_at,
                "updated_at": entry.updated_at,
                "transport": entry.transport,
                "provider_message_id": entry.provider_message_id,
                "last_error": entry.last_error,
            },
            "timeline": [item.as_dict() for item in self.items],
            "recipients": self.recipients,
            "note": self.note,
        }


def recipient_states(events: Sequence[StoredEvent]) -> dict[str, str]:
    """Per recipient, the strongest event's kind (``bounced (hard)`` for a hard bounce)."""
    best: dict[str, tuple[int, str]] = {}
    for event in events:
        if not event.recipient or event.kind not in _RANK:
            continue
        label = event.kind if event.kind != "bounced" else f"bounced ({event.bounce_type or 'unknown'})"
        rank = _RANK[event.kind] if event.bounce_type != "soft" else 4
        if event.kind in ("opened", "clicked"):
            label = "delivered"
        if rank >= best.get(event.recipient, (0, ""))[0]:
            best[event.recipient] = (rank, label)
    return {recipient: label for recipient, (_, label) in sorted(best.items())}


def unknown_note(
    entry: Entry, events: Sequence[StoredEvent], *, now: float, window: float = SETTLE_WINDOW
) -> str | None:
    """What to tell about an ``unknown`` row (pure): still waiting, or probably not delivered."""
    if entry.state != "unknown":
        return None
    if any(e.kind in event_store.SETTLING_KINDS for e in events):
        return "outcome unknown, though a provider reported the message: the event is being handled"
    waited = now - entry.updated_at
    if waited < window:
        return (
            f"outcome unknown (the attempt timed out after hand-over); waiting for a provider event "
            f"to settle it ({_age(waited)} of {_age(window)})"
        )
    return (
        f"outcome unknown and no provider reported accepting it within {_age(window)}: it was probably "
        f"not delivered. `mailcore outbox retry {entry.id[:12]}` sends it again (a duplicate if it did arrive)"
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _items(entry: Entry | None, events: Sequence[StoredEvent]) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    if entry is not None:
        items.append(TimelineItem(entry.created_at, "enqueued", detail=f"outbox {entry.id}"))
        if entry.runs:
            items.append(TimelineItem(entry.updated_at, f"{entry.runs} delivery run(s)", detail=entry.last_error))
        if entry.state == "sent":
            via = entry.transport or "?"
            pid = f", provider id {entry.provider_message_id}" if entry.provider_message_id else ""
            items.append(TimelineItem(entry.updated_at, "sent", provider=via, detail=f"accepted by {via}{pid}"))
        elif entry.state in ("failed", "unknown"):
            items.append(TimelineItem(entry.updated_at, entry.state, provider=entry.transport, detail=entry.last_error))
        else:
            items.append(
                TimelineItem(entry.due_at, entry.state, detail="next try" if entry.state == "queued" else None)
            )
    # provider events follow the outbox's own lines: their clocks are the providers' (often whole
    # seconds), so merging by time would put "delivered" before "enqueued" now and then
    for event in sorted(events, key=lambda e: (e.occurred_at, e.seq)):
        what = event.kind if event.kind != "bounced" else f"bounced ({event.bounce_type or '?'})"
        detail = "; ".join(t for t in (event.reason, event.diagnostic) if t) or None
        items.append(TimelineItem(event.occurred_at, what, event.provider, event.recipient, detail))
    return items


def _status(outbox: EventStore, entry: Entry | None, message_id: str | None, now: float) -> MessageStatus:
    events = event_store.events_for(outbox, outbox_id=entry.id if entry else None, message_id=message_id)
    return MessageStatus(
        message_id=message_id,
        entry=entry,
        events=events,
        items=_items(entry, events),
        recipients=recipient_states(events),
        note=unknown_note(entry, events, now=now) if entry is not None else None,
    )


def find_status(
    outbox: EventStore, key: str, *, address: bool = False, now: float | None = None
) -> list[MessageStatus]:
    """The status of the message(s) ``key`` names; empty when nothing is known.

    With ``address`` (or when ``key`` names no message but looks like an address) every message
    known for that recipient is returned, newest last.
    """
    at = time.time() if now is None else now
    key = key.strip()
    if not address:
        entry = _find_entry(outbox, key)
        if entry is not None:
            return [_status(outbox, entry, entry.message_id, at)]
        message_id = _event_message_id(outbox, key)
        if message_id is not None:
            return [_status(outbox, None, message_id, at)]
        if "@" not in key:
            return []
    return _address_statuses(outbox, key, at)


def _find_entry(outbox: EventStore, key: str) -> Entry | None:
    try:
        return outbox.find(key)
    except KeyError:
        pass
    row = event_db(outbox).read(
        lambda tx: tx.one(
            "SELECT id FROM {outbox} WHERE provider_message_id = ? ORDER BY created_at DESC LIMIT 1", (key,)
        )
    )
    return outbox.find(row[0]) if row else None


def _event_message_id(outbox: EventStore, key: str) -> str | None:
    bracketed = key if key.startswith("<") else f"<{key}>"
    row = event_db(outbox).read(
        lambda tx: tx.one(
            "SELECT message_id FROM {events} WHERE message_id = ? OR provider_message_id = ? ORDER BY seq DESC LIMIT 1",
            (bracketed, key),
        )
    )
    return str(row[0]) if row and row[0] else None


def _address_statuses(outbox: EventStore, address: str, now: float) -> list[MessageStatus]:
    text = address.strip().lower()
    digest = recipient_digest(text)
    rows = event_db(outbox).read(
        lambda tx: tx.rows(
            "SELECT id FROM {outbox} WHERE ',' || lower(recipients) || ',' LIKE ? ESCAPE '\\' "
            "OR ',' || recipients || ',' LIKE ? ORDER BY created_at LIMIT 100",
            (f"%,{_escape(text)},%", f"%,{digest},%"),
        )
    )
    ids = [row[0] for row in rows]
    entries = [outbox.find(id) for id in ids]
    statuses = [_status(outbox, entry, entry.message_id, now) for entry in entries]
    seen = {s.entry.message_id for s in statuses if s.entry is not None}
    loose: dict[str, list[StoredEvent]] = {}
    for event in event_store.events_for(outbox, recipient=text):
        if event.outbox_id is None and event.message_id not in seen:
            loose.setdefault(event.message_id or "?", []).append(event)
    for message_id, events in loose.items():
        statuses.append(
            MessageStatus(message_id if message_id != "?" else None, None, events, _items(None, events),
                          recipient_states(events))
        )  # fmt: skip
    return [_only(status, text, digest) for status in statuses]


def _only(status: MessageStatus, address: str, digest: str) -> MessageStatus:
    """Keep the status whole, but list only ``address`` among the recipients."""
    mine = {r: s for r, s in status.recipients.items() if r in (address, digest)}
    return MessageStatus(status.message_id, status.entry, status.events, status.items, mine, status.note)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
