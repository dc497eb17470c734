"""Where the outbox lives: ``sqlite:///path`` URLs and the default per-user location.

URLs follow SQLAlchemy's convention, so they read the same as a database URL elsewhere in an
application: ``sqlite:///relative/outbox.sqlite3`` (three slashes, relative to the working
directory) and ``sqlite:////var/lib/mailcore/outbox.sqlite3`` (four slashes, absolute). A plain
file path is accepted too. With no URL at all the outbox is the per-user data file
(``$XDG_DATA_HOME/mailcore/outbox.sqlite3``, by default ``~/.local/share/mailcore/outbox.sqlite3``;
``%LOCALAPPDATA%\\mailcore`` on Windows, ``~/Library/Application Support/mailcore`` on macOS).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from urllib.parse import parse_qsl

from mailcore.errors import ConfigurationError

__all__ = ["OUTBOX_ENV", "default_outbox_path", "outbox_params", "outbox_path", "resolve_outbox_url"]

#: Environment variable naming the outbox (``sqlite:///path``).
OUTBOX_ENV = "MAILCORE_OUTBOX"
_FILE_NAME = "outbox.sqlite3"
_PREFIX = "sqlite:///"


def default_outbox_path(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user outbox file used when neither ``outbox=`` nor ``MAILCORE_OUTBOX`` is set."""
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    if platform.startswith("win"):
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "mailcore" / _FILE_NAME


def resolve_outbox_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The outbox URL in force: ``url``, else ``MAILCORE_OUTBOX``, else the default file."""
    env = os.environ if environ is None else environ
    chosen = (url or env.get(OUTBOX_ENV, "")).strip()
    if chosen:
        return chosen
    return _PREFIX + str(default_outbox_path(env))


def outbox_path(url: str) -> Path:
    """The database file named by ``url`` (``sqlite:///path``, ``sqlite:////abs`` or a path)."""
    text = url.strip()
    if text.startswith(_PREFIX):
        raw = text[len(_PREFIX) :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise ConfigurationError(
            f"unsupported outbox URL scheme {scheme!r}; use sqlite:///relative/path or "
            "sqlite:////absolute/path (for Celery, pass queue='celery' instead)"
        )
    else:
        raw = text
    raw = raw.split("?", 1)[0]
    if not raw or raw == ":memory:":
        raise ConfigurationError(f"outbox URL {url!r} names no file; an in-memory outbox would lose messages on exit")
    return Path(raw).expanduser()


def outbox_params(url: str, known: Collection[str]) -> dict[str, str]:
    """The query parameters of an outbox URL (``sqlite:///path?keep_metadata=90d``).

    Every name must be in ``known``: a misspelt setting is an error, not silently ignored.
    """
    _, _, query = url.strip().partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigurationError(f"outbox URL query {query!r} is not name=value pairs joined by &") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            raise ConfigurationError(
                f"unknown outbox URL parameter {name!r}; known: {', '.join(sorted(known))} (see docs/operations.md)"
            )
        if name in params:
            raise ConfigurationError(f"outbox URL parameter {name!r} is given twice")
        params[name] = value
    return params
