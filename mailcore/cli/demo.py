"""``mailcore demo``: a sample send on the embedded default, needing no credentials.

Two scenes, nothing leaves the process:

1. **Failover.** ``failover(memory://primary?fail=1&error=rejected memory://backup)``: the primary
   refuses its credentials (a ``TransportRejected``), the backup takes the message at once.
2. **The embedded outbox.** A receipt is committed to a SQLite outbox (a temporary file, or
   ``--outbox sqlite:///path``) by ``enqueue()``, then a worker delivers it with the same policy
   machinery, and the outbox counts are printed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from mailcore.mailer import Mailer
from mailcore.message import Attachment, Message
from mailcore.render import render
from mailcore.testing import clear_outboxes, outbox

DEMO_URL = "failover(memory://primary?fail=1&error=rejected memory://backup)"
SENDER = "mailcore demo <demo@example.com>"
RECIPIENT = "Zoë Müller <zoe@example.org>"


@click.command("demo")
@click.option("--show-message/--no-show-message", default=True, help="Print the rendered message.")
@click.option("--outbox", "outbox_url", default=None, help="Outbox URL for scene 2 (default: a temporary file).")
def command(show_message: bool, outbox_url: str | None) -> None:
    """Send sample messages through a failover policy and the SQLite outbox (no network, no credentials)."""
    clear_outboxes()
    _failover_scene(show_message)
    with tempfile.TemporaryDirectory(prefix="mailcore-demo-") as tmp:
        _outbox_scene(outbox_url or f"sqlite:///{Path(tmp) / 'outbox.sqlite3'}")


def _failover_scene(show_message: bool) -> None:
    message = Message(
        SENDER,
        [RECIPIENT],
        "Your sign-in code",
        text="Your code is 482913. It expires in 10 minutes.",
        html="<p>Your code is <b>482913</b>. It expires in 10 minutes.</p>",
        tags=["otp"],
    )
    click.secho("1. failover", bold=True)
    click.echo(f"policy: {DEMO_URL}")
    with Mailer.from_url(DEMO_URL) as mailer:
        result = mailer.send(message)
    for number, attempt in enumerate(result.attempts, 1):
        outcome = "ok" if attempt.error is None else f"{type(attempt.error).__name__}: {attempt.error}"
        click.echo(f"attempt {number}: {attempt.transport:<18} {attempt.duration * 1e6:8.0f} µs  {outcome}")
    click.echo(f"delivered by {result.transport} as {result.provider_message_id}; Message-ID {result.message_id}")
    held = outbox("backup")
    if not held or held[-1].message_id != message.message_id:
        raise click.ClickException("the backup does not hold the demo message")
    if show_message:
        click.echo("--- rendered message held by memory://backup (not sent anywhere) ---")
        click.echo(render(held[-1]).decode("utf-8").replace("\r\n", "\n"))


def _outbox_scene(outbox_url: str) -> None:
    from mailcore.outbox.worker import OutboxWorker

    click.secho("\n2. the embedded outbox", bold=True)
    receipt = Message(
        SENDER, [RECIPIENT], "Your receipt #1042", text="Total: 12.00 EUR",
        attachments=[Attachment("receipt.txt", b"Receipt #1042\nTotal: 12.00 EUR\n")],
    )  # fmt: skip
    queued = Mailer.from_url("memory://receipts", outbox=outbox_url)
    outbox_id = queued.enqueue(receipt)
    click.echo(f"enqueued {receipt.message_id} as {outbox_id}: committed to {outbox_url} before enqueue() returned")
    worker = OutboxWorker(queued, batch_size=10, poll_interval=0.05)
    stats = worker.run(until_idle=True)
    counts = worker.outbox.counts()
    worker.close()
    click.echo(f"worker: {stats.line()}")
    click.echo("outbox: " + ", ".join(f"{state}={count}" for state, count in sorted(counts.items())))
    if [m.message_id for m in outbox("receipts")] != [receipt.message_id]:
        raise click.ClickException("the worker did not deliver the receipt")
    click.echo("delivered by memory://receipts; 'mailcore outbox list' inspects a real outbox")
