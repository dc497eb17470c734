"""Property tests: whatever the providers answer, the policy keeps its promises."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mailcore.errors import (
    ConnectionFailed,
    DeliveryFailed,
    MessageRejected,
    PermanentError,
    RateLimited,
    SendTimeout,
    TransientError,
    TransportRejected,
)
from mailcore.policy import MemoryStore, RetryPolicy, RouteSkipped, build

from .conftest import FakeClock, Scripted, make_message

OUTCOMES = {
    "ok": lambda: None,
    "transient": lambda: TransientError("451"),
    "connection": lambda: ConnectionFailed("refused"),
    "rate": lambda: RateLimited("429", retry_after=5.0),
    "rate_long": lambda: RateLimited("429", retry_after=500.0),
    "timeout": lambda: SendTimeout("slow", maybe_sent=False),
    "ambiguous": lambda: SendTimeout("after DATA", maybe_sent=True),
    "rejected": lambda: TransportRejected("535"),
    "message": lambda: MessageRejected("554"),
    "permanent": lambda: PermanentError("5xx"),
}

scripts = st.lists(st.lists(st.sampled_from(sorted(OUTCOMES)), max_size=6), min_size=1, max_size=3)
policies = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 4),
    first_delay=st.floats(0, 5),
    multiplier=st.floats(1, 3),
    cap=st.floats(0, 20),
    deadline=st.one_of(st.none(), st.floats(1, 120)),
)


class Timed(Scripted):
    """Records when each attempt started."""

    def deliver(self, message):
        self.starts.append(self.clock())
        return super().deliver(message)


def run(script_names, policy, cost, on_ambiguous, strategy, seed, messages=1):
    clock = FakeClock()
    leaves = []
    for index, names in enumerate(script_names):
        leaf = Timed(f"t{index}", [OUTCOMES[n]() for n in names], clock=clock, cost=cost)
        leaf.starts = []
        leaves.append(leaf)
    stack = build(
        leaves, strategy=strategy, retry=policy, on_ambiguous=on_ambiguous, state=MemoryStore(),
        clock=clock, sleep=clock.sleep, random=random.Random(seed).random,
    )  # fmt: skip
    outcomes = []
    for n in range(messages):
        start = clock()
        try:
            outcomes.append((start, stack.send(make_message(n)).attempts, None))
        except DeliveryFailed as error:
            outcomes.append((start, error.attempts, error))
    return clock, leaves, outcomes


common = {
    "script_names": scripts,
    "policy": policies,
    "cost": st.floats(0, 30),
    "on_ambiguous": st.sampled_from(["fail", "retry"]),
    "strategy": st.sampled_from(["failover", "roundrobin", "weighted"]),
    "seed": st.integers(0, 2**16),
}


@settings(max_examples=300, deadline=None)
@given(**common)
def test_one_message_keeps_every_promise(script_names, policy, cost, on_ambiguous, strategy, seed):
    _clock, leaves, [(start, attempts, error)] = run(script_names, policy, cost, on_ambiguous, strategy, seed)
    real = [a for a in attempts if not isinstance(a.error, RouteSkipped)]

    # the result lists every attempt, in the order they were made
    assert len(real) == sum(len(leaf.calls) for leaf in leaves)
    # never more tries per transport than the policy allows
    for leaf in leaves:
        assert len(leaf.calls) <= policy.attempts
    # never retries or fails over after a MessageRejected (nor after an ambiguous timeout by default)
    for index, attempt in enumerate(real):
        if isinstance(attempt.error, MessageRejected):
            assert index == len(real) - 1
        if isinstance(attempt.error, SendTimeout) and attempt.error.maybe_sent and on_ambiguous == "fail":
            assert index == len(real) - 1
    # never sends twice: at most one success, and it is the last attempt
    delivered = sum(len(leaf.delivered) for leaf in leaves)
    assert delivered == (0 if error else 1)
    if error is None:
        assert real[-1].error is None and all(a.error is not None for a in real[:-1])
    # no attempt starts after the deadline; no sleep crosses it
    if policy.deadline is not None:
        for leaf in leaves:
            assert all(t - start <= policy.deadline for t in leaf.starts)
    # the outcome is "unknown" exactly when some attempt may have delivered
    if error is not None:
        # unknown as soon as any attempt may have delivered (an opted-in retry cannot undo it)
        maybe = any(isinstance(a.error, SendTimeout) and a.error.maybe_sent for a in real)
        assert error.outcome == ("unknown" if maybe else "failed")


@settings(max_examples=100, deadline=None)
@given(**common)
def test_many_messages_never_deliver_one_twice(script_names, policy, cost, on_ambiguous, strategy, seed):
    _clock, leaves, outcomes = run(script_names, policy, cost, on_ambiguous, strategy, seed, messages=5)
    ids = [mid for leaf in leaves for mid in leaf.delivered]
    assert len(ids) == len(set(ids)) == sum(1 for *_, error in outcomes if error is None)
