"""`mailcore status` and `mailcore suppressions` keep their data in the SQLite outbox file only:
pointed at a PostgreSQL outbox they fail with a clear message (exit 1), never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mailcore.cli import cli
from mailcore.outbox.postgres import PostgresOutbox


@pytest.mark.parametrize(
    "args",
    [("status", "someone@example.org"), ("suppressions", "list"), ("suppressions", "export")],
    ids=["status", "suppressions-list", "suppressions-export"],
)
def test_event_commands_refuse_a_postgresql_outbox_clearly(pg_url, args) -> None:
    PostgresOutbox(pg_url).close()  # the schema exists: the refusal is about the store kind
    result = CliRunner().invoke(cli, [*args, "--outbox", pg_url])
    assert result.exit_code == 1, result.output
    assert "kept in a SQLite outbox" in result.output and "Traceback" not in result.output
