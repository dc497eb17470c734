"""``mailcore explain``: the composed stack, live state, secrets masked."""

from __future__ import annotations

from click.testing import CliRunner

from mailcore.cli import cli
from mailcore.policy import open_state


def explain(*args, env=None):
    result = CliRunner().invoke(cli, ["explain", *args], env=env or {}, catch_exceptions=False)
    return result


def test_explain_prints_the_tree_and_the_next_route():
    result = explain("failover(memory://a?rate=14/s weighted(memory://b?weight=3 memory://c))", "--state", "memory://")
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ("failover", "breaker closed", "retry ×3", "rate limit 14/s (14 left", "memory://a",
                 "weighted (memory://b 75%, memory://c 25%)", "next message → memory://a"):  # fmt: skip
        assert text in out, out


def test_explain_masks_secrets():
    result = explain("failover(sendgrid://SG.supersecret@ memory://b)", "--state", "memory://")
    assert result.exit_code == 0
    assert "supersecret" not in result.output and "sendgrid://***@" in result.output


def test_explain_reads_the_url_from_the_environment():
    result = explain(env={"MAILCORE_URL": "memory://only?rate=500/d", "MAILCORE_STATE_URL": "memory://"})
    assert result.exit_code == 0
    assert "rate limit 500/d" in result.output and "over it waits" in result.output


def test_explain_shows_open_breakers_from_a_shared_store(redis_url):
    store = open_state(redis_url)
    import time

    store.breaker_failure("memory://a", time.time(), 5, 300.0, True)
    result = explain("failover(memory://a memory://b)", "--state", redis_url)
    assert result.exit_code == 0, result.output
    assert "breaker OPEN" in result.output and "next message → memory://b" in result.output
    assert "redis redis://127.0.0.1:6379/0" in result.output


def test_explain_without_a_url_is_a_one_line_error():
    result = CliRunner().invoke(cli, ["explain"], env={"MAILCORE_URL": ""})
    assert result.exit_code != 0 and "no URL" in result.output


def test_explain_shows_the_message_deadline_once_and_each_attempt_bound_per_transport():
    """The deadline bounds the whole stack; it must not read as a per-transport figure (issue 12)."""
    result = explain("failover(memory://a memory://b)", "--state", "memory://")
    out = result.output
    assert "time budget per message: deadline 30s" in out and out.count("deadline") == 2, out
    assert "time budget per attempt" in out


def test_explain_shows_what_each_transport_carries():
    result = CliRunner().invoke(
        cli, ["explain", "failover(memory://a?lacks=provider_template,calendar memory://b)", "--state", "memory://"],
        env={"COLUMNS": "200"}, catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    a = next(line for line in lines if "memory://a" in line and "carries" in line)
    b = next(line for line in lines if "memory://b" in line and "carries" in line)
    assert "provider_template" not in a and "calendar" not in a and "tags" in a
    assert "provider_template" in b and "calendar" in b
