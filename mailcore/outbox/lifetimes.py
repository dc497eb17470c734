"""Message lifetimes shared by every queue backend: claim order, expiry, idempotency window.

Pure functions and constants, no I/O, so the SQLite, PostgreSQL, Django and Celery backends
order, expire and deduplicate the same way:

- **priority with aging** — a queue claims in ascending ``due_at + rank * aging`` where
  ``rank`` is :data:`PRIORITY_RANK` of the message's priority. A high message due now beats a
  normal one due now, but a low message due ``2 * aging`` seconds ago beats a high one due now:
  waiting ages a message up, so a steady stream of high mail never starves low mail.
- **expiry** — a message claimed at or after its ``expires_at`` is never sent; it ends in the
  ``expired`` state with :func:`expiry_reason`.
- **idempotency** — a key seen within :data:`IDEMPOTENCY_WINDOW` seconds returns the first
  message's id or result instead of a second copy.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mailcore.errors import ConfigurationError

if TYPE_CHECKING:
    from mailcore.message import Message

__all__ = [
    "DEFAULT_AGING",
    "IDEMPOTENCY_WINDOW",
    "PRIORITY_RANK",
    "check_aging",
    "check_window",
    "claim_key",
    "expires_at",
    "expiry_reason",
    "is_expired",
    "priority_rank",
]

#: Rank of each priority in the claim order (lower is claimed first).
PRIORITY_RANK: dict[str, int] = {"high": 0, "normal": 1, "low": 2}
#: Seconds one rank step is worth in the claim order (``?aging=`` on an outbox URL changes it).
DEFAULT_AGING = 300.0
#: Default seconds an idempotency key is remembered.
IDEMPOTENCY_WINDOW = 86400.0


def priority_rank(priority: str) -> int:
    """The rank of a priority name; an unknown name ranks as ``normal`` (safe for old rows)."""
    return PRIORITY_RANK.get(priority, PRIORITY_RANK["normal"])


def claim_key(due_at: float, rank: int, aging: float = DEFAULT_AGING) -> float:
    """The value a queue claims in ascending order: ``due_at + rank * aging``."""
    return due_at + rank * aging


def expires_at(message: Message) -> float | None:
    """The message's expiry as epoch seconds, or None when it never expires."""
    return message.expires.timestamp() if message.expires is not None else None


def is_expired(expires_at: float | None, now: float) -> bool:
    """True when a message with this expiry must not be sent (or retried) at ``now``."""
    return expires_at is not None and now >= expires_at


def expiry_reason(expires_at: float) -> str:
    """The ``last_error`` text of an expired message, e.g. ``expired at 2026-11-30T22:10:00Z before delivery``."""
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"expired at {when} before delivery"


def check_aging(value: object, where: str = "aging") -> float:
    """A configured aging value in seconds: a finite number >= 0 (0 ignores priority: due order only; larger values let priority count for more)."""
    return _non_negative_seconds(value, where, "e.g. ?aging=300 on the outbox URL; 0 ignores priority")


def check_window(value: object, where: str = "idempotency window") -> float:
    """A configured idempotency window in seconds: a finite number > 0."""
    seconds = _non_negative_seconds(value, where, "e.g. 86400 for a day")
    if seconds == 0:
        raise ConfigurationError(f"{where}: must be more than 0 seconds (e.g. 86400 for a day)")
    return seconds


def _non_negative_seconds(value: object, where: str, hint: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]  # anything float() takes; refused below otherwise
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: {value!r} is not a number of seconds ({hint})") from None
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(f"{where}: {value!r} must be a finite number of seconds >= 0 ({hint})")
    return seconds
