"""Composing stacks from URLs, lists and objects: the same stack either way, nesting included."""

from __future__ import annotations

import pytest

from mailcore import Mailer
from mailcore.errors import ConfigurationError
from mailcore.policy import (
    CircuitBreaker,
    Failover,
    RateLimit,
    Retrying,
    RetryPolicy,
    RoundRobin,
    Weighted,
    build,
)
from mailcore.transports.memory import MemoryTransport

from .conftest import Scripted, make_message


def shape(transport):
    """The stack as nested (type, name) tuples, for comparing two builds."""
    children = tuple(shape(child) for child in transport.children())
    return (type(transport).__name__, transport.name, children)


def test_default_stack_of_a_failover_url():
    stack = build("failover(memory://a memory://b)", state="memory://")
    assert isinstance(stack, Failover)
    first = stack.transports[0]
    assert isinstance(first, CircuitBreaker)
    assert isinstance(first.inner, Retrying) and first.inner.policy == RetryPolicy()
    assert isinstance(first.inner.inner, MemoryTransport)
    assert stack.name == "failover(memory://a memory://b)"


def test_a_lone_url_gets_retries_and_a_breaker_that_opens_only_on_rejection():
    stack = build("memory://only", state="memory://")
    assert isinstance(stack, Retrying) and isinstance(stack.inner, CircuitBreaker) and stack.inner.rejections_only
    assert isinstance(stack.inner.inner, MemoryTransport)


def test_rate_adds_a_rate_limit_inside_the_retry_loop():
    stack = build("failover(memory://a?rate=14/s memory://b)", state="memory://")
    limit = stack.transports[0].inner.inner
    assert isinstance(limit, RateLimit) and limit.rate_text == "14/s"


def test_nesting_builds_the_tree_as_written():
    stack = build("failover(roundrobin(memory://a memory://b) memory://c)", state="memory://")
    assert isinstance(stack, Failover)
    inner, last = stack.transports
    assert isinstance(inner, RoundRobin) and [t.name for t in inner.transports] == ["memory://a", "memory://b"]
    assert isinstance(last, CircuitBreaker) and last.name == "memory://c"
    assert stack.name == "failover(roundrobin(memory://a memory://b) memory://c)"


def test_weighted_reads_weights_and_nested_composites_weigh_one():
    stack = build("weighted(memory://a?weight=3 failover(memory://b memory://c) memory://d?weight=0.5)")
    assert isinstance(stack, Weighted) and stack.weights == [3.0, 1.0, 0.5]


def test_weight_outside_weighted_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="weighted"):
        build("failover(memory://a?weight=3 memory://b)")
    with pytest.raises(ConfigurationError, match="weighted"):
        build("memory://a?weight=3")


def test_a_list_with_a_strategy_builds_the_same_stack_as_the_url():
    options = {"state": "memory://", "retry": {"attempts": 5}}
    from_list = build(["memory://a", "memory://b"], strategy="roundrobin", **options)
    from_url = build("roundrobin(memory://a memory://b)", **options)
    assert shape(from_list) == shape(from_url)
    assert from_list.transports[0].inner.policy.attempts == 5


def test_mailer_options_reach_the_stack(clock):
    mailer = Mailer(
        ["memory://a", "memory://b"], strategy="weighted", retry=None, breaker={"failures": 2},
        on_ambiguous="retry", state="memory://", clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    stack = mailer.transport
    assert isinstance(stack, Weighted) and stack.on_ambiguous == "retry"
    breaker = stack.transports[0]
    assert breaker.policy.failures == 2 and isinstance(breaker.inner, MemoryTransport)
    assert (
        Mailer.from_url("weighted(memory://a memory://b)", retry=None, state="memory://").transport.name == stack.name
    )


def test_transport_objects_are_wrapped_and_policies_are_kept():
    leaf = Scripted("a")
    ready = Failover([Scripted("x")])
    stack = build([leaf, ready], state="memory://")
    assert isinstance(stack.transports[0], CircuitBreaker) and stack.transports[0].inner.inner is leaf
    assert stack.transports[1] is ready


def test_unknown_strategy_or_option_values_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="strategy"):
        build(["memory://a", "memory://b"], strategy="random")
    with pytest.raises(ConfigurationError, match="on_ambiguous"):
        build("memory://a", on_ambiguous="sometimes")
    with pytest.raises(ConfigurationError, match="state"):
        build("memory://a", state="postgres://x")
    with pytest.raises(ConfigurationError):
        build([])


def test_retry_none_builds_no_retry_layer_and_no_deadline():
    stack = build("failover(memory://a memory://b)", retry=None, state="memory://")
    assert isinstance(stack.transports[0].inner, MemoryTransport) and stack.deadline is None


def test_secrets_stay_masked_in_the_composed_names():
    stack = build("failover(sendgrid://SG.topsecret@ memory://b)", state="memory://")
    assert "topsecret" not in f"{stack.name} {stack!r} {stack.transports[0]!r}"


def test_the_state_url_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAILCORE_STATE_URL", "memory://")
    one = build("failover(memory://a memory://b)")
    two = build("failover(memory://a memory://b)")
    assert one.transports[0].store is not two.transports[0].store


def test_a_built_stack_delivers_and_closes_every_leaf():
    stack = build("failover(memory://a?fail=1&error=rejected memory://b)", state="memory://")
    with stack:
        assert stack.send(make_message()).transport == "memory://b"
    leaves = [t.inner.inner for t in stack.transports]
    assert all(leaf.closed for leaf in leaves)
