"""``mailcore outbox``: inspect and manage the durable outbox (never prints message bodies)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextlib import closing

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailcore.errors import ConfigurationError
from mailcore.message import Message
from mailcore.outbox.api import Entry, OutboxStore
from mailcore.outbox.eventsql import EventStore, has_events, no_events_message
from mailcore.outbox.location import OUTBOX_ENV, outbox_path, resolve_outbox_url
from mailcore.outbox.migrate import migrate_store
from mailcore.outbox.queue import open_store, queue_scheme
from mailcore.outbox.retention import parse_duration
from mailcore.outbox.store import RETRYABLE, STATES, SQLiteOutbox
from mailcore.redact import printable

_STATE_STYLE = {
    "queued": "cyan",
    "sending": "blue",
    "sent": "green",
    "failed": "red",
    "unknown": "yellow",
    "expired": "magenta",
}

outbox_option = click.option(
    "--outbox",
    "url",
    envvar=OUTBOX_ENV,
    help=f"Outbox URL: sqlite:////absolute/path (four slashes), sqlite:///relative/path, "
    f"postgresql://user@host/db or another registered queue (default: ${OUTBOX_ENV}, else the per-user file).",
)
state_choice = click.Choice(STATES)


@click.group("outbox")
def command() -> None:
    """Inspect the outbox: list, show, retry, purge, stats; create or upgrade it: migrate."""


@command.command("migrate")
@outbox_option
def migrate_command(url: str | None) -> None:
    """Create or upgrade the outbox schema (a SQLite file or a PostgreSQL database); safe to rerun.

    Run it once per deployment before the workers start (they also migrate on start, but a
    database role for the application may lack the right to create tables).
    """
    where, before, after = migrate_store(url)
    if before == after:
        click.echo(f"outbox {where}: schema version {after}, up to date")
    elif before == 0:
        click.echo(f"outbox {where}: created, schema version {after}")
    else:
        click.echo(f"outbox {where}: migrated from schema version {before} to {after}")


@command.command("list")
@outbox_option
@click.option("--state", type=state_choice, help="Only entries in this state.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1), help="At most this many (newest first)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list of entries) instead of a table.")
def list_command(url: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """List entries with their state, recipients and last error (no bodies)."""
    with closing(_open(url)) as outbox:
        entries = outbox.entries(state=state, limit=limit)
    if as_json:
        click.echo(json.dumps([_summary(entry) for entry in entries], indent=2))
        return
    table = Table(title=f"outbox ({len(entries)} shown)", show_lines=False)
    for column in ("id", "state", "prio", "runs", "to", "created", "due / updated", "last error"):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis", no_wrap=column != "last error")
    for entry in entries:
        table.add_row(
            entry.id[:12],
            f"[{_STATE_STYLE.get(entry.state, 'white')}]{entry.state}[/]",
            entry.priority,
            str(entry.runs),
            escape(printable(_recipients(entry.recipients))),
            _when(entry.created_at),
            _when(entry.due_at if entry.state in ("queued", "sending") else entry.updated_at),
            escape(_short(printable(_unsettled_prefix(entry) + (entry.last_error or "")), 60)),
        )
    _console().print(table)


@command.command("show")
@outbox_option
@click.argument("entry_id")
def show_command(url: str | None, entry_id: str) -> None:
    """Show one entry's headers, metadata and last error (an id, id prefix or Message-ID)."""
    with closing(_open(url)) as outbox:
        entry = _find(outbox, entry_id)
        message = outbox.message(entry.id) if entry.has_body else None
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("id", entry.id),
        ("state", f"[{_STATE_STYLE.get(entry.state, 'white')}]{entry.state}[/]"),
        ("Message-ID", entry.message_id),
        ("priority", entry.priority),
        ("expires", _when(entry.expires_at) if entry.expires_at is not None else "never"),
        ("runs", str(entry.runs)),
        ("created", _when(entry.created_at)),
        ("updated", _when(entry.updated_at)),
    ]
    if entry.state in ("queued", "sending"):
        rows.append(("next try" if entry.state == "queued" else "lease until", _when(entry.due_at)))
    if entry.lease_owner:
        rows.append(("worker", entry.lease_owner))
    rows += _content_rows(message) if message is not None else _metadata_rows(entry)
    if entry.transport:
        rows.append(
            ("sent via", entry.transport + (f" ({entry.provider_message_id})" if entry.provider_message_id else ""))
        )
    rows.append(("last error", entry.last_error or "-"))
    for name, value in rows:
        # stored values came from users and providers: control characters are escaped, not sent
        table.add_row(escape(printable(name)), value if name == "state" else escape(printable(value)))
    _console().print(table)


