"""The suppression list: addresses mailcore refuses to mail, with why, since when and from where.

Stored beside the outbox (table ``suppressions`` of a SQLite outbox file, ``mailcore_suppressions``
of a PostgreSQL outbox; see :mod:`mailcore.outbox.events`). Fed by
the event handler (hard bounces, complaints, unsubscribes, provider drops) and by hand
(``mailcore suppressions add|remove|import``); read by the suppression policy layer
(:mod:`mailcore.policy.suppress`) before every attempt.

An entry's *scope* says what it blocks:

* ``*`` — all mail to the address (hard bounces, complaints, manual entries);
* a category — only messages carrying that tag (an unsubscribe from ``newsletter``);
* ``provider:<name>`` — only that provider refuses the address (its own suppression list):
  the policy routes the message to another provider instead.

CSV (import/export) has the columns ``address,scope,reason,source,detail,created_at``; on import
only ``address`` is required (a header row is required too), the rest default to ``*``,
``manual``, ``import``, empty and now.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from mailcore.addresses import parse_address
from mailcore.errors import InvalidMessage
from mailcore.outbox.events import ALL, Suppression
from mailcore.outbox.eventsql import EventStore, Tx, event_db

__all__ = [
    "CSV_COLUMNS",
    "REASONS",
    "CsvProblem",
    "add",
    "export_csv",
    "lookup",
    "normalize_address",
    "parse_csv",
    "remove",
    "suppressions",
]

#: Why an address is on the list.
REASONS: Final = ("hard_bounce", "complaint", "unsubscribe", "provider", "manual")
CSV_COLUMNS: Final = ("address", "scope", "reason", "source", "detail", "created_at")
_COLUMNS: Final = "address, scope, reason, source, detail, created_at"


def normalize_address(text: str, where: str = "address") -> str:
    """The bare, lower-cased address in ``text`` (``Ann <Ann@Example.org>`` → ``ann@example.org``).

    :raises InvalidMessage: naming ``where`` when it is not one valid address.
    """
    return parse_address(text, where).email.strip().lower()


def check_scope(scope: str) -> str:
    """``*``, a category, or ``provider:<name>``: non-empty, no commas, spaces or control characters."""
    text = scope.strip()
    if not text or any(c in text for c in ", \t\r\n") or not text.isprintable():
        raise InvalidMessage("scope", f"{scope!r} is not a scope: use '*', a category (a message tag) or provider:NAME")
    return text


def add(
    outbox: EventStore,
    entries: Iterable[Suppression],
    *,
    replace: bool = False,
) -> int:
    """Add entries in one transaction; return how many were new (with ``replace``: new or
    replaced).

    An (address, scope) already listed keeps its first reason and time unless ``replace``.
    """
    rows = [(e.address, e.scope, e.reason, e.source, e.detail, e.created_at) for e in entries]
    if not rows:
        return 0
    conflict = (
        "DO UPDATE SET reason = excluded.reason, source = excluded.source, detail = excluded.detail, "
        "created_at = excluded.created_at"
        if replace
        else "DO NOTHING"
    )
    sql = f"INSERT INTO {{suppressions}} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (address, scope) {conflict}"  # noqa: S608
    return event_db(outbox).write(lambda tx: tx.many(sql, rows), durable=True)


def entry(address: str, *, scope: str = ALL, reason: str, source: str, detail: str | None = None) -> Suppression:
    """A validated entry stamped now."""
    if reason not in REASONS:
        raise InvalidMessage("reason", f"{reason!r} is not one of {', '.join(REASONS)}")
    return Suppression(normalize_address(address), check_scope(scope), reason, source, detail, time.time())


def remove(outbox: EventStore, address: str, *, scope: str | None = None) -> int:
    """Remove ``address`` (every scope, or only ``scope``); return how many entries went."""
    key = normalize_address(address)

    def delete(tx: Tx) -> int:
        if scope is None:
            return tx.run("DELETE FROM {suppressions} WHERE address = ?", (key,))
        return tx.run("DELETE FROM {suppressions} WHERE address = ? AND scope = ?", (key, scope))

    return event_db(outbox).write(delete, durable=True)


def suppressions(outbox: EventStore, *, address: str | None = None, limit: int | None = None) -> list[Suppression]:
    """Entries, newest first; only ``address``'s when given."""
    where, args = ("WHERE address = ?", [normalize_address(address)]) if address else ("", [])
    tail = " LIMIT ?" if limit is not None else ""
    sql = f"SELECT {_COLUMNS} FROM {{suppressions}} {where} ORDER BY created_at DESC, address{tail}"  # noqa: S608
    values = (*args, *([limit] if limit is not None else []))
    return [Suppression(*row) for row in event_db(outbox).read(lambda tx: tx.rows(sql, values))]


