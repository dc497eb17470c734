"""The ``mailcore`` command line.

Each subcommand lives in its own module (``mailcore/cli/<name>.py``, exposing ``command``) and is
imported only when it runs, so ``mailcore --help`` stays fast. Errors a user can fix
(:class:`~mailcore.errors.MailcoreError`) print one line and exit 1, never a traceback.
Warnings the library logs (a failover, for example) are shown on stderr.

Exit status, the same for every command (docs/scripts.md has the table):

* 0 — done;
* 1 — failed: not sent, a configuration error, an invalid message, no such outbox or message;
* 2 — usage error: a missing or wrong option or argument;
* 3 — partial: sent, but some recipients were refused (``send``), or some rows failed
  (``send-bulk``);
* 75 — temporary failure (``EX_TEMPFAIL``, ``events ingest-dsn``): an MTA piping to it retries.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from mailcore.errors import ConfigurationError, InvalidMessage, MailcoreError, SendError, failure_summary
from mailcore.redact import printable

#: subcommand name → module under mailcore.cli (a missing module is simply not offered).
COMMANDS = {
    "send": "send",
    "plugins": "plugins",
    "demo": "demo",
    "check": "check",
    "explain": "explain",
    "outbox": "outbox",
    "worker": "worker",
    "send-bulk": "send_bulk",
    "status": "status",
    "suppressions": "suppressions",
    "events": "events",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, module in COMMANDS.items() if _module_exists(module))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None or not _module_exists(module):
            return None
        command = importlib.import_module(f"mailcore.cli.{module}").command
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (MailcoreError, OSError) as error:
            raise click.ClickException(_one_line(error)) from None


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(f"mailcore.cli.{module}") is not None


def _one_line(error: BaseException) -> str:
    kind = {
        ConfigurationError: "configuration error",
        InvalidMessage: "invalid message",
        SendError: "not sent",
    }
    label = next((text for cls, text in kind.items() if isinstance(error, cls)), type(error).__name__)
    text = failure_summary(error) if isinstance(error, SendError) else str(error)
    return printable(f"{label}: {text}")  # a provider's reply inside the text stays inert


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="steadymail")
def cli() -> None:
    """mailcore: send email through many providers, with failover and a durable outbox."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="mailcore")
