"""``mailcore demo``: a sample send on the embedded default, needing no credentials.

The demo builds the policy ``failover(memory://primary?fail=1&error=connection memory://backup)``:
the primary refuses its credentials once (a TransportRejected), the backup takes the message. It prints every
attempt, which transport delivered, and the rendered message the backup holds. Nothing leaves
the process.
"""

from __future__ import annotations

import click

from mailcore.mailer import Mailer
from mailcore.message import Attachment, Message
from mailcore.render import render
from mailcore.testing import clear_outboxes, outbox

DEMO_URL = "failover(memory://primary?fail=1&error=rejected memory://backup)"


@click.command("demo")
@click.option("--show-message/--no-show-message", default=True, help="Print the rendered message.")
def command(show_message: bool) -> None:
    """Send a sample message through a failover policy held in memory (no network, no credentials)."""
    clear_outboxes()
    message = Message(
        "mailcore demo <demo@example.com>",
        ["Zoë Müller <zoe@example.org>"],
        "Your sign-in code: 482913",
        text="Your code is 482913. It expires in 10 minutes.",
        html="<p>Your code is <b>482913</b>. It expires in 10 minutes.</p>",
        attachments=[Attachment("receipt.txt", b"Demo receipt\n")],
        tags=["otp"],
    )
    click.echo(f"policy: {DEMO_URL}")
    with Mailer.from_url(DEMO_URL) as mailer:
        result = mailer.send(message)
    for number, attempt in enumerate(result.attempts, 1):
        outcome = "ok" if attempt.error is None else f"{type(attempt.error).__name__}: {attempt.error}"
        click.echo(f"attempt {number}: {attempt.transport:<18} {attempt.duration * 1e6:8.0f} µs  {outcome}")
    click.echo(f"delivered by {result.transport} as {result.provider_message_id}; Message-ID {result.message_id}")
    held = outbox("backup")
    assert held and held[-1].message_id == message.message_id
    if show_message:
        click.echo("--- rendered message held by memory://backup (not sent anywhere) ---")
        click.echo(render(held[-1]).decode("utf-8").replace("\r\n", "\n"))
