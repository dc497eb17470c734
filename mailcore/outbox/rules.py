"""What every outbox store (SQLite, PostgreSQL, Django's database) decides the same way.

The stores differ in how they talk to their database (SQL dialect, ORM, locking); the states, the
operator rules (what may be retried or purged), the retention decisions and the mapping of a
message to a new row and of a row back to an :class:`~mailcore.outbox.api.Entry` or a
:class:`~mailcore.message.Message` are one rule, kept here as constants and pure functions so the
three stores cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from mailcore.ids import uuid4_hex
from mailcore.message import Message
from mailcore.outbox.lifetimes import expires_at, priority_rank

if TYPE_CHECKING:
    from mailcore.outbox.retention import Retention

__all__ = [
    "EXPIRED",
    "FAILED",
    "FINISHED",
    "NEW_ROW_COLUMNS",
    "PARKED",
    "QUEUED",
    "RETRYABLE",
    "SENDING",
    "SENT",
    "STATES",
    "SUMMARY_FIELDS",
    "SUMMARY_SQL",
    "UNKNOWN",
    "WAITING",
    "check_purge_state",
    "check_retry_state",
    "content_drops",
    "drops_body",
    "like_prefix",
    "new_row",
    "pick_match",
    "split_expired",
    "state_counts",
    "stored_message",
]

R = TypeVar("R", bound=Sequence[Any])

QUEUED: Final = "queued"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"
UNKNOWN: Final = "unknown"
EXPIRED: Final = "expired"
#: Every state a row can be in, in lifecycle order.
STATES: Final = (QUEUED, SENDING, SENT, FAILED, UNKNOWN, EXPIRED)
#: Rows still waiting for delivery (claimable once due); retention never touches them.
WAITING: Final = (QUEUED, SENDING)
#: States a human may send back to ``queued`` (``mailcore outbox retry``).
RETRYABLE: Final = (QUEUED, FAILED, UNKNOWN)
#: Finished states whose content is kept for ``keep_failed_body`` (a human may look or retry).
PARKED: Final = (FAILED, UNKNOWN, EXPIRED)
#: States of rows that are finished (the metadata retention deletes these rows).
FINISHED: Final = (SENT, *PARKED)

#: The columns :func:`new_row` fills, in its order (``state`` is ``queued``, ``runs`` 0).
NEW_ROW_COLUMNS: Final = (
    "id", "message_id", "payload", "sender", "recipients", "subject", "created_at", "updated_at",
    "age_from", "due_at", "last_error", "priority", "expires_at", "idempotency_key",
)  # fmt: skip
#: What :meth:`Entry.from_row <mailcore.outbox.api.Entry.from_row>` reads, in its order.
SUMMARY_FIELDS: Final = (
    "id", "message_id", "state", "sender", "recipients", "subject", "runs", "created_at", "updated_at",
    "age_from", "due_at", "lease_owner", "last_error", "transport", "provider_message_id", "has_body",
    "priority", "expires_at",
)  # fmt: skip
#: :data:`SUMMARY_FIELDS` as an SQL select list (``has_body`` computed from the payload).
SUMMARY_SQL: Final = ", ".join("payload != ''" if name == "has_body" else name for name in SUMMARY_FIELDS)


def new_row(message: Message, now: float, due: float, last_error: str | None) -> tuple[Any, ...]:
    """A new ``queued`` row for ``message`` (a fresh id), valued as :data:`NEW_ROW_COLUMNS`;
    its last value is the idempotency key (None: none)."""
    payload = json.dumps(message.to_dict(), ensure_ascii=False, separators=(",", ":"))
    recipients = ",".join(address.email for address in message.recipients)
    return (
        uuid4_hex(), message.message_id, payload, message.from_email.email, recipients,
        message.subject, now, now, now, due, last_error,
        priority_rank(message.priority), expires_at(message), message.idempotency_key,
    )  # fmt: skip


def check_retry_state(state: str | None) -> None:
    """Refuse a ``retry`` of a state that cannot go back to ``queued`` (None: ids only)."""
    if state is not None and state not in RETRYABLE:
        raise ValueError(f"only {', '.join(RETRYABLE)} entries can be retried, not {state!r}")


def check_purge_state(state: str) -> None:
    """Refuse a ``purge`` of a state no row can be in."""
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; choose one of {', '.join(STATES)}")


def state_counts(rows: Iterable[tuple[str, Any]]) -> dict[str, int]:
    """``(state, count)`` rows as a count per state: every state present, zero when empty."""
    counts = dict.fromkeys(STATES, 0)
    counts.update({state: int(count) for state, count in rows})
    return counts


def pick_match(rows: Sequence[R], key: str) -> R:
    """The row ``find`` answers from up to two candidates matching ``key`` (an exact id wins);
    :class:`KeyError` when none, or when a prefix matches several."""
    if not rows:
        raise KeyError(f"no outbox entry {key!r}")
    exact = [row for row in rows if row[0] == key]
    if len(rows) > 1 and not exact:
        raise KeyError(f"{key!r} matches several entries; give more of the id")
    return exact[0] if exact else rows[0]


def stored_message(payload: str | None, id: str) -> Message:
    """The message of row ``id`` from its stored payload (None: no such row; empty: the
    retention rule dropped it, both a :class:`KeyError`)."""
    if payload is None:
        raise KeyError(f"no outbox entry {id!r}")
    if not payload:
        raise KeyError(f"the content of outbox entry {id!r} was dropped by the retention rule")
    return Message.from_dict(json.loads(payload))


def drops_body(retention: Retention, drop_body: bool | None) -> bool:
    """Whether ``mark_sent`` drops the content in the same write: ``drop_body`` when given,
    else what the retention says (``keep_sent_body=0``)."""
    return retention.drops_sent_body_at_once if drop_body is None else drop_body


def content_drops(rule: Retention) -> list[tuple[tuple[str, ...], float]]:
    """(states, seconds to keep content) for each group of finished rows whose content the
    retention drops: sent rows after ``sent_body``, parked ones after ``failed_body``."""
    groups = (((SENT,), rule.sent_body), (PARKED, rule.failed_body))
    return [(states, keep) for states, keep in groups if keep is not None]


def split_expired(rows: Iterable[R], now: float, column: int) -> tuple[list[R], list[R]]:
    """Claimed rows split into (expired, live) by their ``expires_at`` at index ``column``: a
    row claimed at or after its expiry is never sent."""
    expired: list[R] = []
    live: list[R] = []
    for row in rows:
        (expired if row[column] is not None and now >= row[column] else live).append(row)
    return expired, live


def like_prefix(text: str) -> str:
    """A ``LIKE`` pattern (backslash escapes) matching what starts with ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class ParkingMarks:
    """``mark_failed``/``mark_expired``/``mark_unknown`` for a store: each parks a row its
    ``owner`` still holds in one finished state with the reason, through the store's
    ``_finish`` (which changes the row only while ``owner`` holds its lease)."""

    def mark_failed(self, owner: str, id: str, reason: str) -> None:
        """Park a row for good: a permanent failure, with its reason."""
        self._finish(owner, id, FAILED, reason)

    def mark_expired(self, owner: str, id: str, reason: str) -> None:
        """Park a row whose message expired (``Message.expires``) before it was delivered; it is
        never sent."""
        self._finish(owner, id, EXPIRED, reason)

    def mark_unknown(self, owner: str, id: str, reason: str) -> None:
        """Park a row whose last attempt may have been delivered; a human decides (retry or purge)."""
        self._finish(owner, id, UNKNOWN, reason)

    def _finish(self, owner: str, id: str, state: str, reason: str) -> None:
        """Move row ``id`` to ``state`` with ``reason`` as its last error, lease cleared, only
        while ``owner`` holds it."""
        raise NotImplementedError
