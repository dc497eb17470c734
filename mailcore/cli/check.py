"""``mailcore check``: diagnose a transport step by step, without sending anything."""

from __future__ import annotations

import click

from mailcore.errors import ConfigurationError, MailcoreError
from mailcore.mailer import URL_ENV
from mailcore.transport import CheckStep, Transport


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
    try:
        failed = [leaf.name for leaf in _leaves(stack) if not _check_leaf(leaf)]
    finally:
        stack.close()
    if failed:
        raise SystemExit(1)


def _check_leaf(leaf: Transport) -> bool:
    """Print ``leaf``'s steps; False when one failed. A crashing check fails only its transport."""
    click.echo(leaf.name)
    ok = True
    try:
        for step in leaf.check():
            _print_step(step)
            ok = ok and step.ok
    except Exception as error:  # a plugin's bug must not hide the other transports' results
        # Only mailcore errors promise a secret-free text; show just the class of anything else.
        detail = str(error) if isinstance(error, MailcoreError | OSError) else "unexpected error in this check"
        _print_step(CheckStep(name="check", ok=False, detail=f"{type(error).__name__}: {detail}"))
        return False
    return ok


def _print_step(step: CheckStep) -> None:
    if step.skipped:
        mark = click.style("-", fg="yellow")
    else:
        mark = click.style("✓", fg="green") if step.ok else click.style("✗", fg="red")
    click.echo(f"  {mark} {step.name:<12} {step.duration * 1000:7.1f} ms  {step.detail}")
    if not step.ok and step.hint:
        click.echo(f"      hint: {step.hint}")
