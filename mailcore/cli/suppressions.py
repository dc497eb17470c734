"""``mailcore suppressions``: the list of addresses mailcore refuses to mail (list, add, remove,
import, export). Stored beside the outbox, in a SQLite outbox file, a PostgreSQL outbox
database or Django's database (``--outbox django://ALIAS``, ``DJANGO_SETTINGS_MODULE`` set); see
docs/events.md#suppression-list.

Exit status: 0 done; 1 nothing to remove, a bad CSV (nothing imported) or no outbox; 2 usage
errors (an invalid address is a usage error: the command line was wrong).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

import click
from rich.markup import escape
from rich.table import Table

from mailcore.cli.outbox import _console, _open_event_store, outbox_option
from mailcore.errors import ConfigurationError, InvalidMessage
from mailcore.outbox import suppressions as store
from mailcore.outbox.eventsql import EventStore
from mailcore.outbox.location import outbox_path, resolve_outbox_url
from mailcore.outbox.queue import queue_scheme
from mailcore.outbox.store import open_outbox
from mailcore.redact import printable

#: Reasons a human may give (the others come from provider events).
_MANUAL_REASONS = ("manual", "hard_bounce", "complaint", "unsubscribe")


@click.group("suppressions")
def command() -> None:
    """The suppression list: addresses not to mail (hard bounces, complaints, unsubscribes)."""


@command.command("list")
@outbox_option
@click.option("--address", help="Only this address.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (a list of entries).")
def list_command(url: str | None, address: str | None, limit: int | None, as_json: bool) -> None:
    """List entries, newest first."""
    with _open_event_store(url) as outbox:
        entries = store.suppressions(outbox, address=_address(address, "--address") if address else None, limit=limit)
    if as_json:
        click.echo(json.dumps([entry.as_dict() for entry in entries], indent=2))
        return
    table = Table(title=f"suppressions ({len(entries)} shown)")
    for column in ("address", "scope", "reason", "source", "since", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            *(escape(printable(v)) for v in (entry.address, entry.scope, entry.reason, entry.source)),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at)),
            escape(printable(entry.detail or "")),
        )
    _console().print(table)


@command.command("add")
@outbox_option
@click.argument("addresses", nargs=-1, required=True)
@click.option("--scope", default="*", show_default=True, help="'*' for all mail, or a category (a message tag).")
@click.option("--reason", type=click.Choice(_MANUAL_REASONS), default="manual", show_default=True)
@click.option("--detail", help="A note kept with the entry.")
def add_command(url: str | None, addresses: tuple[str, ...], scope: str, reason: str, detail: str | None) -> None:
    """Add addresses (an address already listed for the scope keeps its entry)."""
    entries = []
    for index, address in enumerate(addresses):
        try:
            entries.append(store.entry(address, scope=scope, reason=reason, source="cli", detail=detail))
        except InvalidMessage as error:
            raise click.BadParameter(printable(str(error)), param_hint=f"ADDRESSES[{index}]") from None
    with _open_or_create(url) as outbox:
        added = store.add(outbox, entries)
    click.echo(f"{added} added, {len(entries) - added} already listed")


@command.command("remove")
@outbox_option
@click.argument("addresses", nargs=-1, required=True)
@click.option("--scope", help="Only the entry of this scope (default: every scope).")
def remove_command(url: str | None, addresses: tuple[str, ...], scope: str | None) -> None:
    """Remove addresses from the list (they are mailed again)."""
    keys = [_address(address, f"ADDRESSES[{i}]") for i, address in enumerate(addresses)]
    with _open_event_store(url) as outbox:
        removed = sum(store.remove(outbox, key, scope=scope) for key in keys)
    click.echo(f"{removed} entr{'y' if removed == 1 else 'ies'} removed")
    if not removed:
        sys.exit(1)


@command.command("import")
@outbox_option
@click.argument("source", type=click.File("r", encoding="utf-8-sig"))
@click.option("--replace", is_flag=True, help="Overwrite entries already listed for the same address and scope.")
def import_command(url: str | None, source: TextIO, replace: bool) -> None:
    """Import a CSV file ('-' for stdin) with a header row naming at least 'address'.

    Columns: address, scope, reason, source, detail, created_at (what `export` writes). Every
    line is checked first: one bad line imports nothing and lists each problem.
    """
    name = str(getattr(source, "name", "-") or "-")
    name = "stdin" if name in ("-", "<stdin>") else Path(name).name
    entries, problems = store.parse_csv(source, source=f"import {name}")
    if problems:
        for problem in problems[:20]:
            click.echo(f"{name}: {printable(str(problem))}", err=True)
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise click.ClickException(f"{len(problems)} bad line(s){more}; nothing imported")
    with _open_or_create(url) as outbox:
        added = store.add(outbox, entries, replace=replace)
    click.echo(f"{added} imported, {len(entries) - added} already listed")


@command.command("export")
@outbox_option
@click.argument("target", type=click.File("w", encoding="utf-8"), default="-")
def export_command(url: str | None, target: TextIO) -> None:
    """Write the list as CSV to TARGET (default: stdout); `import` reads it back."""
    with _open_event_store(url) as outbox:
        entries = store.suppressions(outbox)
    for line in store.export_csv(entries):
        target.write(line)


def _address(text: str, where: str) -> str:
    try:
        return store.normalize_address(text, where)
    except InvalidMessage as error:
        raise click.BadParameter(printable(str(error)), param_hint=where) from None


def _open_or_create(url: str | None) -> EventStore:
    """Adding to the list may create a SQLite outbox file (the list lives in it). Any other
    outbox must exist: a PostgreSQL database without the current schema is an error that says
    to run ``mailcore outbox migrate``; a store without the list is an error naming what to use."""
    chosen = resolve_outbox_url(url)
    try:
        sqlite = queue_scheme(chosen) == "sqlite"
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None
    if not sqlite:
        return _open_event_store(chosen)
    outbox_path(chosen)  # a bad URL fails before anything is created
    return open_outbox(chosen)
