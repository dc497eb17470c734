"""How long the outbox keeps what: message content is dropped early, bookkeeping later.

A one-time password has no business sitting in a database file after it was delivered. The
outbox therefore keeps the three kinds of data for different times:

* the **content of a sent message** (body, subject, attachments, the full recipient list):
  ``keep_sent_body``, default ``0`` — dropped in the same write that marks the row ``sent``;
* the **content of a failed or unknown message** (kept so a human can ``retry`` it):
  ``keep_failed_body``, default 7 days after it failed;
* the **metadata** of a finished row (id, Message-ID, state, runs, times, sender, transport,
  provider id, last error, and the recipients as ``sha256:`` digests once the content is gone):
  ``keep_metadata``, default 30 days; then the row is deleted.

Configure it on the outbox URL (``sqlite:////var/lib/app/outbox.sqlite3?keep_metadata=90d``) or
with ``OutboxWorker(..., retention=Retention(...))``. Durations are seconds or ``30s``, ``15m``,
``12h``, ``7d``, ``2w``; ``forever`` keeps that kind of data until purged by hand.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mailcore.errors import ConfigurationError

__all__ = ["RETENTION_PARAMS", "Retention", "parse_duration", "recipient_digest"]

DAY = 86400.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
_FOREVER = ("forever", "never", "none")
#: Outbox URL query parameters that set the retention, and the Retention field each one sets.
RETENTION_PARAMS = {
    "keep_sent_body": "sent_body",
    "keep_failed_body": "failed_body",
    "keep_metadata": "metadata",
}


def parse_duration(text: str, *, name: str = "duration", allow_forever: bool = False) -> float | None:
    """Seconds in ``text`` (``90``, ``30s``, ``15m``, ``12h``, ``7d``, ``2w``); ``None`` for
    ``forever`` when ``allow_forever``. A :class:`ConfigurationError` names ``name`` otherwise."""
    value = text.strip().lower()
    if allow_forever and value in _FOREVER:
        return None
    match = _DURATION.fullmatch(value)
    if not match:
        hint = " or 'forever'" if allow_forever else ""
        raise ConfigurationError(f"{name}={text!r} is not a duration like 30m, 12h or 7d{hint}")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Retention:
    """Seconds each kind of outbox data is kept after a row finished; ``None`` keeps it forever.

    :param sent_body: content of ``sent`` rows (default 0: dropped as the row is marked sent).
    :param failed_body: content of ``failed`` and ``unknown`` rows (default 7 days, for retries).
    :param metadata: finished rows (``sent``/``failed``/``unknown``) are deleted after this
        (default 30 days). Rows still waiting are never touched.
    """

    sent_body: float | None = 0.0
    failed_body: float | None = 7 * DAY
    metadata: float | None = 30 * DAY

    def __post_init__(self) -> None:
        for field, value in (
            ("sent_body", self.sent_body),
            ("failed_body", self.failed_body),
            ("metadata", self.metadata),
        ):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(f"Retention {field} must be seconds >= 0 or None (forever), not {value!r}")

    @property
    def drops_sent_body_at_once(self) -> bool:
        """Whether marking a row ``sent`` also drops its content (``sent_body == 0``)."""
        return self.sent_body == 0

    @classmethod
    def from_params(cls, params: Mapping[str, str], base: Retention | None = None) -> Retention:
        """``base`` (default: the defaults) with the ``keep_*`` URL parameters in ``params`` applied."""
        base = base or cls()
        values = {
            "sent_body": base.sent_body,
            "failed_body": base.failed_body,
            "metadata": base.metadata,
        }
        for param, field in RETENTION_PARAMS.items():
            if param in params:
                values[field] = parse_duration(params[param], name=param, allow_forever=True)
        return cls(**values)

    def describe(self) -> str:
        """One line for logs and status output, e.g. ``sent content 0s, failed content 7d, rows 30d``."""
        return (
            f"sent content {_human(self.sent_body)}, failed content {_human(self.failed_body)}, "
            f"rows {_human(self.metadata)}"
        )


def recipient_digest(address: str) -> str:
    """The form a recipient is kept in once the content is dropped: ``sha256:`` + 16 hex digits
    of the lower-cased address. Compute it for an address to find its rows; it is a pseudonym,
    not encryption (anyone who guesses the address can compute it too)."""
    text = address.strip().lower()
    if not text or text.startswith("sha256:"):
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def digest_recipients(recipients: str) -> str:
    """The comma-separated recipients column with each address replaced by its digest."""
    return ",".join(recipient_digest(r) for r in recipients.split(",") if r)


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "forever"
    for unit, size in (("w", 7 * DAY), ("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
