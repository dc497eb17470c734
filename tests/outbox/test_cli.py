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
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in rows] == [filled[0]]
    assert rows[0]["last_error"].endswith("no such user") and "834211" not in result.output


def test_show_prints_headers_metadata_and_last_error_but_no_body(outbox_url, filled):
    result = run("outbox", "show", filled[0][:10], "--outbox", outbox_url)
    assert result.exit_code == 0
    for text in ("Code 0", "u0@example.org", "user=0", "550 5.1.1 no such user", "text 28 chars", "failed"):
        assert text in result.output
    assert "834211" not in result.output


def test_show_unknown_id_is_one_line_error(outbox_url, filled):
    result = CliRunner().invoke(cli, ["outbox", "show", "nope", "--outbox", outbox_url])
    assert result.exit_code == 1 and "no outbox entry" in result.output


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
    assert data["counts"] == {"queued": 1, "sending": 0, "sent": 0, "failed": 1, "unknown": 1}
    assert data["oldest_waiting_seconds"] >= 0


def test_outbox_from_the_environment(outbox_url, filled):
    result = run("outbox", "stats", env={"MAILCORE_OUTBOX": outbox_url})
    assert "queued" in result.output and outbox_url.removeprefix("sqlite:///") in result.output


def test_worker_drain_delivers_and_prints_a_status_line(outbox_url, filled):
    result = CliRunner().invoke(cli, ["worker", "--url", "memory://cli?", "--outbox", outbox_url, "--drain"])
    assert result.exit_code == 0, result.output
    assert "sent 1  requeued 0  failed 0  unknown 0" in result.output
    assert len(memory_outbox("cli")) == 1


def test_worker_needs_a_url(outbox_url):
    result = CliRunner().invoke(cli, ["worker", "--outbox", outbox_url, "--drain"], env={"MAILCORE_URL": ""})
    assert result.exit_code == 1 and "no transport" in result.output