def lookup(outbox: EventStore, addresses: Sequence[str]) -> dict[str, list[Suppression]]:
    """The entries of each of ``addresses`` (lower-cased keys), for the policy layer; one query."""
    keys = sorted({a.strip().lower() for a in addresses})
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    sql = f"SELECT {_COLUMNS} FROM {{suppressions}} WHERE address IN ({marks})"  # noqa: S608 - placeholders only
    found: dict[str, list[Suppression]] = {}
    for row in event_db(outbox).read(lambda tx: tx.rows(sql, keys)):
        found.setdefault(row[0], []).append(Suppression(*row))
    return found


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """A CSV line that could not be imported: its line number and what is wrong."""

    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


def parse_csv(stream: TextIO, *, source: str = "import") -> tuple[list[Suppression], list[CsvProblem]]:
    """Read suppression entries from CSV with a header row; return (entries, problems).

    Every line is checked; nothing is half-imported by the caller when ``problems`` is not empty.
    Unknown columns are a problem (a misspelt ``adress`` must not import nothing silently).
    """
    text = stream.read()
    try:
        return _parse(io.StringIO(text, newline=""), source)
    except csv.Error as error:
        return [], [CsvProblem(0, f"not CSV: {error}")]


def _parse(stream: TextIO, source: str) -> tuple[list[Suppression], list[CsvProblem]]:
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "address" not in header:
        return [], [CsvProblem(1, f"the header row must name an 'address' column (columns: {', '.join(CSV_COLUMNS)})")]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        return [], [CsvProblem(1, f"unknown column(s) {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}")]
    reader.fieldnames = header
    entries: list[Suppression] = []
    problems: list[CsvProblem] = []
    now = time.time()
    for row in reader:
        line = reader.line_num
        try:
            entries.append(_csv_entry(row, source, now))
        except InvalidMessage as error:
            problems.append(CsvProblem(line, str(error)))
        except ValueError as error:
            problems.append(CsvProblem(line, str(error)))
    return entries, problems


def _csv_entry(row: dict[str, str | None], source: str, now: float) -> Suppression:
    def get(name: str) -> str:
        return (row.get(name) or "").strip()

    reason = get("reason") or "manual"
    if reason not in REASONS:
        raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
    created = get("created_at")
    try:
        created_at = float(created) if created else now
    except ValueError:
        raise ValueError(f"created_at {created!r} is not Unix seconds") from None
    return Suppression(
        normalize_address(get("address")),
        check_scope(get("scope") or ALL),
        reason,
        get("source") or source,
        get("detail") or None,
        created_at,
    )


def export_csv(entries: Iterable[Suppression]) -> Iterator[str]:
    """CSV text of ``entries`` (header first), one line at a time; what :func:`parse_csv` reads."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)  # CR in a detail stays inside quotes
    yield ",".join(CSV_COLUMNS) + "\n"
    for item in entries:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            [item.address, item.scope, item.reason, item.source, item.detail or "", f"{item.created_at:.3f}"]
        )
        yield buffer.getvalue()
