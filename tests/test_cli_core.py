"""The mailcore command line: one-line errors, no tracebacks, secrets masked."""

import pytest
from click.testing import CliRunner

from mailcore import plugins
from mailcore.cli import cli
from mailcore.result import Delivery
from mailcore.testing import outbox
from mailcore.transport import ProviderTransport


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


class PartlyRefusing(ProviderTransport):
    """Accepts a message but refuses one recipient, as an SMTP server may after RCPT TO."""

    name = "partial://"

    def deliver(self, message):
        return Delivery(provider_message_id="p-1", rejected={message.recipients[-1].email: "550 no such user"})


class CrashingCheck(ProviderTransport):
    """A plugin whose check() has a bug; its text must not be printed (it could hold a secret)."""

    name = "crashing://"
    closed = 0

    def deliver(self, message):
        raise AssertionError("never sent")

    def check(self):
        raise RuntimeError("token=hunter22")

    def close(self):
        CrashingCheck.closed += 1


@pytest.fixture
def test_schemes(fresh_plugins):
    registry = plugins.get_registry()
    registry.add("partial", lambda url: PartlyRefusing())
    registry.add("crashing", lambda url: CrashingCheck())
    CrashingCheck.closed = 0


def test_send_exit_status_tells_a_partial_refusal_from_a_failure(run, test_schemes):
    result = run("send", "--url", "partial://", "--from", "a@example.com", "--to", "b@example.org",
                 "--to", "gone@example.org", "--subject", "s", "--text", "t")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "sent <" in result.output and "refused gone@example.org: 550 no such user" in result.output
    usage = run("send", "--from", "a@example.com", "--subject", "s", "--bogus")
    failure = run("send", "--url", "memory://?fail=9&error=message", "--from", "a@example.com",
                  "--to", "b@example.org", "--subject", "s", "--text", "t")  # fmt: skip
    assert (usage.exit_code, failure.exit_code) == (2, 1)


def test_send_rejects_a_body_file_that_is_not_utf8(run, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes(b"\xff\xfe caf\xe9")
    result = run("send", "--url", "memory://", "--from", "a@example.com", "--to", "b@example.org",
                 "--subject", "s", "--text-file", str(body))  # fmt: skip
    assert result.exit_code == 2 and "not UTF-8 text" in result.output


@pytest.mark.parametrize(
    "url",
    [
        "smtp://user:hunter/22@127.0.0.1:1",
        "smtp://user:hunter#22@127.0.0.1:1",
        "failover(smtp://user:hunter(22@127.0.0.1:1 memory://)",
        "failover(memory:// nosuch://user:hunter22@127.0.0.1)",
        "failover(memory:// memory://?api_key=hunter22)",
    ],
)
@pytest.mark.parametrize("command", ["send", "check", "explain"])
def test_cli_errors_never_print_a_password(run, command, url):
    args = ["--from", "a@example.com", "--to", "b@example.org", "--subject", "s", "--text", "t"]
    result = run(command, *(["--url", url, *args] if command == "send" else [url]))
    assert result.exit_code == 1
    assert "hunter" not in result.output and "Traceback" not in result.output


def test_check_walks_every_leaf_of_a_composite_and_survives_a_crashing_check(run, test_schemes):
    result = run("check", "failover(crashing:// roundrobin(memory://a memory://b))")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == [
        "configuration", "crashing://", "memory://a", "memory://b",
    ]  # fmt: skip
    assert "RuntimeError: unexpected error in this check" in result.output and "hunter22" not in result.output
    assert CrashingCheck.closed >= 1


def test_check_validates_every_parameter_offline_before_any_network_step(run):
    result = run("check", "failover(memory://a?fial=1 smtp://user:hunter22@192.0.2.1:587?timout=5)")
    assert result.exit_code == 1
    assert "fial" in result.output and "did you mean 'fail'?" in result.output
    assert "timout" in result.output and "did you mean 'timeout'?" in result.output
    assert "hunter22" not in result.output
    assert "memory://a\n" not in result.output and "tcp" not in result.output.lower(), "no network step ran"


def test_send_without_a_recipient_is_a_usage_error(run):
    result = run("send", "--url", "memory://", "--from", "a@example.com", "--subject", "s", "--text", "t")
    assert result.exit_code == 2 and "no recipient: pass --to" in result.output


def test_a_failed_send_is_one_line_naming_the_transport_once(run, caplog):
    with caplog.at_level("DEBUG", logger="mailcore"):
        result = run("send", "--url", "memory://solo?fail=9&error=rejected", "--from", "a@example.com",
                     "--to", "b@example.org", "--subject", "s", "--text", "t")  # fmt: skip
    assert result.exit_code == 1
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert line.count("memory://solo") == 1 and "1 attempt; last:" in line
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "the CLI prints the failure, once"


@pytest.mark.parametrize(
    ("rows", "expected_exit", "summary"),
    [
        (["ana@example.org,Ana", "bo@example.org,Bo"], 0, "2 rendered, 0 failed to render"),
        (["ana@example.org,Ana", "not-an-address,Bo"], 1, "1 rendered, 1 failed to render"),
    ],
)
def test_send_bulk_dry_run_counts_what_it_rendered_and_fails_on_a_bad_row(run, tmp_path, rows, expected_exit, summary):
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("email,name\n" + "\n".join(rows) + "\n")
    result = run("send-bulk", "--url", "memory://", "--from", "a@example.com", "--subject", "Hi {name}",
                 "--text", "Hello {name}", "--csv", str(csv_file), "--dry-run", "10")  # fmt: skip
    assert result.exit_code == expected_exit, result.output
    assert summary in result.output and "10 shown" not in result.output


def test_demo_prints_no_since_start_rate(run):
    result = run("demo", "--no-show-message")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("worker:")]
    assert "sent 1" in line and "/s" not in line
