"""``mailcore send-bulk``: one template, a CSV of recipients, a message of their own for each.

The CSV needs a header row with an ``email`` column; ``name`` is the display name, columns named
``meta.KEY`` become the recipient's metadata, every other column is a merge field for the
``{placeholders}`` in ``--subject``, ``--text-file`` and ``--html-file``. ``--dry-run`` renders
the first messages without sending; ``--failures FILE`` writes the rows that failed, with an
``error`` column, in the same format so the file can be sent again.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import click

from mailcore.bulk import BulkTemplate, Recipient, RecipientResult, bulk_template
from mailcore.errors import InvalidMessage
from mailcore.mailer import FROM_ENV, URL_ENV, Mailer
from mailcore.message import Message
from mailcore.redact import printable

META_PREFIX = "meta."
PROGRESS_STEP = 200
#: Exit status when some recipients got the message and others did not (see docs/scripts.md).
EXIT_PARTIAL = 3

_File = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("send-bulk")
@click.option("--url", envvar=URL_ENV, help=f"Transport URL or policy expression (default: ${URL_ENV}).")
@click.option("--from", "from_email", envvar=FROM_ENV, help=f"Sender address (default: ${FROM_ENV}).")
@click.option("--subject", required=True, help="Subject line; may use {placeholders}.")
@click.option("--text", help="Plain-text body template.")
@click.option("--text-file", type=_File, help="Read the text body template from a file.")
@click.option("--html", help="HTML body template (values are HTML-escaped).")
@click.option("--html-file", type=_File, help="Read the HTML body template from a file.")
@click.option("--csv", "csv_path", type=_File, required=True, help="Recipients: columns email, name, meta.*, fields.")
@click.option("--concurrency", default=4, show_default=True, help="Batches (or messages) in flight at once.")
@click.option("--batch-size", type=int, default=None, help="Recipients per provider request (default: its maximum).")
@click.option(
    "--dry-run",
    "dry_run",
    type=int,
    is_flag=False,
    flag_value=3,
    default=None,
    metavar="[N]",
    help="Render the first N messages (default 3) and send nothing.",
)
@click.option(
    "--failures",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows that failed, plus an 'error' column, to this CSV.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar on stderr (default: when it is a terminal)."
)
def command(
    url: str | None,
    from_email: str | None,
    subject: str,
    text: str | None,
    text_file: Path | None,
    html: str | None,
    html_file: Path | None,
    csv_path: Path,
    concurrency: int,
    batch_size: int | None,
    dry_run: int | None,
    failures: Path | None,
    progress: bool | None,
) -> None:
    """Send a personalized message to every recipient in a CSV."""
    if not from_email:
        raise click.UsageError(f"no sender: pass --from or set {FROM_ENV}")
    if (text and text_file) or (html and html_file):
        raise click.UsageError("give a body inline or from a file, not both")
    template = bulk_template(
        from_email,
        subject,
        text=text_file.read_text("utf-8") if text_file else text,
        html=html_file.read_text("utf-8") if html_file else html,
    )
    if dry_run is not None:
        _preview(template, csv_path, dry_run)
        return
    if not url:
        raise click.UsageError(f"no transport: pass --url or set {URL_ENV}")
    tally = _send(
        url,
        template,
        csv_path,
        concurrency,
        batch_size,
        failures,
        sys.stderr.isatty() if progress is None else progress,
    )
    _summary(tally)
    if tally.failed:  # 3: partial (some recipients have it; resend only --failures), 1: nothing went out
        raise SystemExit(EXIT_PARTIAL if tally.sent else 1)


# -- CSV -----------------------------------------------------------------------------------------


def _open_csv(path: Path) -> tuple[TextIO, csv.DictReader[str]]:
    handle = path.open(newline="", encoding="utf-8-sig")
    reader = csv.DictReader(handle)
    columns = reader.fieldnames or []
    if "email" not in columns:
        handle.close()
        raise InvalidMessage("csv", f"{path.name} needs an 'email' column (found: {', '.join(columns) or 'none'})")
    return handle, reader


def recipient_from_row(row: dict[str, Any]) -> Recipient:
    """A CSV row as a recipient: ``email``, ``name``, ``meta.*`` metadata, other columns fields."""
    fields: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for column, value in row.items():
        if column in (None, "email", "name"):
            continue
        if column.startswith(META_PREFIX):
            metadata[column[len(META_PREFIX) :]] = value or ""
        else:
            fields[column] = value or ""
    return Recipient(
        email=(row.get("email") or "").strip(), fields=fields, metadata=metadata, name=row.get("name") or ""
    )


def row_from_recipient(recipient: Recipient) -> dict[str, str]:
    """The inverse of :func:`recipient_from_row`, for the failures file."""
    row = {"email": recipient.email, "name": recipient.name}
    row.update({column: str(value) for column, value in recipient.fields.items()})
    row.update({META_PREFIX + key: value for key, value in recipient.metadata.items()})
    return row


def _rows(reader: csv.DictReader[str]) -> Iterator[Recipient]:
    for row in reader:
        yield recipient_from_row(row)


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


# -- dry run -------------------------------------------------------------------------------------


def _preview(template: Message, path: Path, count: int) -> None:
    """Render the first ``count`` rows; exit 1 when any of them fails to render (a CI gate)."""
    parsed = BulkTemplate(template)
    handle, reader = _open_csv(path)
    rendered = failed = 0
    with handle:
        for index, recipient in enumerate(_rows(reader)):
            if index >= count:
                break
            click.echo(f"--- message {index + 1} ---")
            try:
                message = parsed.render(parsed.item(index, recipient))
            except InvalidMessage as error:
                click.echo(f"error: {printable(error)}")
                failed += 1
                continue
            rendered += 1
            click.echo(f"To: {message.to[0]}\nSubject: {message.subject}")
            if message.text is not None:
                click.echo(f"\n{message.text}")
            if message.html is not None:
                click.echo(f"\n[html]\n{message.html}")
    click.echo(f"dry run: nothing was sent ({rendered} rendered, {failed} failed to render)")
    if failed:
        raise click.ClickException(f"{failed} of {rendered + failed} row(s) failed to render; see 'error:' above")


# -- sending -------------------------------------------------------------------------------------


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    sent_by: Counter[str] = field(default_factory=Counter)
    failed_by: Counter[str] = field(default_factory=Counter)

    def add(self, result: RecipientResult) -> None:
        where = result.transport or "(not sent)"
        if result.ok:
            self.sent += 1
            self.sent_by[where] += 1
        else:
            self.failed += 1
            self.failed_by[where] += 1


def _send(
    url: str,
    template: Message,
    path: Path,
    concurrency: int,
    batch_size: int | None,
    failures: Path | None,
    show_progress: bool,
) -> _Tally:
    tally = _Tally()
    total = _count_rows(path)
    handle, reader = _open_csv(path)
    columns = [c for c in reader.fieldnames or [] if c != "error"]
    with handle, Mailer.from_url(url) as mailer, _FailureWriter(failures, columns) as writer:
        results = mailer.send_bulk(template, _rows(reader), concurrency=concurrency, batch_size=batch_size)
        with _ProgressBar(total, show_progress) as advance:
            for result in results:
                tally.add(result)
                if not result.ok:
                    writer.write(result)
                advance()
    return tally


class _FailureWriter:
    """Writes failed rows (original columns + ``error``) as they come; nothing when no path."""

    def __init__(self, path: Path | None, columns: list[str]) -> None:
        self.path = path
        self.columns = [*columns, "error"]
        self._handle: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None

    def __enter__(self) -> _FailureWriter:
        if self.path is not None:
            self._handle = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.DictWriter(self._handle, self.columns, extrasaction="ignore")
            self._writer.writeheader()
        return self

    def write(self, result: RecipientResult) -> None:
        if self._writer is not None:
            row = row_from_recipient(result.recipient)
            row["error"] = " ".join(str(result.error or "failed").split())
            self._writer.writerow(row)

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()


class _ProgressBar:
    """A rich progress bar (rate and ETA) on stderr, advanced in steps; a no-op when hidden."""

    def __init__(self, total: int, visible: bool) -> None:
        self.total = total
        self.visible = visible
        self.pending = 0
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.visible:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task("send", total=self.total or None, rate="")
        return self.advance

    def advance(self) -> None:
        self.pending += 1
        if self.pending >= PROGRESS_STEP:
            self._flush()

    def _flush(self) -> None:
        speed = self.bar.tasks[0].speed
        rate = f"{speed:,.0f} msg/s" if speed else ""
        self.bar.update(self.task, advance=self.pending, rate=rate)
        self.pending = 0

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self._flush()
            self.bar.stop()


def _summary(tally: _Tally) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="send-bulk summary")
    table.add_column("transport")
    table.add_column("sent", justify="right")
    table.add_column("failed", justify="right")
    for name in sorted(set(tally.sent_by) | set(tally.failed_by)):
        table.add_row(printable(name), f"{tally.sent_by[name]:,}", f"{tally.failed_by[name]:,}")
    table.add_row("total", f"{tally.sent:,}", f"{tally.failed:,}", style="bold")
    Console(width=100).print(table)
