"""Per-transport rate limits (?rate=N/s|m|h|d) over the limits library."""

from __future__ import annotations

import pytest

from mailcore import Mailer
from mailcore.errors import ConfigurationError, DeliveryFailed
from mailcore.policy import LimitReached, RateLimit, Retrying, RetryPolicy, build, parse_rate
from mailcore.policy.ratelimit import rate_text
from mailcore.testing import outbox

from .conftest import Scripted, make_message


@pytest.mark.parametrize(
    ("text", "amount", "seconds"),
    [
        ("14/s", 14, 1),
        ("500/d", 500, 86400),
        ("100/m", 100, 60),
        ("1000/h", 1000, 3600),
        ("10/5s", 10, 5),
        ("14/second", 14, 1),
        (" 3 / min ", 3, 60),
    ],
)
def test_parse_rate(text, amount, seconds):
    rate = parse_rate(text)
    assert rate.amount == amount and rate.get_expiry() == seconds


@pytest.mark.parametrize("text", ["", "14", "fast", "0/s", "14/w", "-1/s", "14/s/s"])
def test_bad_rates_are_configuration_errors(text):
    with pytest.raises(ConfigurationError, match="rate="):
        parse_rate(text)


def test_rate_text_round_trips():
    assert rate_text(parse_rate("14/s")) == "14/s"
    assert rate_text(parse_rate("10/5s")) == "10/5s"


def test_over_the_limit_the_next_transport_takes_the_message():
    mailer = Mailer("failover(memory://limited?rate=2/h memory://spare)", state="memory://")
    results = [mailer.send(make_message(n)) for n in range(5)]
    assert [r.transport for r in results] == ["memory://limited"] * 2 + ["memory://spare"] * 3
    skipped = results[2].attempts[0]
    assert isinstance(skipped.error, LimitReached) and skipped.transport == "memory://limited"
    assert skipped.error.retry_after and 0 < skipped.error.retry_after <= 3600
    assert len(outbox("limited")) == 2 and len(outbox("spare")) == 3


def test_rate_and_weight_are_taken_off_before_the_factory_sees_them():
    # memory:// rejects unknown parameters, so this only builds when build strips them
    stack = build("weighted(memory://a?rate=14/s&weight=3 memory://b?rate=500/d)", state="memory://")
    assert stack.weights == [3.0, 1.0]


def test_a_limit_is_shared_by_stacks_using_the_same_store(store):
    one = build("failover(memory://shared?rate=3/h memory://other)", state=store)
    two = build("failover(memory://shared?rate=3/h memory://other)", state=store)
    sent = [s.send(make_message(n)).transport for n, s in enumerate([one, two] * 3)]
    assert sent.count("memory://shared") == 3


class FakeLimiter:
    """A fixed-window limiter on the fake clock, to test waiting without sleeping."""

    def __init__(self, clock, amount, window):
        self.clock, self.amount, self.window = clock, amount, window
        self.start, self.used = clock(), 0

    def _roll(self):
        if self.clock() >= self.start + self.window:
            self.start, self.used = self.clock(), 0

    def acquire(self):
        self._roll()
        if self.used < self.amount:
            self.used += 1
            return True
        return False

    def peek(self):
        self._roll()
        return self.used < self.amount

    def wait_time(self):
        self._roll()
        return 0.0 if self.used < self.amount else self.start + self.window - self.clock()

    def remaining(self):
        self._roll()
        return self.amount - self.used


def limited_stack(clock, leaf, amount, window, *, wait, deadline=60.0):
    limit = RateLimit(
        leaf, "1/s", wait=wait, clock=clock, sleep=clock.sleep, limiter=FakeLimiter(clock, amount, window)
    )
    return Retrying(limit, RetryPolicy(deadline=deadline), clock=clock, sleep=clock.sleep)


def test_the_only_transport_waits_for_a_slot_when_the_deadline_allows(clock):
    leaf = Scripted("only")
    stack = limited_stack(clock, leaf, amount=2, window=10.0, wait=True)
    for n in range(5):
        stack.send(make_message(n))
    assert len(leaf.delivered) == 5
    assert clock.sleeps == [10.0, 10.0]


def test_the_only_transport_does_not_wait_past_the_deadline(clock):
    leaf = Scripted("only")
    stack = limited_stack(clock, leaf, amount=1, window=3600.0, wait=True)
    stack.send(make_message(0))
    with pytest.raises(DeliveryFailed) as caught:
        stack.send(make_message(1))
    assert isinstance(caught.value.last_error, LimitReached)
    assert caught.value.transient and clock.sleeps == []


def test_without_wait_the_limit_moves_on_immediately(clock):
    stack = limited_stack(clock, Scripted("a"), amount=1, window=5.0, wait=False)
    stack.send(make_message(0))
    with pytest.raises(DeliveryFailed):
        stack.send(make_message(1))
    assert clock.sleeps == []


def test_build_makes_only_a_lone_transport_wait():
    lone = build("memory://lone?rate=5/s", state="memory://")
    shared = build("failover(memory://a?rate=5/s memory://b)", state="memory://")
    assert lone.inner.inner.wait is True
    assert shared.transports[0].inner.inner.wait is False


def test_rate_limit_availability_does_not_consume_a_slot(store):
    limit = RateLimit(Scripted("a"), "1/h", store=store)
    assert limit.available() and limit.available()
    limit.send(make_message(0))
    assert not limit.available()
    assert "used up" in limit.describe()


def test_named_memory_state_is_shared_by_mailers_of_the_process():
    def mailer():
        return Mailer("failover(memory://quota?rate=2/h memory://spare)", state="memory://app")

    sent = [mailer().send(make_message(n)).transport for n in range(4)]  # a new Mailer per message
    assert sent == ["memory://quota"] * 2 + ["memory://spare"] * 2
    private = [Mailer("failover(memory://quota?rate=2/h memory://spare)").send(make_message()) for _ in range(3)]
    assert {r.transport for r in private} == {"memory://quota"}  # default: each Mailer its own
