"""Message lifetimes through Celery with real peers: Redis as broker, backend and state store, a
real ``celery worker`` consuming the three priority queues, the HTTP sink as the provider.

Every run uses its own queue names and key prefix (nothing is flushed), so runs by other
engineers on the same Redis never collide.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from conftest import make_plugin_env, require_redis, start_sink, stop

from mailcore import Message
from mailcore.adapters.celery import TASK_NAME, CeleryQueue
from mailcore.outbox.lifetimes import expiry_reason

pytestmark = pytest.mark.service
REDIS_DB = 10
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"

APP_MODULE = textwrap.dedent(
    """
    import os
    from celery import Celery
    from mailcore import Mailer
    from mailcore.adapters.celery import configure

    app = Celery("mclife", broker=os.environ["TEST_BROKER"], backend=os.environ["TEST_BROKER"])
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        mailcore_backoff={"first_delay": 0.3, "multiplier": 1.0, "cap": 0.3, "jitter": False},
        broker_transport_options={"visibility_timeout": 30},
    )
    # one pass per task run; idempotency keys in MAILCORE_STATE_URL (Redis, shared by workers)
    configure(lambda: Mailer(os.environ["MAILCORE_URL"], retry=None))
    """
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    client = require_redis(REDIS_DB)
    run = uuid.uuid4().hex[:8]
    prefix = f"mctest-{run}"
    queue = f"mailcore-life-{run}"
    directory = tmp_path_factory.mktemp("celery-lifetimes")
    (directory / "mclife_celeryapp.py").write_text(APP_MODULE)
    sink = start_sink(directory)
    state = f"{BROKER}?prefix={prefix}"
    env = make_plugin_env(directory, directory)
    env.update(TEST_BROKER=BROKER, MAILCORE_URL=sink.url + "?timeout=0.5", MAILCORE_STATE_URL=state)
    queues = f"{queue}.high,{queue},{queue}.low"
    cmd = [sys.executable, "-m", "celery", "-A", "mclife_celeryapp", "worker", "-P", "threads", "-c", "2",
           "-Q", queues, "-l", "warning", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    app = Celery("producer", broker=BROKER, backend=BROKER)
    try:
        yield app, queue, sink, state, client
    finally:
        stop(worker, timeout=10)
        stop(sink.process)
        for name in client.scan_iter(match=f"*{run}*", count=500):
            client.delete(name)


def message(subject, sink_script="", **fields):
    metadata = {"sink": sink_script} if sink_script else {}
    return Message("app@example.com", ["user@example.org"], subject, text="hello", metadata=metadata, **fields)


def result_of(app, task_id, timeout=60):  # the first result also waits for the worker to boot
    return app.AsyncResult(task_id).get(timeout=timeout)


def test_priority_routes_to_the_high_normal_and_low_queues(world):
    app, queue, _sink, _state, client = world
    idle = f"{queue}-idle"  # no worker consumes these: the tasks stay where they were routed
    box = CeleryQueue(app, queue=idle)
    assert [box.route(p) for p in ("high", "normal", "low")] == [f"{idle}.high", idle, f"{idle}.low"]
    for priority in ("high", "normal", "low"):
        box.enqueue(message(f"p-{priority}", priority=priority))
    assert [client.llen(name) for name in (f"{idle}.high", idle, f"{idle}.low")] == [1, 1, 1]
    app.conf.mailcore_priority_queues = False
    try:
        assert CeleryQueue(app, queue=idle).route("high") == idle
    finally:
        app.conf.mailcore_priority_queues = None


def test_every_priority_is_delivered_by_a_worker_consuming_the_three_queues(world):
    app, queue, sink, _state, _client = world
    box = CeleryQueue(app, queue=queue)
    messages = [message(f"all-{p}", priority=p) for p in ("low", "normal", "high")]
    results = [result_of(app, box.enqueue(m)) for m in messages]
    assert [r["status"] for r in results] == ["sent"] * 3
    assert all(sink.counts()[m.message_id] == 1 for m in messages)


def test_a_task_run_after_the_expiry_does_not_send(world):
    """The run-time check: a task published without Celery's expires (an older producer)."""
    app, queue, sink, _state, _client = world
    gone = message("expired", expires=datetime(2020, 1, 1, tzinfo=UTC))
    task = app.send_task(TASK_NAME, args=[gone.to_dict()], queue=queue)
    result = result_of(app, task.id)
    assert result == {
        "status": "expired",
        "message_id": gone.message_id,
        "reason": expiry_reason(gone.expires.timestamp()),
    }
    assert gone.message_id not in sink.counts()


def test_celery_expires_discards_a_task_whose_turn_comes_after_the_expiry(world):
    app, queue, sink, _state, _client = world
    late = message("late", expires=timedelta(seconds=1))
    task_id = CeleryQueue(app, queue=queue).enqueue(late, delay=3)  # due after it expired
    marker = message("after")
    assert result_of(app, CeleryQueue(app, queue=queue).enqueue(marker, delay=4))["status"] == "sent"
    state = app.AsyncResult(task_id).state
    assert state == "REVOKED"  # discarded unrun by the worker (Celery marks an expired task revoked)
    assert late.message_id not in sink.counts()


def test_retries_stop_at_the_expiry(world):
    app, queue, sink, _state, _client = world
    failing = message("keeps failing", "fail:1000", expires=timedelta(seconds=2))
    result = result_of(app, CeleryQueue(app, queue=queue).enqueue(failing))
    assert result["status"] == "expired"
    assert result["reason"].startswith(expiry_reason(failing.expires.timestamp()))
    assert failing.message_id not in sink.counts()  # the sink records accepted messages only


def test_enqueue_with_a_seen_key_returns_the_first_task_id(world):
    app, queue, sink, state, _client = world
    box = CeleryQueue(app, queue=queue, state=state)
    first = message("receipt", idempotency_key=f"receipt-{uuid.uuid4().hex}")
    again = first.replace(message_id=None, subject="receipt again")
    task_id = box.enqueue(first)
    assert CeleryQueue(app, queue=queue, state=state).enqueue(again) == task_id  # another producer
    assert result_of(app, task_id)["status"] == "sent"
    time.sleep(0.5)
    assert sink.counts()[first.message_id] == 1 and again.message_id not in sink.counts()


def test_a_task_delivered_twice_sends_once_through_the_shared_state_store(world):
    """Two tasks with one key (a producer without the state store, a redelivery): one send."""
    app, queue, sink, _state, _client = world
    once = message("once", idempotency_key=f"once-{uuid.uuid4().hex}")
    first = result_of(app, app.send_task(TASK_NAME, args=[once.to_dict()], queue=queue).id)
    second = result_of(app, app.send_task(TASK_NAME, args=[once.to_dict()], queue=queue).id)
    assert (first["status"], second["status"]) == ("sent", "sent")
    assert (first["replayed"], second["replayed"]) == (False, True)
    assert second["provider_message_id"] == first["provider_message_id"]
    assert sink.counts()[once.message_id] == 1
