"""The circuit breaker: skip a dead transport, probe it after the cooldown, close on success."""

from __future__ import annotations

import threading

import pytest

from mailcore.errors import ConfigurationError, ConnectionFailed, DeliveryFailed, MessageRejected, TransportRejected
from mailcore.policy import BreakerPolicy, CircuitBreaker, CircuitOpen, Failover, MemoryStore, build
from mailcore.policy.state import BreakerState

from .conftest import Scripted, race_half_open_breaker


def breaker(leaf, clock, store, **policy):
    return CircuitBreaker(leaf, BreakerPolicy(**policy), store=store, clock=clock)


def test_breaker_skips_a_dead_transport_after_n_failures_and_probes_after_cooldown(clock, store, message):
    dead = Scripted("dead", [ConnectionFailed("refused")] * 4)
    backup = Scripted("backup")
    stack = build(
        [dead, backup], retry=None, breaker={"failures": 3, "cooldown": 30.0},
        clock=clock, sleep=clock.sleep, state=store,
    )  # fmt: skip
    for _ in range(3):
        assert stack.send(message).transport == "scripted://backup"
    assert len(dead.calls) == 3
    guarded = stack.transports[0]
    assert guarded.status == "open" and not guarded.available()

    for _ in range(5):  # open: dead is never called
        stack.send(message)
    assert len(dead.calls) == 3

    clock.advance(30.0)
    assert guarded.status == "half-open" and guarded.available()
    stack.send(message)  # the probe fails: open again for another cooldown
    assert len(dead.calls) == 4 and guarded.status == "open"

    clock.advance(30.0)
    result = stack.send(message)  # the probe succeeds: closed
    assert result.transport == "scripted://dead"
    assert guarded.status == "closed" and store.breaker(guarded.key) == BreakerState()


def test_transport_rejected_opens_at_once(clock, store, message):
    guarded = breaker(Scripted("a", [TransportRejected("535")]), clock, store, failures=5)
    with pytest.raises(TransportRejected):
        guarded.send(message)
    assert guarded.status == "open"
    with pytest.raises(CircuitOpen) as caught:
        guarded.send(message)
    assert caught.value.transport == "scripted://a" and caught.value.retry_at == clock() + 30.0


def test_a_success_resets_the_count_of_failures(clock, store, message):
    leaf = Scripted("a", [ConnectionFailed("x"), ConnectionFailed("x"), None, ConnectionFailed("x")])
    guarded = breaker(leaf, clock, store, failures=3)
    for _ in range(2):
        with pytest.raises(ConnectionFailed):
            guarded.send(message)
    guarded.send(message)
    with pytest.raises(ConnectionFailed):
        guarded.send(message)
    assert guarded.status == "closed" and store.breaker(guarded.key).failures == 1


def test_message_rejected_does_not_count_against_the_transport(clock, store, message):
    guarded = breaker(Scripted("a", [MessageRejected("spam")] * 5), clock, store, failures=2)
    for _ in range(5):
        with pytest.raises(MessageRejected):
            guarded.send(message)
    assert guarded.status == "closed"


def test_only_one_probe_goes_through_while_half_open(clock, store, message):
    release = threading.Event()
    entered = threading.Event()

    class Slow(Scripted):
        def deliver(self, msg):
            entered.set()
            release.wait(5)
            return super().deliver(msg)

    guarded = breaker(Slow("a"), clock, store, failures=1, cooldown=10.0)
    store.breaker_failure(guarded.key, clock(), 1, 10.0, True)
    clock.advance(10.0)
    prober = threading.Thread(target=guarded.send, args=(message,))
    prober.start()
    assert entered.wait(5)
    with pytest.raises(CircuitOpen):  # a second message while the probe is in flight
        guarded.send(message)
    release.set()
    prober.join(5)
    assert guarded.status == "closed"


def test_sixteen_threads_racing_a_half_open_breaker_send_one_probe(clock, store):
    calls, outcomes = race_half_open_breaker(store, clock)
    assert len(calls) == 1
    assert sorted(outcomes) == ["CircuitOpen"] * 15 + ["sent"]


def test_probe_lease_expires_so_a_crashed_prober_does_not_block(clock, store):
    store.breaker_failure("k", clock(), 1, 10.0, True)
    clock.advance(10.0)
    assert store.breaker_acquire("k", clock(), 60.0)[0] == "probe"
    assert store.breaker_acquire("k", clock(), 60.0)[0] == "open"
    clock.advance(60.0)
    assert store.breaker_acquire("k", clock(), 60.0)[0] == "probe"


def test_a_skipped_probe_releases_the_half_open_slot(clock, store, message):
    inner_store = MemoryStore()
    limited = breaker(Scripted("inner"), clock, inner_store, failures=1)
    inner_store.breaker_failure(limited.key, clock(), 1, 30.0, True)  # inner route is open
    outer = breaker(limited, clock, store, failures=1, cooldown=10.0)
    store.breaker_failure(outer.key + "", clock(), 1, 10.0, True)
    clock.advance(10.0)
    with pytest.raises(CircuitOpen):
        outer.send(message)  # the probe met only a skip: no verdict, the slot is released
    assert store.breaker_acquire(outer.key, clock(), 60.0)[0] == "probe"


def test_failover_of_plain_breakers(clock, store, message):
    a = breaker(Scripted("a", [ConnectionFailed("x")] * 2), clock, store, failures=2)
    b = Scripted("b")
    failover = Failover([a, b])
    failover.send(message)
    failover.send(message)
    assert a.status == "open"
    with pytest.raises(DeliveryFailed):
        Failover([a]).send(message)


def test_breaker_policy_validation_and_coercion():
    assert BreakerPolicy.coerce({"failures": 2}) == BreakerPolicy(failures=2)
    assert BreakerPolicy.coerce(None) is None
    with pytest.raises(ConfigurationError):
        BreakerPolicy(failures=0)
    with pytest.raises(ConfigurationError, match="cooldwn"):
        BreakerPolicy.coerce({"cooldwn": 3})
