"""mailcore.budget: the message deadline reaches each attempt; timeout values are validated."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore import Mailer, Message
from mailcore.budget import (
    TIMEOUT_SLACK,
    arm_timeout,
    attempt_seconds,
    end_deadline,
    positive_seconds,
    remaining_time,
    start_deadline,
)
from mailcore.config import parse_url
from mailcore.errors import ConfigurationError, SendTimeout
from mailcore.policy import RetryPolicy
from mailcore.result import Delivery
from mailcore.transport import ProviderTransport


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_deadline_an_attempt_gets_its_timeout():
    assert remaining_time() is None
    assert attempt_seconds(30.0) == 30.0


def test_an_attempt_gets_the_time_left_when_that_is_shorter():
    clock = FakeClock()
    token = start_deadline(10.0, clock)
    try:
        assert attempt_seconds(30.0) == 10.0
        clock.now += 7.5
        assert attempt_seconds(30.0) == pytest.approx(2.5)
        assert attempt_seconds(1.0) == 1.0
        clock.now += 5
        with pytest.raises(SendTimeout) as caught:
            attempt_seconds(30.0)
        assert not caught.value.maybe_sent
    finally:
        end_deadline(token)
    assert remaining_time() is None


def test_an_inner_layer_never_restarts_the_deadline():
    clock = FakeClock()
    outer = start_deadline(10.0, clock)
    clock.now += 4
    assert start_deadline(60.0, clock) is None  # the outer one keeps counting
    assert remaining_time() == pytest.approx(6.0)
    end_deadline(outer)


class Budgeted(ProviderTransport):
    """Records the budget each attempt was given."""

    name = "budgeted://"
    timeout = 30.0

    def __init__(self) -> None:
        self.budgets: list[float] = []

    def deliver(self, message: Message) -> Delivery:
        self.budgets.append(attempt_seconds(self.timeout))
        return Delivery(provider_message_id="x")


def test_the_policy_deadline_reaches_the_leaf_transport():
    leaf = Budgeted()
    Mailer(leaf, retry=RetryPolicy(deadline=3), state="memory://").send(
        Message("a@example.com", ["b@example.org"], "s", text="t")
    )
    assert 0 < leaf.budgets[0] <= 3


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "soon", None])
def test_timeouts_must_be_finite_and_positive(value):
    with pytest.raises(ConfigurationError, match="timeout"):
        positive_seconds(value, "timeout", "x://")


def test_url_seconds_are_validated_and_parsed():
    assert parse_url("memory://a?timeout=2.5").get_seconds("timeout", 30.0) == 2.5
    assert parse_url("memory://a").get_seconds("timeout", 30.0) == 30.0
    with pytest.raises(ConfigurationError, match="finite"):
        parse_url("memory://a?timeout=nan").get_seconds("timeout", 30.0)
    with pytest.raises(ConfigurationError, match="finite"):
        parse_url("memory://a?weight=inf").get_float("weight")


@pytest.mark.parametrize("deadline", [math.nan, math.inf, 0, -1])
def test_retry_deadline_must_be_finite_and_positive(deadline):
    with pytest.raises(ConfigurationError, match="deadline"):
        RetryPolicy(deadline=deadline)


def test_the_message_expiry_caps_the_deadline_and_then_refuses_attempts():
    from datetime import UTC, datetime, timedelta

    from mailcore.budget import expiry_error
    from mailcore.errors import MessageExpired
    from mailcore.outbox.lifetimes import expiry_reason

    clock = FakeClock()
    expires = datetime.now(UTC) + timedelta(seconds=10)
    token = start_deadline(30.0, clock, expires=expires)
    try:
        assert 9.0 < remaining_time() <= 10.0  # the expiry is the earlier bound
        assert expiry_error() is None
        assert expiry_error(ahead=math.inf) is not None  # the expiry is what bounds this message
        clock.now += 10.0
        with pytest.raises(MessageExpired) as err:
            attempt_seconds(30.0)
        assert str(err.value) == f"not sent: {expiry_reason(expires.timestamp())}"
        assert err.value.reason == "expired" and err.value.expires_at == expires.timestamp()
    finally:
        end_deadline(token)


def test_a_shorter_policy_deadline_stays_a_timeout_not_an_expiry():
    from datetime import UTC, datetime, timedelta

    from mailcore.budget import expiry_error

    clock = FakeClock()
    token = start_deadline(5.0, clock, expires=datetime.now(UTC) + timedelta(hours=1))
    try:
        assert remaining_time() == 5.0
        assert expiry_error(ahead=math.inf) is None
        clock.now += 6.0
        with pytest.raises(SendTimeout):
            attempt_seconds(30.0)
    finally:
        end_deadline(token)


def test_an_expiry_alone_starts_a_deadline():
    from datetime import UTC, datetime, timedelta

    clock = FakeClock()
    token = start_deadline(None, clock, expires=datetime.now(UTC) + timedelta(seconds=60))
    try:
        assert 59.0 < remaining_time() <= 60.0
    finally:
        end_deadline(token)
    assert start_deadline(None, clock) is None


class CountingSocket:
    """Stands in for a socket: remembers its timeout and counts ``settimeout`` calls."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.sets = 0

    def gettimeout(self) -> float | None:
        return self.timeout

    def settimeout(self, value: float | None) -> None:
        self.sets += 1
        self.timeout = value


@given(
    current=st.one_of(st.none(), st.just(0.0), st.floats(min_value=1e-6, max_value=120)),
    wanted=st.floats(min_value=1e-6, max_value=120),
)
def test_arm_timeout_sets_the_socket_only_when_it_is_further_than_the_slack(current, wanted):
    """The timeout in effect is never more than TIMEOUT_SLACK away from the time left, and a
    socket already that close keeps its timeout (no system call)."""
    sock = CountingSocket(current)
    armed = arm_timeout(sock, wanted)  # type: ignore[arg-type]
    assert armed == sock.timeout
    assert armed is not None and armed > 0
    assert abs(armed - wanted) <= TIMEOUT_SLACK
    assert armed <= wanted + TIMEOUT_SLACK  # the bound a blocking call is held to
    close = current is not None and current > 0 and abs(current - wanted) <= TIMEOUT_SLACK
    assert sock.sets == (0 if close else 1)
    assert armed == (current if close else wanted)


def test_a_connection_serving_many_attempts_keeps_its_timeout():
    """Fresh 10 s budgets, a little spent on each read: one settimeout for the lot, not one per call."""
    sock = CountingSocket(None)
    for _attempt in range(500):
        for spent in (0.0, 0.0004, 0.0009):
            arm_timeout(sock, 10.0 - spent)  # type: ignore[arg-type]
    assert sock.sets == 1
    arm_timeout(sock, 9.9)  # the attempt has run 100 ms: the time left is set again
    assert sock.sets == 2 and sock.timeout == 9.9
