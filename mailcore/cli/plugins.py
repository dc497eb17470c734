"""``mailcore plugins``: which transport plugins are installed, from which distribution."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from mailcore.plugins import list_plugins


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def command(as_json: bool) -> None:
    """List installed plugins: name, distribution, version, transport URL schemes and what each
    scheme's transport carries faithfully (its capabilities, see docs/capabilities.md), and the
    queue backends each registers (sqlite, postgresql, django, celery…)."""
    infos = list_plugins()
    if as_json:
        click.echo(json.dumps([asdict(info) for info in infos], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("plugin", "distribution", "version", "schemes", "carries", "queues")
    for info in infos:
        carries = "\n".join(f"{s}: {', '.join(c) or '-'}" for s, c in info.capabilities.items())
        schemes = ", ".join(f"{s}://" for s in info.schemes)
        table.add_row(info.name, info.distribution, info.version, schemes, carries, ", ".join(info.queues) or "-")
    Console().print(table)
