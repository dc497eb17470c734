"""Celery with real peers: Redis as broker and backend, a real ``celery worker`` subprocess, and
the out-of-process HTTP sink as the provider."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from celery import Celery  # always installed where tests/outbox runs (nox "plugins")
from conftest import make_plugin_env, require_redis, start_sink, stop

from mailcore import Mailer, Message
from mailcore.adapters.celery import TASK_NAME, CeleryQueue, deliver

pytestmark = pytest.mark.service
REDIS_DB = 13
BROKER = f"redis://127.0.0.1:6379/{REDIS_DB}"
CRASH_DB = 12  # its own database: flushing it never touches the module's worker

APP_MODULE = textwrap.dedent(
    """
    import os
    from celery import Celery
    from mailcore import Mailer
    from mailcore.adapters.celery import configure

    app = Celery("mctest", broker=os.environ["TEST_BROKER"], backend=os.environ["TEST_BROKER"])
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        mailcore_backoff={"first_delay": 0.2, "multiplier": 1.0, "cap": 0.2, "jitter": False},
        broker_transport_options={"visibility_timeout": 30},
    )
    # one pass through the transport per task run: retries are Celery's, visible in the test
    configure(lambda: Mailer(os.environ["MAILCORE_URL"], retry=None))
    """
)


@pytest.fixture(scope="module")
def celery_world(tmp_path_factory):
    client = require_redis(REDIS_DB)
    client.flushdb()
    directory = tmp_path_factory.mktemp("celery")
    (directory / "mctest_celeryapp.py").write_text(APP_MODULE)
    sink = start_sink(directory)
    queue = f"mailcore-test-{uuid.uuid4().hex[:8]}"
    env = make_plugin_env(directory, directory)
    env.update(TEST_BROKER=BROKER, MAILCORE_URL=sink.url + "?timeout=0.5")
    cmd = [sys.executable, "-m", "celery", "-A", "mctest_celeryapp", "worker", "-P", "threads", "-c", "4",
           "-Q", queue, "-l", "warning", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    app = Celery("producer", broker=BROKER, backend=BROKER)
    try:
        yield app, queue, sink, worker
    finally:
        stop(worker, timeout=10)
        stop(sink.process)
        client.flushdb()


def message(subject, sink_script=""):
    metadata = {"sink": sink_script} if sink_script else {}
    return Message("app@example.com", ["user@example.org"], subject, text="hello", metadata=metadata)


def result_of(app, task_id, timeout=60):  # the first result also waits for the worker to boot
    return app.AsyncResult(task_id).get(timeout=timeout)


def test_the_task_is_acks_late_and_rejects_on_worker_lost():
    assert deliver.name == TASK_NAME
    assert deliver.acks_late is True and deliver.reject_on_worker_lost is True


def test_enqueue_through_celery_delivers(celery_world):
    app, queue, sink, _worker = celery_world
    mailer = Mailer("memory://unused", queue=CeleryQueue(app, queue=queue))
    messages = [message(f"n{i}") for i in range(20)]
    task_ids = [mailer.enqueue(m) for m in messages]
    results = [result_of(app, task_id) for task_id in task_ids]
    assert {r["status"] for r in results} == {"sent"}
    assert {m.message_id for m in messages} <= set(sink.counts())
    assert results[0]["transport"].startswith("httpsink://127.0.0.1:")


def test_transient_failures_are_retried_by_celery(celery_world):
    app, queue, sink, _worker = celery_world
    flaky = message("flaky", "fail:2")
    task_id = CeleryQueue(app, queue=queue).enqueue(flaky)
    result = result_of(app, task_id)
    assert result["status"] == "sent"
    assert result["provider_message_id"] == "3"  # the sink's try counter: two 503s, then accepted
    assert sink.counts()[flaky.message_id] == 1


def test_permanent_failure_is_not_retried(celery_world):
    app, queue, sink, _worker = celery_world
    rejected = message("rejected", "reject")
    result = result_of(app, CeleryQueue(app, queue=queue).enqueue(rejected))
    assert result["status"] == "failed" and "rejected" in result["reason"]
    assert rejected.message_id not in sink.counts()


def test_ambiguous_timeout_is_not_resent(celery_world):
    app, queue, sink, _worker = celery_world
    hanging = message("hang", "hang")
    result = result_of(app, CeleryQueue(app, queue=queue).enqueue(hanging))
    assert result["status"] == "unknown"
    time.sleep(0.5)
    assert sink.counts()[hanging.message_id] == 1


def test_mailer_queue_celery_uses_the_current_app(celery_world):
    app, queue, sink, _worker = celery_world
    app.conf.mailcore_queue = queue
    app.set_current()
    m = message("via current app")
    task_id = Mailer("memory://unused", queue="celery").enqueue(m)
    assert result_of(app, task_id)["status"] == "sent"
    assert sink.counts()[m.message_id] == 1


def test_a_killed_celery_worker_loses_nothing(tmp_path):
    """acks_late + reject_on_worker_lost: SIGKILL while a task is sending, restart, every
    message arrives.

    Each message waits 0.2 s at the sink after it is recorded, so the kill (within 20 ms of the
    10th record) lands while that task is in flight, as the test means. A kill in the instant
    between two tasks can hit kombu's Redis gap (``BRPOP``, then recording the task as
    unacknowledged: docs/operations.md, "Which broker") and lose that task; that gap is
    documented, not tested here, and RabbitMQ has none (test_celery_rabbitmq.py)."""
    client = require_redis(CRASH_DB)
    broker = f"redis://127.0.0.1:6379/{CRASH_DB}"
    (tmp_path / "mctest_celeryapp.py").write_text(
        # a killed worker's unacknowledged task is visible again after 2 s; kombu scans for such
        # tasks every unacked_restore_interval x unacked_restore_throttle seconds (100 s by default)
        APP_MODULE.replace(
            '{"visibility_timeout": 30}',
            '{"visibility_timeout": 2, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}',
        )
    )
    sink = start_sink(tmp_path, name="slow")
    queue = f"mailcore-crash-{uuid.uuid4().hex[:8]}"
    env = make_plugin_env(tmp_path, tmp_path)
    env.update(TEST_BROKER=broker, MAILCORE_URL=sink.url)
    cmd = [sys.executable, "-m", "celery", "-A", "mctest_celeryapp", "worker", "-P", "solo", "-Q", queue,
           "-l", "warning", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    app = Celery("producer", broker=broker)
    messages = [message(f"crash {i}", "slow:0.2") for i in range(40)]  # recorded, then answered 0.2 s later
    queue_obj = CeleryQueue(app, queue=queue)
    workers = []
    try:
        for m in messages:
            queue_obj.enqueue(m)
        workers.append(
            subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        assert sink.wait_for(10, timeout=30)
        workers[0].kill()
        workers[0].wait(5)
        at_kill = len(sink.records())
        workers.append(
            subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        ids = {m.message_id for m in messages}
        deadline = time.monotonic() + 40
        while not ids <= set(sink.counts()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for worker in workers:
            stop(worker)
        stop(sink.process)
        client.flushdb()
    seen = sink.counts()
    missing = ids - set(seen)
    duplicates = sum(n - 1 for n in seen.values())
    print(f"\ncelery crash: killed after {at_kill} of 40; missing {len(missing)}, duplicates {duplicates}")
    assert not missing
    assert duplicates <= 1  # prefetch 1 with acks_late: at most the task in flight


def test_outbox_celery_means_the_celery_queue(celery_world):
    """Django's MAILCORE = {"QUEUE": "celery"} reaches the Mailer as outbox="celery"."""
    app, queue, sink, _worker = celery_world
    app.conf.mailcore_queue = queue
    app.set_current()
    m = message("via outbox=celery")
    task_id = Mailer("memory://unused", outbox="celery").enqueue(m)
    assert result_of(app, task_id)["status"] == "sent"
    assert sink.counts()[m.message_id] == 1


