"""RetryPolicy as a value, and the Retrying transport on its own."""

from __future__ import annotations

import dataclasses

import pytest

from mailcore.errors import ConfigurationError, ConnectionFailed, DeliveryFailed, RateLimited
from mailcore.policy import Retrying, RetryPolicy
from mailcore.policy.base import end_deadline, remaining_time, start_deadline

from .conftest import Scripted


def test_retry_policy_is_immutable_and_hashable():
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.attempts = 5
    assert policy == RetryPolicy() and hash(policy) == hash(RetryPolicy())
    assert policy.replace(attempts=5).attempts == 5 and policy.attempts == 3


def test_backoff_grows_by_the_multiplier_up_to_the_cap():
    policy = RetryPolicy(first_delay=0.5, multiplier=2, cap=3.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("multiplier", [2.0, 3, 1.5])
def test_backoff_stays_at_the_cap_for_huge_retry_numbers(multiplier):
    """An outbox asks for run 10 000 of a week-old message: ``multiplier ** n`` must not overflow."""
    policy = RetryPolicy(first_delay=10.0, multiplier=multiplier, cap=900.0, jitter=False)
    for n in (1_100, 10_000, 10**9):
        assert policy.backoff(n) == 900.0 and policy.delay(n) == 900.0
    assert RetryPolicy(first_delay=0.0, cap=5.0).backoff(10**6) == 0.0


def test_full_jitter_is_pure_given_the_random_source():
    policy = RetryPolicy(first_delay=1.0, multiplier=2, cap=30.0)
    assert policy.delay(3, lambda: 0.25) == 1.0  # uniform in [0, 4): 0.25 × 4
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.25) == policy.delay(3, lambda: 0.25)


@pytest.mark.parametrize(
    "options",
    [{"attempts": 0}, {"first_delay": -1}, {"multiplier": 0.5}, {"deadline": 0}, {"cap": -2}],
)
def test_invalid_policies_are_configuration_errors(options):
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)


def test_coerce_accepts_dicts_and_none_and_names_unknown_options():
    assert RetryPolicy.coerce({"attempts": 5}) == RetryPolicy(attempts=5)
    assert RetryPolicy.coerce(None) is None and RetryPolicy.coerce(False) is None
    assert RetryPolicy.coerce(True) == RetryPolicy()
    with pytest.raises(ConfigurationError, match="tries"):
        RetryPolicy.coerce({"tries": 5})
    with pytest.raises(ConfigurationError):
        RetryPolicy.coerce(3)


def test_retrying_alone_gives_up_after_its_attempts(clock, message):
    leaf = Scripted("a", [ConnectionFailed("x")] * 10)
    retrying = Retrying(leaf, RetryPolicy(attempts=4, jitter=False), clock=clock, sleep=clock.sleep)
    with pytest.raises(DeliveryFailed) as caught:
        retrying.send(message)
    assert len(leaf.calls) == 4 and len(caught.value.attempts) == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert caught.value.transient


def test_retrying_uses_the_injected_random_for_jitter(clock, message):
    leaf = Scripted("a", [ConnectionFailed("x")] * 2)
    retrying = Retrying(leaf, RetryPolicy(first_delay=2.0), clock=clock, sleep=clock.sleep, random=lambda: 0.5)
    retrying.send(message)
    assert clock.sleeps == [1.0, 2.0]


def test_retry_after_without_deadline_is_honoured_only_up_to_the_cap(clock, message):
    leaf = Scripted("a", [RateLimited("429", retry_after=45.0)])
    retrying = Retrying(leaf, RetryPolicy(deadline=None, cap=30.0), clock=clock, sleep=clock.sleep)
    with pytest.raises(DeliveryFailed):
        retrying.send(message)
    assert clock.sleeps == []


def test_backoff_that_would_cross_the_deadline_gives_up(clock, message):
    leaf = Scripted("a", [ConnectionFailed("x")] * 3, clock=clock, cost=9.0)
    policy = RetryPolicy(attempts=5, first_delay=4.0, jitter=False, deadline=20.0)
    with pytest.raises(DeliveryFailed) as caught:
        Retrying(leaf, policy, clock=clock, sleep=clock.sleep).send(message)
    # t=9 fail, wait 4 (13), t=22 fail: deadline passed, no third try
    assert len(caught.value.attempts) == 2 and clock.sleeps == [4.0]


def test_deadline_scope_is_set_once_by_the_outermost_layer(clock):
    assert remaining_time(clock) is None
    outer = start_deadline(10.0, clock)
    inner = start_deadline(99.0, clock)
    assert inner is None and remaining_time(clock) == 10.0
    end_deadline(inner)
    end_deadline(outer)
    assert remaining_time(clock) is None


def test_retrying_rejects_an_unknown_on_ambiguous():
    with pytest.raises(ConfigurationError, match="on_ambiguous"):
        Retrying(Scripted("a"), on_ambiguous="maybe")
