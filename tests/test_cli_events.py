"""``mailcore events ingest-dsn``: stdin, FILE, Maildir; events reach the dispatch entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailcore import Message
from mailcore.cli import cli
from mailcore.cli.events import EX_TEMPFAIL
from mailcore.dsn import MAX_DSN_BYTES
from mailcore.events import EventKind
from mailcore.render import render
from mailcore.testing.dsn import Recipient, build_dsn
from mailcore.testing.webhooks import captured_events
from mailcore.verp import verp_for
from mailcore.webhooks import app as webhook_app

MESSAGE = Message("app@example.com", ["user@example.org"], "Your code", text="Your code is 555111")
VERP = verp_for("bounces@example.com", MESSAGE)
DSN = build_dsn(render(MESSAGE), [Recipient("user@example.org")], to=VERP)
BARE_DSN = build_dsn(render(MESSAGE), [Recipient("user@example.org")], to="bounces@example.com", returned="none")
DATA = Path(__file__).parent / "data" / "dsn"


@pytest.fixture
def captured(tmp_path):
    """Events reaching the mailcore_delivery_event hook through the real dispatch path (stored,
    then handled in the background): ``captured.seen()`` waits for the handler."""
    with captured_events(tmp_path / "events.sqlite3") as capture:
        yield capture


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None):
    base = {"ORIGINAL_RECIPIENT": "", "RECIPIENT": ""}
    return CliRunner().invoke(cli, ["events", "ingest-dsn", *args], input=stdin, env={**base, **(env or {})})


def test_stdin_is_the_default_and_events_are_dispatched(captured) -> None:
    result = run(stdin=DSN)
    assert result.exit_code == 0, result.output
    [event] = captured.seen()
    assert (event.kind, event.bounce_type, event.recipient) == (EventKind.BOUNCED, "hard", "user@example.org")
    assert event.correlation_id == MESSAGE.correlation_id
    assert MESSAGE.message_id in result.output and "555111" not in result.output


@pytest.mark.parametrize(
    ("args", "env", "correlated"),
    [
        ((), {}, False),
        ((), {"ORIGINAL_RECIPIENT": VERP}, True),
        ((), {"RECIPIENT": VERP}, True),
        (("--recipient", VERP), {}, True),
    ],
    ids=["no-verp", "ORIGINAL_RECIPIENT", "RECIPIENT", "--recipient"],
)
def test_postfix_environment_names_the_verp_address(captured, args, env, correlated) -> None:
    assert run(*args, stdin=BARE_DSN, env=env).exit_code == 0
    assert [e.correlation_id for e in captured.seen()] == [MESSAGE.correlation_id if correlated else None]


def test_the_same_bounce_ingested_twice_is_one_event(captured) -> None:
    """An MTA that delivers a bounce again (after a crash, exit 75) does not double it."""
    assert run(stdin=DSN).exit_code == 0
    assert run(stdin=DSN).exit_code == 0
    assert len(captured.seen()) == 1


def test_file_and_dash(tmp_path, captured) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(DSN)
    other = build_dsn(render(MESSAGE), [Recipient("other@example.org")], to=VERP)
    assert run(str(path)).exit_code == 0
    assert run("-", stdin=other).exit_code == 0
    assert run("-q", str(DATA / "postfix-bounce.eml")).output == ""
    assert len(captured.seen()) == 3


def test_garbage_is_dispatched_as_unknown(captured) -> None:
    result = run("--json", stdin=b"\x00\xff not mail at all")
    assert result.exit_code == 0
    assert [e.kind for e in captured.seen()] == [EventKind.UNKNOWN]
    assert json.loads(result.output)["events"][0]["kind"] == "unknown"


def test_oversized_input_is_drained_and_kept_as_unknown(captured) -> None:
    result = run(stdin=b"x" * (MAX_DSN_BYTES + 100_000))
    assert result.exit_code == 0
    assert [e.kind for e in captured.seen()] == [EventKind.UNKNOWN]


def test_a_failing_dispatch_exits_75_so_the_mta_retries(monkeypatch, captured) -> None:
    def down(event):
        raise ConnectionError("event store unavailable")

    monkeypatch.setattr(webhook_app, "hook_dispatch", down)
    result = run(stdin=DSN)
    assert result.exit_code == EX_TEMPFAIL == 75
    assert "temporary failure" in result.output and "ConnectionError" in result.output
    assert "555111" not in result.output and "user@example.org" not in result.output


def maildir(root: Path, *messages: bytes) -> Path:
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for index, raw in enumerate(messages):
        (root / "new" / f"1796040000.M{index}P1.host").write_bytes(raw)
    return root


def test_maildir_messages_are_ingested_and_moved_to_cur(tmp_path, captured) -> None:
    root = maildir(tmp_path / "Maildir", DSN, (DATA / "exim-bounce.eml").read_bytes())
    result = run("--maildir", str(root))
    assert result.exit_code == 0, result.output
    assert len(captured.seen()) == 2
    assert list((root / "new").iterdir()) == []
    assert sorted(p.name for p in (root / "cur").iterdir()) == ["1796040000.M0P1.host:2,S", "1796040000.M1P1.host:2,S"]
    assert run("--maildir", str(root)).exit_code == 0 and len(captured.seen()) == 2  # nothing twice


def test_maildir_messages_whose_dispatch_failed_stay_in_new(tmp_path, monkeypatch, captured) -> None:
    root = maildir(tmp_path / "Maildir", DSN)
    monkeypatch.setattr(webhook_app, "hook_dispatch", lambda event: (_ for _ in ()).throw(OSError("down")))
    assert run("--maildir", str(root)).exit_code == EX_TEMPFAIL
    assert [p.name for p in (root / "new").iterdir()] == ["1796040000.M0P1.host"]
    monkeypatch.undo()
    assert run("--maildir", str(root)).exit_code == 0
    assert len(captured.seen()) == 1


def test_usage_and_missing_inputs(tmp_path) -> None:
    assert run("x.eml", "--maildir", str(tmp_path)).exit_code == 2
    assert run(str(tmp_path / "missing.eml")).exit_code == 1
    assert run("--maildir", str(tmp_path)).exit_code == 1  # no new/: not a Maildir


def test_piped_like_an_mta_does() -> None:
    """A separate process fed on stdin with Postfix's environment, as local(8) runs an alias pipe."""
    env = {**os.environ, "ORIGINAL_RECIPIENT": VERP}
    command = [sys.executable, "-c", "from mailcore.cli import main; main()", "events", "ingest-dsn", "--json"]
    done = subprocess.run(command, input=BARE_DSN, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [event] = json.loads(done.stdout)["events"]
    assert event["correlation_id"] == MESSAGE.correlation_id and event["bounce_type"] == "hard"
