"""``postgresql://`` outbox URLs: what goes to libpq, what mailcore reads, and a masked form.

``postgresql://user:password@host:5432/dbname?keep_metadata=90d&statement_timeout=30s``

* user, password, host, port and database name become psycopg connection arguments (an empty
  password or user leaves them to libpq: ``PGPASSWORD``, ``~/.pgpass``, the OS user);
* ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey``, ``sslcrl``, ``application_name``,
  ``target_session_attrs``, ``passfile`` and ``host`` (a Unix socket directory) go to libpq too;
* the retention (``keep_sent_body``, ``keep_failed_body``, ``keep_metadata``), the waits
  (``connect_timeout``, ``statement_timeout``, ``lock_timeout``), ``idempotency_window``, ``aging`` and ``synchronous`` are
  mailcore's; any other name is an error that lists the known ones.

The password never appears in :func:`masked_url` (what reprs, logs and errors show).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from mailcore.errors import ConfigurationError
from mailcore.outbox.retention import RETENTION_PARAMS
from mailcore.redact import MASK, Secret

__all__ = ["SCHEMES", "PostgresURL", "masked_url", "parse_postgres_url"]

SCHEMES: Final = ("postgresql", "postgres")
#: Query parameters handed to libpq unchanged.
LIBPQ_PARAMS: Final = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "application_name",
    "target_session_attrs",
    "passfile",
    "host",
)
#: Query parameters mailcore reads (besides the retention ones).
STORE_PARAMS: Final = (
    "connect_timeout",
    "statement_timeout",
    "lock_timeout",
    "idempotency_window",
    "aging",
    "synchronous",
)


@dataclass(frozen=True)
class PostgresURL:
    """A parsed outbox URL: ``connect`` for psycopg (password as a :class:`Secret`), ``params``
    for mailcore, and ``display`` (the URL with the password masked)."""

    connect: Mapping[str, str]
    password: Secret | None
    params: Mapping[str, str]
    display: str
    database: str = field(default="")


def parse_postgres_url(url: str) -> PostgresURL:
    """Split ``url`` into connection arguments and mailcore parameters (see the module docs)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"outbox URL {masked_url(text)} is not a valid URL: {error}") from None
    if parts.scheme not in SCHEMES:
        raise ConfigurationError(
            f"a PostgreSQL outbox URL starts with postgresql://, not {parts.scheme or '(none)'}://"
        )
    known = (*RETENTION_PARAMS, *STORE_PARAMS, *LIBPQ_PARAMS)
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ConfigurationError("outbox URL query is not name=value pairs joined by &") from None
    connect: dict[str, str] = {}
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            raise ConfigurationError(
                f"unknown PostgreSQL outbox URL parameter {name!r}; known: {', '.join(sorted(known))} "
                "(see docs/operations.md#the-postgresql-outbox)"
            )
        if name in connect or name in params:
            raise ConfigurationError(f"outbox URL parameter {name!r} is given twice")
        (connect if name in LIBPQ_PARAMS else params)[name] = value
    if parts.hostname:
        connect["host"] = unquote(parts.hostname)
    if port is not None:
        connect["port"] = str(port)
    if parts.username:
        connect["user"] = unquote(parts.username)
    database = unquote(parts.path.lstrip("/"))
    if database:
        connect["dbname"] = database
    password = Secret(unquote(parts.password)) if parts.password else None
    return PostgresURL(connect, password, params, masked_url(text), database)


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (and nothing else changed)."""
    try:
        parts = urlsplit(url.strip())
        if parts.password is None:
            return url.strip()
        user = quote(unquote(parts.username or ""), safe="")
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(an unparsable URL)"
    return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()
