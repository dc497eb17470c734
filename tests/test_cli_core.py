"""The mailcore command line: one-line errors, no tracebacks, secrets masked."""

import pytest
from click.testing import CliRunner

from mailcore.cli import cli
from mailcore.testing import outbox


@pytest.fixture
def run():
    def invoke(*args, env=None):
        return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)

    return invoke


def test_send_through_a_url(run, tmp_path):
    attachment = tmp_path / "invoice.txt"
    attachment.write_text("total 12")
    result = run(
        "send", "--url", "memory://cli", "--from", "Shop <shop@example.com>", "--to", "ana@example.org",
        "--cc", "cc@example.org", "--subject", "Invoice", "--text", "see attached", "--attach", str(attachment),
        "--header", "X-Campaign: spring",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sent <" in result.output and "via memory://cli" in result.output
    sent = outbox("cli")[0]
    assert sent.attachments[0].filename == "invoice.txt" and sent.headers == {"X-Campaign": "spring"}
    assert [a.email for a in sent.cc] == ["cc@example.org"]


def test_send_reads_url_and_sender_from_the_environment(run):
    result = run("send", "--to", "a@example.org", "--subject", "s", "--text", "t",
                 env={"MAILCORE_URL": "memory://env", "MAILCORE_FROM": "app@example.com"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert outbox("env")[0].from_email.email == "app@example.com"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--url", "memory://", "--from", "a@example.com", "--to", "b@@example.org"], "invalid message: to[0]"),
        (
            ["--url", "nosuch://user:hunter22@h", "--from", "a@example.com", "--to", "b@example.org"],
            "configuration error",
        ),
        (["--from", "a@example.com", "--to", "b@example.org"], "no transport"),
        (["--url", "memory://?fail=9&error=rejected", "--from", "a@example.com", "--to", "b@example.org"], "not sent"),
    ],
)
def test_bad_input_prints_one_line_and_exits_non_zero(run, args, expected):
    result = run("send", *args, "--subject", "s", "--text", "t")
    assert result.exit_code != 0
    assert expected in result.output
    assert "Traceback" not in result.output
    assert "hunter22" not in result.output


def test_demo_runs_without_network_or_credentials(run):
    result = run("demo", "--no-show-message")
    assert result.exit_code == 0, result.output
    assert "delivered by memory://backup" in result.output
    assert "attempt 1: memory://primary" in result.output


def test_check_reports_steps_and_masks_secrets(run):
    result = run("check", "memory://")
    assert result.exit_code == 0, result.output
    assert "✓" in result.output


def test_help_lists_the_commands(run):
    result = run("--help")
    for name in ("send", "plugins", "demo", "check"):
        assert name in result.output


def test_demo_drains_the_embedded_outbox(run, tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    result = run("demo", "--no-show-message", "--outbox", url)
    assert result.exit_code == 0, result.output
    assert "sent=1" in result.output and "queued=0" in result.output
