"""``mailcore outbox`` and ``mailcore worker`` through click, on a real SQLite file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mailcore import Mailer, Message
from mailcore.cli import cli
from mailcore.outbox import open_outbox
from mailcore.testing import outbox as memory_outbox

BODY = "Your one-time code is 834211"


@pytest.fixture
def filled(outbox_url):
    m = Mailer("memory://cli", outbox=outbox_url, retry=None)
    ids = [
        m.enqueue(
            Message(
                "app@example.com",
                [f"u{i}@example.org", "x@example.org"],
                f"Code {i}",
                text=BODY,
                html=f"<b>{BODY}</b>",
                metadata={"user": str(i)},
            )
        )
        for i in range(3)
    ]
    box = open_outbox(outbox_url)
    box.claim("w", limit=2, lease=60)
    box.mark_failed("w", ids[0], "[smtp://relay] 550 5.1.1 no such user")
    box.mark_unknown("w", ids[1], "timeout after DATA")
    return ids


def run(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def test_list_is_a_table_without_bodies(outbox_url, filled):
    result = run("outbox", "list", "--outbox", outbox_url)
    assert result.exit_code == 0
    for text in ("failed", "unknown", "queued", filled[0][:12], "u0@example.org +1", "550 5.1.1"):
        assert text in result.output
    assert "834211" not in result.output


def test_list_filters_by_state_and_speaks_json(outbox_url, filled):
    result = run("outbox", "list", "--outbox", outbox_url, "--state", "failed", "--json")
    rows = json.loads(result.output)  # one JSON document, not JSON lines
    assert isinstance(rows, list) and [r["id"] for r in rows] == [filled[0]]
    assert rows[0]["last_error"].endswith("no such user") and "834211" not in result.output


def test_show_prints_headers_metadata_and_last_error_but_no_body(outbox_url, filled):
    result = run("outbox", "show", filled[0][:10], "--outbox", outbox_url)
    assert result.exit_code == 0
    for text in ("Code 0", "u0@example.org", "user=0", "550 5.1.1 no such user", "text 28 chars", "failed"):
        assert text in result.output
    assert "834211" not in result.output


def test_show_unknown_id_is_one_line_error(outbox_url, filled):
    result = CliRunner().invoke(cli, ["outbox", "show", "nope", "--outbox", outbox_url])
    assert result.exit_code == 1
    assert "no such message: 'nope'" in result.output and "configuration error" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_retry_and_purge(outbox_url, filled):
    assert "1 entry queued" in run("outbox", "retry", "--outbox", outbox_url, "--state", "unknown").output
    assert "1 entry queued" in run("outbox", "retry", filled[0], "--outbox", outbox_url).output
    assert open_outbox(outbox_url).counts()["queued"] == 3
    refused = CliRunner().invoke(cli, ["outbox", "purge", "--outbox", outbox_url, "--state", "queued"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert (
        "0 sent entries deleted"
        in run("outbox", "purge", "--outbox", outbox_url, "--state", "sent", "--older-than", "7d").output
    )
    assert (
        "3 queued entries deleted"
        in run("outbox", "purge", "--outbox", outbox_url, "--state", "queued", "--yes").output
    )


def test_stats_json_for_monitoring(outbox_url, filled):
    data = json.loads(run("outbox", "stats", "--outbox", outbox_url, "--json").output)
    assert data["counts"] == {"queued": 1, "sending": 0, "sent": 0, "failed": 1, "unknown": 1, "expired": 0}
    assert data["oldest_waiting_seconds"] >= 0


def test_outbox_from_the_environment(outbox_url, filled):
    result = run("outbox", "stats", env={"MAILCORE_OUTBOX": outbox_url})
    assert "queued" in result.output and outbox_url.removeprefix("sqlite:///") in result.output


def test_worker_drain_delivers_and_prints_a_status_line(outbox_url, filled):
    result = CliRunner().invoke(cli, ["worker", "--url", "memory://cli?", "--outbox", outbox_url, "--drain"])
    assert result.exit_code == 0, result.output
    assert "sent 1  requeued 0  failed 0  unknown 0  expired 0" in result.output
    assert len(memory_outbox("cli")) == 1


def test_worker_needs_a_url(outbox_url):
    result = CliRunner().invoke(cli, ["worker", "--outbox", outbox_url, "--drain"], env={"MAILCORE_URL": ""})
    assert result.exit_code == 2 and "no transport" in result.output  # a usage error


def test_list_json_of_an_empty_outbox_is_an_empty_list(outbox_url):
    open_outbox(outbox_url).close()  # creates the file, with no entries
    assert json.loads(run("outbox", "list", "--outbox", outbox_url, "--json").output) == []


@pytest.mark.parametrize("command", [["stats"], ["stats", "--json"], ["list"], ["list", "--json"], ["show", "abc"],
                                     ["retry", "--state", "failed"], ["purge", "--state", "sent"]])  # fmt: skip
def test_inspecting_commands_refuse_a_path_with_no_outbox_and_create_nothing(tmp_path, command):
    missing = tmp_path / "nonexistent" / "x.sqlite3"
    result = CliRunner().invoke(cli, ["outbox", *command, "--outbox", f"sqlite:///{missing}"])
    assert result.exit_code == 1, result.output
    assert f"no outbox at {missing}" in result.output and "nothing was created" in result.output
    assert not missing.parent.exists()


def test_stats_on_the_issue_path_exits_non_zero_and_creates_nothing():
    """The exact command from issue 11: a mistyped absolute path must not report a healthy, empty outbox."""
    result = CliRunner().invoke(cli, ["outbox", "stats", "--outbox", "sqlite:////nonexistent/x.sqlite3"])
    assert result.exit_code != 0 and "no outbox at /nonexistent/x.sqlite3" in result.output
    assert not __import__("os").path.exists("/nonexistent")


def test_a_relative_url_that_finds_nothing_explains_the_four_slashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["outbox", "stats", "--outbox", "sqlite:///var/lib/app/outbox.db"])
    assert result.exit_code == 1 and "absolute paths take four" in result.output
    assert not (tmp_path / "var").exists()


def test_the_worker_still_creates_its_outbox(tmp_path):
    fresh = tmp_path / "new" / "outbox.sqlite3"
    result = CliRunner().invoke(cli, ["worker", "--url", "memory://w", "--outbox", f"sqlite:///{fresh}", "--drain"])
    assert result.exit_code == 0, result.output
    assert fresh.is_file()


def test_worker_status_line_is_printed_once_with_a_rate_over_the_last_minute(outbox_url, filled):
    result = CliRunner().invoke(cli, ["worker", "--url", "memory://cli?", "--outbox", outbox_url, "--drain"])
    lines = [line for line in result.output.splitlines() if "sent 1" in line]
    assert len(lines) == 1, result.output
    assert "last minute 1" in lines[0] and "/s" not in lines[0]


def test_worker_logs_a_requeue_as_warning_and_only_giving_up_as_error(outbox_url, caplog):
    mailer = Mailer("memory://flaky", outbox=outbox_url, retry=None)
    mailer.enqueue(Message("app@example.com", ["a@example.org"], "s", text="t"))
    mailer.enqueue(Message("app@example.com", ["b@example.org"], "s", text="t"))
    with caplog.at_level("DEBUG", logger="mailcore"):
        result = CliRunner().invoke(cli, ["worker", "--url", "memory://flaky?fail=3&error=transient",
                                          "--outbox", outbox_url, "--drain"])  # fmt: skip
    assert result.exit_code == 0, result.output
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    requeues = [r for r in caplog.records if r.levelname == "WARNING" and "not delivered yet" in r.getMessage()]
    assert errors == [], [r.getMessage() for r in errors]
    assert len(requeues) == 1


def test_worker_logs_error_once_when_it_gives_up(outbox_url, caplog):
    mailer = Mailer("memory://x", outbox=outbox_url, retry=None)
    mailer.enqueue(Message("app@example.com", ["a@example.org"], "s", text="t"))
    with caplog.at_level("DEBUG", logger="mailcore"):
        CliRunner().invoke(cli, ["worker", "--url", "memory://gone?fail=9&error=rejected",
                                 "--outbox", outbox_url, "--drain"])  # fmt: skip
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "failed for good" in errors[0]
