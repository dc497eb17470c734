"""Open the outbox store an URL names: SQLite (``sqlite:///path``, a bare path) or PostgreSQL
(``postgresql://…``), and create or upgrade its schema (``mailcore outbox migrate``)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from mailcore.outbox.location import outbox_path, resolve_outbox_url
from mailcore.outbox.pgurl import SCHEMES as POSTGRES_SCHEMES
from mailcore.outbox.pgurl import masked_url

if TYPE_CHECKING:
    from mailcore.outbox.postgres import PostgresOutbox
    from mailcore.outbox.store import SQLiteOutbox

__all__ = ["is_postgres_url", "migrate_store", "open_store"]


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL outbox (``postgresql://`` or ``postgres://``)."""
    return url.strip().split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in url


def open_store(
    url: str | None = None, *, synchronous: str = "FULL", create: bool = True
) -> SQLiteOutbox | PostgresOutbox:
    """The store at ``url`` (else ``MAILCORE_OUTBOX``, else the per-user SQLite file).

    ``create=False`` (the inspecting CLI commands) never creates a schema: a PostgreSQL database
    without one is a ConfigurationError that says to run ``mailcore outbox migrate``.
    """
    chosen = resolve_outbox_url(url)
    if is_postgres_url(chosen):
        from mailcore.outbox.postgres import PostgresOutbox

        return PostgresOutbox(chosen, synchronous=synchronous, migrate=create)
    from mailcore.outbox.store import open_outbox

    return open_outbox(chosen, synchronous=synchronous)


def migrate_store(url: str | None = None) -> tuple[str, int, int]:
    """Create or upgrade the schema of the outbox at ``url``; return (where, version before,
    version after). Version 0 means there was no outbox. Safe to run again."""
    chosen = resolve_outbox_url(url)
    if is_postgres_url(chosen):
        from mailcore.outbox.postgres import PostgresOutbox

        with PostgresOutbox(chosen, migrate=False, check=False) as box:
            before, after = box.migrate()
        return masked_url(chosen), before, after
    path = outbox_path(chosen)
    before = _sqlite_version(path) if path.is_file() else 0
    from mailcore.outbox.store import open_outbox

    with open_outbox(chosen) as sqlite_box:
        after = _sqlite_version(sqlite_box.path)
    return str(sqlite_box.path), before, after


def _sqlite_version(path: object) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()
