"""``mailcore check``: diagnose a transport step by step, without sending anything."""

from __future__ import annotations

import click

from mailcore.errors import MailcoreError
from mailcore.mailer import URL_ENV
from mailcore.redact import printable
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

    First every URL parameter is checked offline (a misspelt ``?timout=`` fails here, before any
    connection). Each step prints ✓ or ✗ with its time, and a hint when it fails. Nothing is sent
    and no secret is printed. Exits 1 when a parameter or any transport's step fails.
    """
    from mailcore.policy import build
    from mailcore.policy.validate import url_problems

    if not url:
        raise click.UsageError(f"no URL: pass one or set {URL_ENV}")
    problems = url_problems(url)  # every parameter of every transport, before any network step
    click.echo("configuration")
    for problem in problems:
        _print_step(CheckStep(name="parameters", ok=False, detail=str(problem)))
    if problems:
        raise SystemExit(1)
    _print_step(CheckStep(name="parameters", ok=True, detail="every URL parameter is valid (checked offline)"))
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
    mark = click.style("✓", fg="green") if step.ok else click.style("✗", fg="red")
    click.echo(f"  {mark} {step.name:<12} {step.duration * 1000:7.1f} ms  {printable(step.detail)}")
    if not step.ok and step.hint:
        click.echo(f"      hint: {printable(step.hint)}")
