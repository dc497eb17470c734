"""The Redis state store: breakers and rate limits shared by processes (real Redis on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mailcore.errors import ConfigurationError, TransportRejected
from mailcore.policy import CircuitOpen, RedisStore, build, open_state
from mailcore.policy.state import REDIS_TIMEOUT, BreakerState

from .conftest import FakeClock, Scripted, make_message, race_half_open_breaker

pytestmark = pytest.mark.service
REPO = Path(__file__).resolve().parents[2]


def test_open_state_picks_redis_for_redis_urls(redis_url):
    store = open_state(redis_url)
    assert isinstance(store, RedisStore) and store.prefix.startswith("mailcore-test-")
    assert "prefix" not in store.url


def test_breaker_state_round_trips_through_redis(redis_url):
    store, clock = RedisStore(redis_url), FakeClock()
    assert store.breaker("t") == BreakerState()
    assert store.breaker_acquire("t", clock(), 60.0) == ("closed", BreakerState())
    store.breaker_failure("t", clock(), 3, 30.0, False)
    state = store.breaker_failure("t", clock(), 3, 30.0, False)
    assert state == BreakerState(2, 0.0, 0.0)
    state = store.breaker_failure("t", clock(), 3, 30.0, False)
    assert state.opened_until == clock() + 30.0
    assert store.breaker_acquire("t", clock(), 60.0)[0] == "open"
    clock.advance(30.0)
    assert store.breaker_acquire("t", clock(), 60.0)[0] == "probe"
    assert store.breaker_acquire("t", clock(), 60.0)[0] == "open"  # one probe at a time
    store.breaker_release("t")
    assert store.breaker_acquire("t", clock(), 60.0)[0] == "probe"
    store.breaker_success("t")
    assert store.breaker("t") == BreakerState()


def test_sixteen_threads_racing_a_half_open_redis_breaker_send_one_probe(redis_url):
    calls, outcomes = race_half_open_breaker(RedisStore(redis_url), FakeClock())
    assert len(calls) == 1
    assert sorted(outcomes) == ["CircuitOpen"] * 15 + ["sent"]


def test_releasing_a_probe_does_not_recreate_a_closed_breaker(redis_url):
    store = RedisStore(redis_url)
    store.breaker_release("never-opened")
    assert store.client.exists(store._key("never-opened")) == 0


def test_two_workers_share_one_breaker(redis_url, message):
    clock = FakeClock()
    worker_one = build(
        [Scripted("dead", [TransportRejected("401")]), Scripted("b")], state=redis_url, clock=clock, sleep=clock.sleep
    )
    dead_two = Scripted("dead")
    worker_two = build([dead_two, Scripted("b")], state=RedisStore(redis_url), clock=clock, sleep=clock.sleep)
    worker_one.send(message)  # opens the breaker of scripted://dead in Redis
    result = worker_two.send(message)
    assert dead_two.calls == [] and isinstance(result.attempts[0].error, CircuitOpen)


def test_rate_limit_shared_by_two_worker_processes(redis_url):
    """Two processes, one ?rate=10/h on the primary: together they send exactly 10 through it."""
    script = textwrap.dedent(
        """
        import json, sys
        from mailcore import Mailer, Message
        mailer = Mailer("failover(memory://primary?rate=10/h memory://backup)", state=sys.argv[1])
        sent = [mailer.send(Message("a@example.com", ["b@example.org"], "s", text="t")).transport for _ in range(15)]
        print(json.dumps(sent))
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, redis_url], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(2)
    ]
    sent = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        sent += json.loads(out)
    assert sent.count("memory://primary") == 10
    assert sent.count("memory://backup") == 20


def test_a_lone_transport_waits_on_a_shared_limit_within_the_deadline(redis_url):
    stack = build("memory://lone?rate=1/h", state=redis_url, retry={"deadline": 5})
    stack.send(make_message(0))
    with pytest.raises(Exception) as caught:
        stack.send(make_message(1))  # a slot frees in an hour: not within 5 s, so no wait
    assert caught.value.transient


def test_unreachable_redis_fails_open(caplog):
    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    leaf = Scripted("a")
    stack = build([leaf, Scripted("b")], state=store)
    with caplog.at_level("WARNING", logger="mailcore"):
        assert stack.send(make_message()).transport == "scripted://a"
    assert "fail open" in caplog.text


def test_redis_url_password_is_masked():
    store = RedisStore("redis://:hunter2@127.0.0.1:1/0?prefix=x")
    assert "hunter2" not in store.describe()


def test_unknown_state_scheme_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        open_state("mongodb://127.0.0.1")


@pytest.fixture
def silent_redis():
    """A TCP peer on 127.0.0.1 that accepts connections and never answers (a hung Redis).

    Yields ``(port, accepted)``; ``accepted`` lists the connections it took."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()
    for connection in accepted:
        connection.close()


def test_redis_has_timeouts_by_default_and_the_url_may_change_them():
    kwargs = RedisStore("redis://127.0.0.1:1/0").client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == REDIS_TIMEOUT and kwargs["socket_connect_timeout"] == REDIS_TIMEOUT
    tuned = RedisStore("redis://127.0.0.1:1/0?socket_timeout=0.25").client.connection_pool.connection_kwargs
    assert tuned["socket_timeout"] == 0.25


def test_a_hung_redis_costs_one_timeout_then_fails_open_without_waiting(silent_redis, caplog):
    port, accepted = silent_redis
    store = RedisStore(f"redis://127.0.0.1:{port}/0?socket_timeout=0.2&socket_connect_timeout=0.2")
    stack = build([Scripted("a"), Scripted("b")], state=store)
    with caplog.at_level("WARNING", logger="mailcore"):
        sent = [stack.send(make_message(n)).transport for n in range(5)]
    assert sent == ["scripted://a"] * 5
    assert "fail open" in caplog.text
    assert len(accepted) == 1  # after the first timeout the store stopped asking Redis
