"""``mailcore events``: feed delivery events from outside a webhook, e.g. bounces an MTA received.

``mailcore events ingest-dsn`` reads RFC 3464 delivery status notifications (bounces) — from
standard input (the default, so an MTA can pipe each bounce to it), a file or a Maildir — parses
them with :func:`mailcore.dsn.parse_dsn` and hands every event to the same dispatch entry point
the webhook receivers use (:func:`mailcore.webhooks.app.hook_dispatch`).

Exit status: 0 every message was read and its events dispatched (a DSN that could not be read is
still dispatched as a kind ``unknown`` event); 1 the file or Maildir does not exist; 2 usage;
75 (``EX_TEMPFAIL``) a temporary failure — reading the input or dispatching an event raised —
so an MTA keeps the bounce and delivers it again later (Postfix, Exim and Sendmail all defer on
75). A redelivered bounce produces the same ``provider_event_id`` values, so storage can ignore
the duplicates.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn

import click

from mailcore.dsn import MAX_DSN_BYTES, parse_dsn
from mailcore.events import DeliveryEvent
from mailcore.redact import printable

__all__ = ["EX_TEMPFAIL", "IngestReport", "command", "ingest_maildir", "ingest_one", "read_bounded"]

#: sysexits.h: "temporary failure, try again later" — MTAs defer the delivery and retry.
EX_TEMPFAIL = 75
#: Environment variables through which MTAs pass the address a piped message was delivered to
#: (Postfix local(8): ORIGINAL_RECIPIENT, RECIPIENT; Exim pipe transport: RECIPIENT).
RECIPIENT_ENV = ("ORIGINAL_RECIPIENT", "RECIPIENT")
_CHUNK = 1 << 16

Dispatch = Callable[[DeliveryEvent], None]


@dataclass
class IngestReport:
    """What one run did: messages read, events dispatched, messages whose dispatch failed."""

    messages: int = 0
    events: list[DeliveryEvent] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _dispatch(event: DeliveryEvent) -> None:
    """The webhook receivers' dispatch entry point, looked up at call time."""
    from mailcore.webhooks import app

    app.hook_dispatch(event)


def read_bounded(stream: BinaryIO, limit: int = MAX_DSN_BYTES) -> bytes:
    """Up to ``limit + 1`` bytes of ``stream``; the rest is read and discarded (bounded memory).

    Draining matters for a pipe: an MTA may count a command that stops reading as a failure.
    """
    data = stream.read(limit + 1)
    if len(data) > limit:
        while stream.read(_CHUNK):
            pass
    return data


def ingest_one(raw: bytes, report: IngestReport, *, envelope_to: str | None, dispatch: Dispatch, label: str) -> bool:
    """Parse one DSN and dispatch its events in order; False (and ``label`` recorded) on failure."""
    events = parse_dsn(raw, envelope_to=envelope_to)
    report.messages += 1
    try:
        for event in events:
            dispatch(event)
    except Exception as error:
        report.failed.append(f"{label}: dispatch raised {type(error).__name__}")
        return False
    report.events.extend(events)
    return True


def _maildir_new(root: Path) -> Iterator[Path]:
    new = root / "new"
    for entry in sorted(new.iterdir()):
        if entry.is_file() and not entry.name.startswith("."):
            yield entry


def ingest_maildir(root: Path, report: IngestReport, *, dispatch: Dispatch) -> None:
    """Every message in ``root/new``; each one dispatched is moved to ``root/cur`` marked seen.

    A message whose dispatch failed stays in ``new/`` for the next run. The Maildir's owner (the
    MTA) writes into ``tmp/`` and renames into ``new/``, so a message is never read half-written.
    """
    cur = root / "cur"
    cur.mkdir(exist_ok=True)
    for path in _maildir_new(root):
        with path.open("rb") as handle:
            raw = read_bounded(handle)
        if ingest_one(raw, report, envelope_to=None, dispatch=dispatch, label=path.name):
            name = path.name if ":2," in path.name else f"{path.name}:2,S"
            os.replace(path, cur / name)


@click.group("events")
def command() -> None:
    """Delivery events from outside the webhooks: ingest bounces (DSNs) from an MTA."""


@command.command("ingest-dsn")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read every message in DIR/new; move each one ingested to DIR/cur.",
)
@click.option(
    "--recipient",
    metavar="ADDRESS",
    help="The address the bounce was delivered to (its VERP token). Default: $ORIGINAL_RECIPIENT, "
    "else $RECIPIENT (set by Postfix and Exim for piped deliveries), else the message's "
    "X-Original-To / Delivered-To / Envelope-To / To headers.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document summarizing the events.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def ingest_dsn(file: str | None, maildir: Path | None, recipient: str | None, as_json: bool, quiet: bool) -> None:
    """Read RFC 3464 bounces from FILE, a Maildir, or standard input (the default, or FILE '-').

    Each event goes to the same dispatch as the webhook receivers. Exit 75 (temporary failure)
    when an event could not be dispatched, so the MTA delivers the bounce again later.

    Postfix: add `bounces: "|mailcore events ingest-dsn -q"` to /etc/aliases (then newaliases)
    and set `recipient_delimiter = +` so bounces+TOKEN@ reaches it.
    """
    if file is not None and maildir is not None:
        raise click.UsageError("give FILE or --maildir, not both")
    report = IngestReport()
    if maildir is not None:
        if not (maildir / "new").is_dir():
            raise click.ClickException(f"{maildir} is not a Maildir (it has no new/ directory)")
        try:
            ingest_maildir(maildir, report, dispatch=_dispatch)
        except OSError as error:
            _tempfail(f"reading {maildir} failed: {error.strerror or type(error).__name__}")
    else:
        envelope_to = recipient or next((os.environ[n] for n in RECIPIENT_ENV if os.environ.get(n)), None)
        label = file if file not in (None, "-") else "stdin"
        try:
            if file in (None, "-"):
                raw = read_bounded(sys.stdin.buffer)
            else:
                assert file is not None
                if not os.path.isfile(file):
                    raise click.ClickException(f"{file}: no such file")
                with open(file, "rb") as handle:
                    raw = read_bounded(handle)
        except OSError as error:
            _tempfail(f"reading {label} failed: {error.strerror or type(error).__name__}")
        ingest_one(raw, report, envelope_to=envelope_to, dispatch=_dispatch, label=label)
    _print(report, as_json=as_json, quiet=quiet)
    if report.failed:
        _tempfail(f"{len(report.failed)} message(s) not ingested ({report.failed[0]}); try again later")


def _tempfail(text: str) -> NoReturn:
    click.echo(f"Error: temporary failure: {printable(text)}", err=True)
    sys.exit(EX_TEMPFAIL)


def _print(report: IngestReport, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        document = {
            "messages": report.messages,
            "failed": report.failed,
            "events": [
                {
                    "kind": str(e.kind),
                    "bounce_type": e.bounce_type,
                    "recipient": e.recipient,
                    "correlation_id": e.correlation_id,
                    "status": e.reason,
                    "timestamp": e.timestamp.isoformat(),
                    "provider_event_id": e.provider_event_id,
                }
                for e in report.events
            ],
        }
        click.echo(json.dumps(document, indent=2))
        return
    if quiet:
        return
    for event in report.events:
        kind = f"{event.kind}({event.bounce_type})" if event.bounce_type else str(event.kind)
        click.echo(printable(f"{kind} {event.recipient or '-'} {event.message_id or '(not correlated)'}"))
