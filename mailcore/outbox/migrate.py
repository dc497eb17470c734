"""``mailcore outbox migrate``: create or upgrade the schema of the outbox an URL names, a SQLite
file (``sqlite:///path``, a bare path) or a PostgreSQL database (``postgresql://…``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mailcore.errors import ConfigurationError
from mailcore.outbox.location import outbox_path, resolve_outbox_url
from mailcore.outbox.pgurl import masked_url
from mailcore.outbox.queue import queue_scheme

__all__ = ["migrate_store"]


def migrate_store(url: str | None = None) -> tuple[str, int, int]:
    """Create or upgrade the schema of the outbox at ``url`` (else ``MAILCORE_OUTBOX``, else the
    per-user file); return (where, version before, version after). Version 0 means there was no
    outbox. Safe to run again, and from several processes at once."""
    chosen = resolve_outbox_url(url)
    scheme = queue_scheme(chosen)
    if scheme in ("postgresql", "postgres"):
        from mailcore.outbox.postgres import PostgresOutbox

        with PostgresOutbox(chosen, migrate=False, check=False) as box:
            before, after = box.migrate()
        return masked_url(chosen), before, after
    if scheme != "sqlite":
        raise ConfigurationError(
            f"the {scheme!r} queue has no schema mailcore migrates (Django's outbox: python manage.py migrate)"
        )
    path = outbox_path(chosen)
    before = _sqlite_version(path) if path.is_file() else 0
    from mailcore.outbox.store import open_outbox

    with open_outbox(chosen) as box:
        where = box.path
    return str(where), before, _sqlite_version(where)


def _sqlite_version(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()
