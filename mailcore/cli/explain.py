"""``mailcore explain``: show the composed policy stack and where a message would go now."""

from __future__ import annotations

import click

from mailcore.errors import ConfigurationError
from mailcore.mailer import URL_ENV
from mailcore.policy.state import STATE_ENV
from mailcore.transport import Transport

__all__ = ["budget_line", "command", "message_deadline", "render_tree"]


def _label(transport: Transport) -> str:
    from mailcore.policy.base import Policy

    if isinstance(transport, Policy):
        return transport.describe()
    from mailcore.capabilities import capabilities_of

    carries = ", ".join(sorted(capabilities_of(transport))) or "basics only"
    label = f"{transport.name}  [{type(transport).__name__}]"
    timeout = getattr(transport, "timeout", None)
    if isinstance(timeout, int | float):
        label += f"  each attempt ≤ {timeout:g}s"
        connect = getattr(transport, "connect_timeout", None)
        if isinstance(connect, int | float) and connect < timeout:
            label += f" (connecting ≤ {connect:g}s)"
    return f"{label}  carries: {carries}"


def message_deadline(stack: Transport) -> float | None:
    """The per-message deadline of ``stack``: the one its outermost deadline-aware layer starts."""
    from mailcore.policy.failover import Combinator
    from mailcore.policy.retry import Retrying

    if isinstance(stack, Combinator) and stack.deadline is not None:
        return stack.deadline
    if isinstance(stack, Retrying) and stack.policy.deadline is not None:
        return stack.policy.deadline
    for child in stack.children():
        found = message_deadline(child)
        if found is not None:
            return found
    return None


def budget_line(stack: Transport) -> str:
    """Two lines stating both time budgets, so neither reads as the other."""
    deadline = message_deadline(stack)
    message = (
        "no deadline" if deadline is None else f"deadline {deadline:g}s for everything (attempts, retries, failover)"
    )
    return (
        f"time budget per message: {message}\n"
        "time budget per attempt: the transport's timeout (shown below), cut short by the deadline"
    )


def render_tree(stack: Transport) -> object:
    """A :class:`rich.tree.Tree` of ``stack``: one node per layer, live breaker and limit state."""
    from rich.markup import escape
    from rich.tree import Tree

    def add(node: Tree, transport: Transport) -> None:
        for child in transport.children():
            add(node.add(escape(_label(child))), child)

    root = Tree(escape(_label(stack)))
    add(root, stack)
    return root


@click.command("explain")
@click.argument("url", required=False, envvar=URL_ENV)
@click.option(
    "--state",
    envvar=STATE_ENV,
    default=None,
    help="Where breakers and limits live (redis://host:6379/0); default $MAILCORE_STATE_URL or this process.",
)
def command(url: str | None, state: str | None) -> None:
    """Print the policy stack URL (default: $MAILCORE_URL) builds, and where a message goes now.

    Each layer shows its settings and live state: breakers (closed / OPEN / HALF-OPEN), rate
    limits (slots left), retry budget, each transport's per-attempt timeout, and the
    message deadline (once, for the whole stack). Secrets are masked. Nothing is sent.
    """
    from rich.console import Console
    from rich.markup import escape

    from mailcore.config import mask_url
    from mailcore.policy import Policy, build, open_state

    if not url:
        raise ConfigurationError(f"no URL: pass one or set {URL_ENV}")
    store = open_state(state)
    stack = build(url, state=store)
    console = Console(highlight=False)
    console.print(f"[bold]{escape(mask_url(url))}[/bold]")
    console.print(f"state: {escape(store.describe())}")
    console.print(escape(budget_line(stack)))
    console.print(render_tree(stack))
    route = stack.route() if isinstance(stack, Policy) else stack.name
    if route is None:
        console.print("next message → [red]nowhere now[/red]: every route is resting or over its limit")
    else:
        console.print(f"next message → {escape(route)}")
    stack.close()
