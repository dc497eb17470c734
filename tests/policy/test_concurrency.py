"""One Mailer shared by many threads, and asend: correct counts, nothing lost, same policy."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailcore import Mailer
from mailcore.errors import ConnectionFailed, DeliveryFailed, MessageRejected, TransportRejected
from mailcore.policy import MemoryStore, build

from .conftest import Scripted, make_message

THREADS = 16
PER_THREAD = 250


def test_one_mailer_shared_by_many_threads_loses_nothing():
    flaky = Scripted("flaky", [ConnectionFailed("x"), None] * 200)
    steady = [Scripted("b"), Scripted("c")]
    mailer = Mailer(
        [flaky, *steady], strategy="roundrobin", retry={"first_delay": 0.0, "attempts": 2},
        state=MemoryStore(), sleep=lambda s: None,
    )  # fmt: skip
    messages = [make_message(n) for n in range(THREADS * PER_THREAD)]
    barrier = threading.Barrier(THREADS)

    def work(chunk):
        barrier.wait()
        return [mailer.send(m).message_id for m in chunk]

    with ThreadPoolExecutor(THREADS) as pool:
        chunks = [messages[i::THREADS] for i in range(THREADS)]
        sent = [mid for ids in pool.map(work, chunks) for mid in ids]

    delivered = [mid for leaf in (flaky, *steady) for mid in leaf.delivered]
    assert sorted(sent) == sorted(delivered) == sorted(m.message_id for m in messages)
    assert len(set(delivered)) == len(messages)
    assert sum(len(leaf.calls) for leaf in (flaky, *steady)) == len(messages) + 200  # each failure once


def test_round_robin_counts_stay_exact_under_threads():
    leaves = [Scripted(n) for n in "abc"]
    stack = build(leaves, strategy="roundrobin", state=MemoryStore())
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda n: stack.send(make_message(n)), range(3000)))
    assert Counter(len(leaf.delivered) for leaf in leaves) == Counter({1000: 3})


def test_breaker_counts_every_concurrent_failure(clock):
    store = MemoryStore()
    dead = Scripted("dead", [ConnectionFailed("x")] * 10_000)
    stack = build(
        [dead, Scripted("b")], retry=None, breaker={"failures": 10_000, "cooldown": 60},
        state=store, clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda n: stack.send(make_message(n)), range(2000)))
    assert store.breaker("scripted://dead").failures == 2000


def test_asend_follows_the_same_policy(clock):
    a = Scripted("a", [ConnectionFailed("x")] * 3)
    b = Scripted("b", [MessageRejected("spam")])
    mailer = Mailer([a, b, Scripted("c")], retry={"jitter": False}, state=MemoryStore(), clock=clock, sleep=clock.sleep)

    async def main():
        with pytest.raises(DeliveryFailed) as caught:
            await mailer.asend(make_message())
        return caught.value

    error = asyncio.run(main())
    assert [type(x.error).__name__ for x in error.attempts] == ["ConnectionFailed"] * 3 + ["MessageRejected"]
    assert clock.sleeps == [0.5, 1.0]


def test_many_concurrent_asends_through_one_mailer():
    leaves = [Scripted("a", [TransportRejected("401")]), Scripted("b")]
    mailer = Mailer(leaves, state=MemoryStore())

    async def main():
        return await asyncio.gather(*(mailer.asend(make_message(n)) for n in range(200)))

    results = asyncio.run(main())
    assert len({r.message_id for r in results}) == 200
    assert len(leaves[0].calls) <= 16  # the breaker opened after the first rejection(s)
