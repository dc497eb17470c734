"""``mailcore check``: diagnose a transport step by step, without sending anything."""

from __future__ import annotations

import click

from mailcore.errors import ConfigurationError
from mailcore.mailer import URL_ENV
from mailcore.transport import Transport


def _leaves(transport: Transport) -> list[Transport]:
    children = transport.children()
    if not children:
        return [transport]
    return [leaf for child in children for leaf in _leaves(child)]


@click.command("check")
@click.argument("url", required=False, envvar=URL_ENV)
def command(url: str | None) -> None:
    """Check every transport in URL (default: $MAILCORE_URL): DNS, TCP, TLS, greeting, credentials.

    Each step prints ✓ or ✗ with its time, and a hint when it fails. Nothing is sent and no
    secret is printed. Exits 1 when any transport fails a step.
    """
    from mailcore.policy import build

    if not url:
        raise ConfigurationError(f"no URL: pass one or set {URL_ENV}")
    stack = build(url)
    failed = False
    for leaf in _leaves(stack):
        click.echo(leaf.name)
        for step in leaf.check():
            mark = click.style("✓", fg="green") if step.ok else click.style("✗", fg="red")
            click.echo(f"  {mark} {step.name:<12} {step.duration * 1000:7.1f} ms  {step.detail}")
            if not step.ok:
                failed = True
                if step.hint:
                    click.echo(f"      hint: {step.hint}")
    stack.close()
    if failed:
        raise SystemExit(1)