@command.command("retry")
@outbox_option
@click.argument("entry_ids", nargs=-1)
@click.option("--state", type=click.Choice(RETRYABLE), help="Retry every entry in this state.")
def retry_command(url: str | None, entry_ids: tuple[str, ...], state: str | None) -> None:
    """Make entries due now: by id, or all in --state failed|unknown|queued.

    Retrying an `unknown` entry may deliver it twice (its last attempt may have gone through).
    """
    if not entry_ids and state is None:
        raise click.UsageError("give entry ids or --state")
    with closing(_open(url)) as outbox:
        ids = [_find(outbox, key).id for key in entry_ids]
        changed = outbox.retry(ids=ids, state=state)
    click.echo(f"{changed} entr{'y' if changed == 1 else 'ies'} queued for delivery")


@command.command("purge")
@outbox_option
@click.option("--state", type=state_choice, required=True, help="Delete entries in this state.")
@click.option(
    "--older-than", default="0", show_default=True, help="Only entries last changed before this age: 30m, 12h, 7d."
)
@click.option("--yes", is_flag=True, help="Needed to purge queued or sending entries (undelivered mail).")
def purge_command(url: str | None, state: str, older_than: str, yes: bool) -> None:
    """Delete entries of one state (e.g. sent ones older than 7d)."""
    if state in ("queued", "sending") and not yes:
        raise click.UsageError(f"{state} entries have not been delivered; add --yes to delete them anyway")
    with closing(_open(url)) as outbox:
        deleted = outbox.purge(state=state, older_than=_seconds(older_than))
    click.echo(f"{deleted} {state} entr{'y' if deleted == 1 else 'ies'} deleted")


@command.command("stats")
@outbox_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for monitoring).")
def stats_command(url: str | None, as_json: bool) -> None:
    """Counts by state and the age of the oldest undelivered message (what to watch)."""
    with closing(_open(url)) as outbox:
        counts = outbox.counts()
        oldest = outbox.oldest_due()
        path = str(getattr(outbox, "path", None) or outbox.url)
    age = None if oldest is None else round(time.time() - oldest, 1)
    if as_json:
        click.echo(json.dumps({"outbox": path, "counts": counts, "oldest_waiting_seconds": age}))
        return
    click.echo(f"outbox: {path}")
    table = Table()
    table.add_column("state")
    table.add_column("count", justify="right")
    for state, count in counts.items():
        table.add_row(f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]", str(count))
    _console().print(table)
    click.echo(f"oldest waiting: {'-' if age is None else _age(age)}")


# -- helpers ---------------------------------------------------------------------------------------


def _console() -> Console:
    """Rich output; wide when piped (logs, grep) so rows are not wrapped mid-field."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _open_event_store(url: str | None) -> EventStore:
    """:func:`_open` for the commands whose data is kept beside the outbox (delivery events,
    ``mailcore status``, the suppression list): a SQLite or PostgreSQL outbox, or the
    Django-database outbox on SQLite or PostgreSQL. A store without them (Celery, another
    database) is a clear error (exit 1) naming what to use instead."""
    outbox = _open(url)
    if has_events(outbox):
        return outbox
    where = str(getattr(outbox, "url", None) or type(outbox).__name__)
    outbox.close()
    raise click.ClickException(no_events_message(where))


def _where(outbox: EventStore) -> str:
    """The outbox as the user named it: the SQLite file's path, the database URL (password masked)."""
    return str(outbox.path) if isinstance(outbox, SQLiteOutbox) else outbox.url


