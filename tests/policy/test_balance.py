"""Round-robin and weighted balancing, skipping open breakers and used-up limits."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mailcore.errors import ConfigurationError, ConnectionFailed, TransportRejected
from mailcore.policy import CircuitBreaker, RoundRobin, Weighted, build

from .conftest import Scripted, make_message

N = 3000


def spread(stack, n=N):
    return Counter(stack.send(make_message(i)).transport for i in range(n))


def test_round_robin_over_three_splits_3000_messages_evenly(store):
    leaves = [Scripted(name) for name in "abc"]
    counts = spread(build(leaves, strategy="roundrobin", state=store))
    for leaf in leaves:
        assert abs(counts[leaf.name] - N / 3) <= 0.05 * N / 3


def test_round_robin_starts_at_a_random_transport():
    starts = {RoundRobin([Scripted(n) for n in "abc"], random=lambda v=v: v).order()[0].name for v in (0.0, 0.5, 0.9)}
    assert starts == {"scripted://a", "scripted://b", "scripted://c"}


def test_weighted_three_to_one_within_three_points():
    heavy, light = Scripted("heavy"), Scripted("light")
    counts = spread(Weighted([(heavy, 3), (light, 1)], random=random.Random(1234).random))
    assert abs(counts[heavy.name] / N * 100 - 75) <= 3


def test_weighted_from_a_url_with_weights(store):
    stack = build("weighted(memory://heavy?weight=3 memory://light)", state=store, random=random.Random(7).random)
    counts = spread(stack)
    assert abs(counts["memory://heavy"] / N * 100 - 75) <= 3


def test_round_robin_skips_an_open_breaker_and_splits_over_the_rest(clock, store):
    dead = Scripted("dead", [TransportRejected("401")])
    alive = [Scripted("b"), Scripted("c")]
    stack = build([dead, *alive], strategy="roundrobin", state=store, clock=clock, sleep=clock.sleep)
    counts = spread(stack, 600)
    assert len(dead.calls) == 1
    assert abs(counts["scripted://b"] - counts["scripted://c"]) <= 2


def test_weighted_skips_an_open_breaker(clock, store):
    dead = Scripted("dead", [TransportRejected("401")])
    alive = Scripted("alive")
    stack = Weighted(
        [(CircuitBreaker(dead, store=store, clock=clock), 9), (CircuitBreaker(alive, store=store, clock=clock), 1)],
        random=random.Random(3).random,
    )
    counts = spread(stack, 200)
    assert len(dead.calls) == 1 and counts["scripted://alive"] == 200


def test_balancer_fails_over_to_the_others_on_failure(clock, store):
    flaky = Scripted("flaky", [ConnectionFailed("x")] * 30)
    steady = Scripted("steady")
    stack = build(
        [flaky, steady], strategy="roundrobin", state=store, clock=clock, sleep=clock.sleep,
        retry={"attempts": 1}, breaker=None,
    )  # fmt: skip
    counts = spread(stack, 40)
    assert counts["scripted://steady"] >= 30 and sum(counts.values()) == 40


def test_balancer_with_every_route_resting_tries_them_in_order_and_fails_transiently(clock, store):
    from mailcore.errors import DeliveryFailed

    leaves = [Scripted(n, [TransportRejected("401")]) for n in "ab"]
    stack = build(leaves, strategy="roundrobin", state=store, clock=clock)
    with pytest.raises(DeliveryFailed):
        stack.send(make_message())
    with pytest.raises(DeliveryFailed) as caught:
        stack.send(make_message())
    assert caught.value.transient and {type(a.error).__name__ for a in caught.value.attempts} == {"CircuitOpen"}
    assert stack.route() is None


def test_weighted_needs_positive_weights():
    with pytest.raises(ConfigurationError):
        Weighted([(Scripted("a"), 0)])
    with pytest.raises(ConfigurationError):
        Weighted([Scripted("a")], weights=[1, 2])
