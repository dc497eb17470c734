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
    assert [line for line in lines if not line.startswith(" ")] == ["crashing://", "memory://a", "memory://b"]
    assert "RuntimeError: unexpected error in this check" in result.output and "hunter22" not in result.output
    assert CrashingCheck.closed >= 1


def test_plugins_json_lists_capabilities_per_scheme(run):
    import json

    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    core = next(info for info in json.loads(result.output) if info["name"] == "mailcore")
    assert "provider_template" in core["capabilities"]["memory"]
