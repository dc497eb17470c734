"""``mailcore status``: a message's timeline — enqueued, delivery runs, accepted by which provider,
then per recipient what the providers reported (delivered, bounced, complained…).

Works on a SQLite or PostgreSQL outbox, and on the Django-database outbox (``--outbox
django://ALIAS`` with ``DJANGO_SETTINGS_MODULE`` set) when that database is SQLite or PostgreSQL.

Exit status: 0 when something is known about the key, 1 when nothing is (or no outbox), 2
for usage errors. The delivery state itself is in the output (``--json`` for scripts), not in
the exit status.
"""

from __future__ import annotations

import json
import time

import click
from rich.markup import escape
from rich.table import Table

from mailcore.cli.outbox import _console, _open_event_store, _where, outbox_option
from mailcore.outbox.suppressions import suppressions
from mailcore.outbox.timeline import MessageStatus, find_status
from mailcore.redact import printable

_STYLE = {
    "delivered": "green",
    "sent": "green",
    "accepted": "cyan",
    "deferred": "yellow",
    "unknown": "yellow",
    "failed": "red",
    "complained": "red",
    "dropped": "red",
    "rejected": "red",
}


@click.command("status")
@outbox_option
@click.argument("key")
@click.option("--address", "by_address", is_flag=True, help="KEY is a recipient address: every message sent to it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
def command(url: str | None, key: str, by_address: bool, as_json: bool) -> None:
    """Show what happened to a message: KEY is a Message-ID (or correlation id), an outbox id,
    a provider's message id, or a recipient address."""
    with _open_event_store(url) as outbox:
        statuses = find_status(outbox, key, address=by_address)
        listed = suppressions(outbox, address=key) if _looks_like_address(key) else []
    if not statuses and not listed:
        raise click.ClickException(f"nothing known about {printable(key)!r} in {_where(outbox)}")
    if as_json:
        document = {
            "key": key,
            "messages": [status.as_dict() for status in statuses],
            "suppressions": [entry.as_dict() for entry in listed],
        }
        click.echo(json.dumps(document, indent=2))
        return
    console = _console()
    for status in statuses:
        _print_status(console, status)
    for entry in listed:
        scope = "all mail" if entry.scope == "*" else entry.scope
        line = f"suppressed for {scope}: {entry.reason} ({entry.source}, {_when(entry.created_at)})"
        console.print(f"[red]{escape(printable(line))}[/]")


def _looks_like_address(key: str) -> bool:
    text = key.strip()
    return "@" in text and not text.startswith("<") and " " not in text


def _print_status(console: object, status: MessageStatus) -> None:
    title = status.message_id or (status.entry.message_id if status.entry else "(no Message-ID)")
    table = Table(title=escape(printable(f"message {title}")), title_justify="left")
    for column in ("when", "what", "provider", "recipient", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column in ("when", "what"))
    for item in status.items:
        style = _STYLE.get(item.what.split(" ", 1)[0])
        what = escape(printable(item.what))
        table.add_row(
            _when(item.at),
            f"[{style}]{what}[/]" if style else what,
            escape(printable(item.provider or "")),
            escape(printable(item.recipient or "")),
            escape(printable(item.detail or "")),
        )
    console.print(table)  # type: ignore[attr-defined]
    if status.recipients:
        states = ", ".join(f"{r}: {s}" for r, s in status.recipients.items())
        console.print(escape(printable(f"recipients: {states}")))  # type: ignore[attr-defined]
    if status.note:
        console.print(f"[yellow]{escape(printable(status.note))}[/]")  # type: ignore[attr-defined]


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