def _open(url: str | None) -> OutboxStore:
    """Open an outbox that exists; never create one (only enqueue, the worker and migrate do).

    An inspecting command on a mistyped path must not report an empty, healthy outbox it has
    just created: it fails (exit 1) naming the path it looked at. A PostgreSQL database without
    the outbox schema is an error that says to run ``mailcore outbox migrate``.
    """
    chosen = resolve_outbox_url(url)
    try:
        scheme = queue_scheme(chosen)
        if scheme in ("postgresql", "postgres"):
            from mailcore.outbox.postgres import PostgresOutbox

            return PostgresOutbox(chosen, migrate=False)  # no schema: "run mailcore outbox migrate"
        if scheme != "sqlite":
            return open_store(chosen)
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    path = outbox_path(chosen)
    if not path.is_file():
        hint = " (three slashes make a relative path: absolute paths take four, sqlite:////var/…)"
        relative = chosen.startswith("sqlite:///") and not path.is_absolute()
        raise click.ClickException(
            f"no outbox at {path}: nothing was created; check --outbox or ${OUTBOX_ENV}" + (hint if relative else "")
        )
    return open_store(chosen)


class NoSuchMessage(click.ClickException):
    """``outbox show``/``retry`` with an id that names no entry (exit 1, one line)."""


def _find(outbox: OutboxStore, key: str) -> Entry:
    try:
        return outbox.find(key)
    except KeyError as error:
        text = str(error.args[0])
        raise NoSuchMessage(text.replace("no outbox entry", "no such message:", 1)) from None


def _summary(entry: Entry) -> dict[str, object]:
    return {
        "id": entry.id,
        "state": entry.state,
        "message_id": entry.message_id,
        "runs": entry.runs,
        "priority": entry.priority,
        "expires_at": entry.expires_at,
        "recipients": len(entry.recipients),
        "created_at": entry.created_at,
        "due_at": entry.due_at,
        "updated_at": entry.updated_at,
        "last_error": entry.last_error,
        "transport": entry.transport,
        "unsettled": _unsettled(entry),
    }


def _unsettled(entry: Entry) -> bool:
    """An ``unknown`` row no provider event settled within the window: probably not delivered
    (``mailcore status`` says more)."""
    from mailcore.outbox.timeline import SETTLE_WINDOW

    return entry.state == "unknown" and time.time() - entry.updated_at >= SETTLE_WINDOW


def _unsettled_prefix(entry: Entry) -> str:
    return "no provider event within 1h: probably not delivered; " if _unsettled(entry) else ""


def _recipients(recipients: Iterable[str]) -> str:
    items = list(recipients)
    if not items:
        return "-"
    return items[0] + (f" +{len(items) - 1}" if len(items) > 1 else "")


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _content_rows(message: Message) -> list[tuple[str, str]]:
    rows = [
        ("From", str(message.from_email)),
        ("To", ", ".join(str(a) for a in message.to) or "-"),
        ("Cc", ", ".join(str(a) for a in message.cc) or "-"),
        ("Bcc", f"{len(message.bcc)} address(es)" if message.bcc else "-"),
        ("Subject", message.subject),
    ]
    rows += [(name, value) for name, value in message.headers.items()]
    return [
        *rows,
        ("tags", ", ".join(message.tags) or "-"),
        ("metadata", ", ".join(f"{k}={v}" for k, v in message.metadata.items()) or "-"),
        ("body", _body_sizes(message.text, message.html, message.template_id)),
        ("attachments", ", ".join(f"{a.filename} ({len(a.content)} B)" for a in message.attachments) or "-"),
    ]


def _metadata_rows(entry: Entry) -> list[tuple[str, str]]:
    """What is left of a row whose content the retention rule dropped."""
    return [
        ("From", entry.sender),
        ("recipients", f"{len(entry.recipients)} (kept as digests: {', '.join(entry.recipients)})"),
        ("content", "dropped by the retention rule (see docs/operations.md#retention)"),
    ]


def _body_sizes(text: str | None, html: str | None, template_id: str | None) -> str:
    parts = [
        f"text {len(text)} chars" if text is not None else "",
        f"html {len(html)} chars" if html is not None else "",
    ]
    if template_id:
        parts.append(f"template {template_id}")
    return ", ".join(p for p in parts if p) or "-"


def _seconds(text: str) -> float:
    try:
        seconds = parse_duration(text, name="--older-than")
    except ConfigurationError:
        seconds = None
    if seconds is None:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 12h or 7d", param_hint="--older-than")
    return seconds
