"""Fixtures for the policy tests: a fake clock, scripted transports, stores, Redis."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable, Iterator

import pytest

from mailcore.errors import SendError
from mailcore.message import Message
from mailcore.policy.state import MemoryStore, clear_shared_stores
from mailcore.result import Delivery
from mailcore.testing import skip_or_fail
from mailcore.transport import ProviderTransport

REDIS_URL = os.environ.get("MAILCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it and records the waits."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class Scripted(ProviderTransport):
    """A leaf transport that raises the scripted errors in order (``None`` = accept), then
    accepts. Each attempt takes ``cost`` seconds on the fake clock."""

    def __init__(
        self,
        name: str,
        script: Iterable[SendError | None] = (),
        *,
        clock: FakeClock | None = None,
        cost: float = 0.0,
    ) -> None:
        self.name = f"scripted://{name}"
        self.script = list(script)
        self.clock = clock
        self.cost = cost
        self.calls: list[str] = []  # message ids, one per attempt
        self.delivered: list[str] = []
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> Delivery:
        with self._lock:
            self.calls.append(message.message_id)
            outcome = self.script.pop(0) if self.script else None
        if self.clock is not None and self.cost:
            self.clock.advance(self.cost)
        if outcome is not None:
            raise outcome
        with self._lock:
            self.delivered.append(message.message_id)
        return Delivery(provider_message_id=f"{self.name}-{len(self.delivered)}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture(autouse=True)
def _clear_shared_stores() -> Iterator[None]:
    clear_shared_stores()
    yield
    clear_shared_stores()


@pytest.fixture
def message() -> Message:
    return Message("Sender <app@example.com>", ["user@example.org"], "Policy test", text="hello")


def make_message(n: int = 0) -> Message:
    return Message("app@example.com", [f"user{n}@example.org"], f"Message {n}", text="hello")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL with a unique key prefix; skips (or fails in CI) when Redis is absent."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except (redis.RedisError, OSError) as error:
        skip_or_fail(f"Redis not reachable at {REDIS_URL}: {error}")
    prefix = f"mailcore-test-{uuid.uuid4().hex[:12]}"
    yield f"{REDIS_URL}?prefix={prefix}"
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def race_half_open_breaker(store, clock, threads: int = 16) -> tuple[list[str], list[str]]:
    """Open a breaker in ``store``, let its cooldown pass, then send from ``threads`` threads at
    once through a transport that holds every call until all threads are done.

    Returns ``(calls, outcomes)``: the message ids the transport saw and each thread's outcome
    (``"sent"`` or the error class name)."""
    from mailcore.policy import BreakerPolicy, CircuitBreaker

    release = threading.Event()

    class Held(Scripted):
        def deliver(self, msg):
            release.wait(10)
            return super().deliver(msg)

    leaf = Held("half-open")
    guarded = CircuitBreaker(leaf, BreakerPolicy(failures=1, cooldown=10.0), store=store, clock=clock)
    store.breaker_failure(guarded.key, clock(), 1, 10.0, True)
    clock.advance(10.0)
    barrier = threading.Barrier(threads)
    outcomes: list[str] = []

    def send(n: int) -> None:
        barrier.wait()
        try:
            guarded.send(make_message(n))
            outcomes.append("sent")
        except SendError as error:
            outcomes.append(type(error).__name__)
            if len(outcomes) == threads - 1:
                release.set()  # every other thread has been turned away: let the probe finish

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(15)
    release.set()
    assert guarded.status == "closed"
    return leaf.calls, outcomes
