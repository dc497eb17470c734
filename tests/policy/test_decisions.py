"""The decision table, one test per row (docs/policies.md, provider-errors.md §1.5)."""

from __future__ import annotations

import pytest

from mailcore.errors import (
    ConfigurationError,
    ConnectionFailed,
    DeliveryFailed,
    MessageRejected,
    PermanentError,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.policy import Action, CircuitOpen, RetryPolicy, build, decide
from mailcore.policy.decisions import Verdict, breaker_verdict
from mailcore.result import Attempt

from .conftest import Scripted

RETRY = RetryPolicy(attempts=3, first_delay=1.0, multiplier=2.0, jitter=False, deadline=60.0)


def stack(clock, store, *transports, **options):
    options.setdefault("retry", RETRY)
    return build(list(transports), clock=clock, sleep=clock.sleep, state=store, **options)


def kinds(attempts):
    return [(a.transport.removeprefix("scripted://"), type(a.error).__name__ if a.error else "ok") for a in attempts]


def test_transient_error_retries_the_same_transport_then_fails_over(clock, store, message):
    a = Scripted("a", [ConnectionFailed("down")] * 3)
    b = Scripted("b")
    result = stack(clock, store, a, b).send(message)
    assert result.transport == "scripted://b"
    assert kinds(result.attempts) == [("a", "ConnectionFailed")] * 3 + [("b", "ok")]
    assert clock.sleeps == [1.0, 2.0]  # backoff between the three tries of a; none before b
    assert result.failed_over


def test_transient_error_that_clears_on_retry_stays_on_the_transport(clock, store, message):
    a = Scripted("a", [TransientError("451 try later")])
    b = Scripted("b")
    result = stack(clock, store, a, b).send(message)
    assert result.transport == "scripted://a"
    assert kinds(result.attempts) == [("a", "TransientError"), ("a", "ok")]
    assert b.calls == []


def test_transport_rejected_fails_over_at_once_and_opens_the_breaker(clock, store, message):
    a = Scripted("a", [TransportRejected("535 bad credentials")] * 5)
    b = Scripted("b")
    composed = stack(clock, store, a, b)
    result = composed.send(message)
    assert kinds(result.attempts) == [("a", "TransportRejected"), ("b", "ok")]
    assert clock.sleeps == []  # no retry, no backoff
    assert composed.transports[0].status == "open"
    second = composed.send(message)  # a is parked: skipped without being called
    assert len(a.calls) == 1
    assert kinds(second.attempts) == [("a", "CircuitOpen"), ("b", "ok")]
    assert isinstance(second.attempts[0].error, CircuitOpen)


def test_message_rejected_stops_without_retry_or_failover(clock, store, message):
    a = Scripted("a", [MessageRejected("554 5.7.1 spam")])
    b = Scripted("b")
    with pytest.raises(DeliveryFailed) as caught:
        stack(clock, store, a, b).send(message)
    assert len(a.calls) == 1 and b.calls == []
    assert caught.value.outcome == "failed" and not caught.value.transient
    assert kinds(caught.value.attempts) == [("a", "MessageRejected")]


def test_ambiguous_timeout_is_neither_retried_nor_failed_over(clock, store, message):
    a = Scripted("a", [SendTimeout("no reply after DATA", maybe_sent=True)])
    b = Scripted("b")
    with pytest.raises(DeliveryFailed) as caught:
        stack(clock, store, a, b).send(message)
    assert len(a.calls) == 1 and b.calls == []
    assert caught.value.outcome == "unknown"
    assert not caught.value.transient  # an outbox must not resend it blindly


def test_ambiguous_timeout_is_retried_and_failed_over_when_opted_in(clock, store, message):
    ambiguous = SendTimeout("no reply after DATA", maybe_sent=True)
    a = Scripted("a", [ambiguous] * 3)
    b = Scripted("b")
    result = stack(clock, store, a, b, on_ambiguous="retry").send(message)
    assert result.transport == "scripted://b"
    assert len(a.calls) == 3


def test_timeout_before_hand_over_fails_over_at_once(clock, store, message):
    """A hang is not retried on the same transport: the backup gets the message now."""
    a = Scripted("a", [SendTimeout("connect timed out", maybe_sent=False)])
    result = stack(clock, store, a, Scripted("b")).send(message)
    assert kinds(result.attempts) == [("a", "SendTimeout"), ("b", "ok")]
    assert len(a.calls) == 1


def test_configuration_error_is_raised_and_never_retried(clock, store, message):
    class Misconfigured(Scripted):
        def deliver(self, msg):
            self.calls.append(msg.message_id)
            raise ConfigurationError("no API key")

    a = Misconfigured("a")
    b = Scripted("b")
    with pytest.raises(ConfigurationError):
        stack(clock, store, a, b).send(message)
    assert len(a.calls) == 1 and b.calls == []


def test_rate_limited_retry_after_is_honoured_when_it_fits_the_deadline(clock, store, message):
    a = Scripted("a", [RateLimited("429", retry_after=7.0)])
    result = stack(clock, store, a, Scripted("b")).send(message)
    assert result.transport == "scripted://a"
    assert clock.sleeps == [7.0]


def test_rate_limited_retry_after_beyond_the_deadline_moves_on(clock, store, message):
    a = Scripted("a", [RateLimited("429", retry_after=600.0)])
    result = stack(clock, store, a, Scripted("b")).send(message)
    assert result.transport == "scripted://b"
    assert clock.sleeps == []


def test_other_permanent_error_fails_over_without_retry(clock, store, message):
    a = Scripted("a", [PermanentError("552 too big for this relay")])
    result = stack(clock, store, a, Scripted("b")).send(message)
    assert kinds(result.attempts) == [("a", "PermanentError"), ("b", "ok")]


def test_delivery_failed_lists_every_attempt_with_duration(clock, store, message):
    a = Scripted("a", [ConnectionFailed("refused")] * 3, clock=clock, cost=0.25)
    b = Scripted("b", [TransportRejected("401")], clock=clock, cost=0.5)
    with pytest.raises(DeliveryFailed) as caught:
        stack(clock, store, a, b).send(message)
    attempts = caught.value.attempts
    assert kinds(attempts) == [("a", "ConnectionFailed")] * 3 + [("b", "TransportRejected")]
    assert [a.duration for a in attempts] == [0.25, 0.25, 0.25, 0.5]
    assert all(isinstance(x, Attempt) for x in attempts)
    assert caught.value.transient is False  # a transport rejected it: not a "try later"


def test_every_retry_and_failover_carries_the_same_message(clock, store, message):
    seen = []

    class Recording(Scripted):
        def deliver(self, msg):
            seen.append(msg)
            return super().deliver(msg)

    a = Recording("a", [ConnectionFailed("x")] * 3)
    b = Recording("b")
    stack(clock, store, a, b).send(message)
    assert len(seen) == 4
    assert all(m is message for m in seen)
    assert {m.message_id for m in seen} == {message.message_id}
    assert {m.correlation_id for m in seen} == {message.correlation_id}


def test_no_attempt_starts_after_the_deadline(clock, store, message):
    a = Scripted("a", [ConnectionFailed("slow")] * 3, clock=clock, cost=25.0)
    b = Scripted("b")
    start = clock()
    with pytest.raises(DeliveryFailed) as caught:
        stack(clock, store, a, b).send(message)
    assert b.calls == []  # the deadline passed during a's third try
    assert caught.value.transient  # the outbox will try again later
    assert clock() - start < 60.0 + 25.0  # only the last attempt, already started, ran past it


def test_nested_failover_stops_the_outer_one_on_message_rejected(clock, store, message):
    a = Scripted("a", [ConnectionFailed("x")] * 3)
    b = Scripted("b", [MessageRejected("bad content")])
    c = Scripted("c")
    inner = build([a, b], clock=clock, sleep=clock.sleep, state=store, retry=RETRY)
    outer = build([inner, c], clock=clock, sleep=clock.sleep, state=store, retry=RETRY)
    with pytest.raises(DeliveryFailed):
        outer.send(message)
    assert c.calls == []


@pytest.mark.parametrize(
    ("error", "on_ambiguous", "action"),
    [
        (TransientError("x"), "fail", Action.RETRY),
        (ConnectionFailed("x"), "fail", Action.RETRY),
        (RateLimited("x"), "fail", Action.RETRY),
        (SendTimeout("x"), "fail", Action.NEXT),
        (SendTimeout("x", maybe_sent=True), "fail", Action.STOP),
        (SendTimeout("x", maybe_sent=True), "retry", Action.RETRY),
        (TransportRejected("x"), "fail", Action.NEXT),
        (PermanentError("x"), "fail", Action.NEXT),
        (MessageRejected("x"), "retry", Action.STOP),
        (CircuitOpen("x"), "fail", Action.NEXT),
        (None, "fail", Action.NEXT),
    ],
)
def test_decide_is_the_table(error, on_ambiguous, action):
    assert decide(error, on_ambiguous) is action


def test_decide_looks_through_nested_delivery_failed():
    nested = DeliveryFailed("inner", attempts=[Attempt("a", MessageRejected("x"), 0.0)])
    assert decide(nested) is Action.STOP


@pytest.mark.parametrize(
    ("errors", "verdict"),
    [
        ([TransportRejected("x")], Verdict.TRIP),
        ([ConnectionFailed("x"), TransportRejected("x")], Verdict.TRIP),
        ([ConnectionFailed("x")], Verdict.FAILURE),
        ([ConnectionFailed("x"), CircuitOpen("x")], Verdict.FAILURE),
        ([CircuitOpen("x")], Verdict.NEUTRAL),
        ([MessageRejected("x")], Verdict.SUCCESS),
    ],
)
def test_breaker_verdict(errors, verdict):
    failed = DeliveryFailed("x", attempts=[Attempt("a", e, 0.0) for e in errors])
    assert breaker_verdict(failed) is verdict
    if len(errors) == 1:
        assert breaker_verdict(errors[0]) is verdict
