"""Observer hooks and structured logs: the operator always knows when a backup took over."""

from __future__ import annotations

import logging

import pytest

from mailcore import Mailer, hookimpl
from mailcore.errors import ConnectionFailed, DeliveryFailed, SendTimeout, TransportRejected
from mailcore.plugins import get_plugin_manager
from mailcore.policy import MemoryStore

from .conftest import Scripted, make_message


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def mailcore_attempt_failed(self, message, attempt):
        self.events.append(("attempt_failed", attempt.transport, type(attempt.error).__name__))

    @hookimpl
    def mailcore_message_sent(self, message, result):
        self.events.append(("sent", result.transport, len(result.attempts)))

    @hookimpl
    def mailcore_message_failed(self, message, error):
        self.events.append(("failed", error.outcome, len(error.attempts)))


@pytest.fixture
def recorder():
    pm = get_plugin_manager()
    recorder = Recorder()
    pm.register(recorder, name="policy-test-recorder")
    yield recorder
    pm.unregister(recorder)


def mailer(*leaves, **options):
    options.setdefault("retry", {"attempts": 2, "jitter": False})
    return Mailer(list(leaves), state=MemoryStore(), sleep=lambda s: None, **options)


def test_hooks_see_every_failed_attempt_and_the_success(recorder):
    mailer(Scripted("a", [ConnectionFailed("x")] * 2), Scripted("b")).send(make_message())
    assert recorder.events == [
        ("attempt_failed", "scripted://a", "ConnectionFailed"),
        ("attempt_failed", "scripted://a", "ConnectionFailed"),
        ("sent", "scripted://b", 3),
    ]


def test_hooks_see_the_failure_with_its_outcome(recorder):
    with pytest.raises(DeliveryFailed):
        mailer(Scripted("a", [SendTimeout("after DATA", maybe_sent=True)]), Scripted("b")).send(make_message())
    assert recorder.events == [("attempt_failed", "scripted://a", "SendTimeout"), ("failed", "unknown", 1)]


def test_skipped_routes_are_not_reported_as_failed_attempts(recorder):
    m = mailer(Scripted("a", [TransportRejected("401")]), Scripted("b"))
    m.send(make_message(0))
    recorder.events.clear()
    result = m.send(make_message(1))  # a's breaker is open: skipped, recorded, not an attempt
    assert type(result.attempts[0].error).__name__ == "CircuitOpen"
    assert recorder.events == [("sent", "scripted://b", 2)]


def test_a_failover_logs_a_warning_with_structured_fields(caplog):
    m = mailer(Scripted("primary", [ConnectionFailed("refused")] * 2), Scripted("backup"))
    message = make_message()
    with caplog.at_level(logging.DEBUG, logger="mailcore"):
        m.send(message)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "failing over to scripted://backup" in warnings[0].getMessage()
    record = warnings[0]
    assert record.transport == "scripted://primary" and record.outcome == "failover"
    assert record.message_id == message.message_id and record.attempt == 2
    retry = next(r for r in caplog.records if r.levelno == logging.INFO)
    assert retry.attempt == 1 and retry.outcome == "retry" and retry.duration >= 0


def test_the_happy_path_logs_nothing_at_info(caplog):
    m = mailer(Scripted("a"), Scripted("b"))
    with caplog.at_level(logging.INFO, logger="mailcore"):
        for n in range(10):
            m.send(make_message(n))
    assert caplog.records == []


def test_logs_never_carry_secrets_or_bodies(caplog):
    m = Mailer(
        "failover(sendgrid://SG.verysecret@?endpoint_url=http://127.0.0.1:9 memory://b)",
        state="memory://", retry={"attempts": 1},
    )  # fmt: skip
    message = make_message().replace(text="the-secret-body")
    with caplog.at_level(logging.DEBUG, logger="mailcore"):
        m.send(message)
    assert caplog.records, "the failover must be logged"
    assert "verysecret" not in caplog.text and "the-secret-body" not in caplog.text


def test_the_final_failure_is_logged_as_an_error_with_fields(caplog):
    m = mailer(Scripted("a", [TransportRejected("401")]), Scripted("b", [TransportRejected("401")]))
    with caplog.at_level(logging.ERROR, logger="mailcore"), pytest.raises(DeliveryFailed):
        m.send(make_message())
    record = caplog.records[-1]
    assert record.outcome == "failed" and record.transport == "scripted://b" and record.attempt == 2