def test_a_retry_that_cannot_be_published_requeues_the_task_instead_of_dropping_it():
    """Celery turns a failed retry publish into Reject(requeue=False); we requeue instead."""
    from types import SimpleNamespace

    from celery.exceptions import Reject

    from mailcore.adapters.celery import _retry

    def retry(**kwargs):
        raise Reject(ConnectionError("broker unreachable"), requeue=False)

    task = SimpleNamespace(request=SimpleNamespace(retries=0), app=SimpleNamespace(conf={}), retry=retry)
    outcome = _retry(task, message("retry publish fails"), "transient", None, None)
    assert isinstance(outcome, Reject) and outcome.requeue is True


def test_task_headers_name_the_message_without_its_content():
    """Celery copies ``argsrepr`` into task headers, events, Flower and ``celery inspect``."""
    from celery.signals import before_task_publish

    app = Celery("reprs", broker="memory://")
    published = []

    def capture(headers=None, **_):
        published.append(headers)

    before_task_publish.connect(capture, weak=False)
    try:
        msg = Message("app@example.com", ["user@example.org"], "Code 771204", text="Your code is 771204")
        CeleryQueue(app, queue="reprs").enqueue(msg)
    finally:
        before_task_publish.disconnect(capture)
    headers = published[0]
    assert headers["argsrepr"] == f"(<message {msg.message_id}>,)"
    assert "771204" not in repr(headers)
