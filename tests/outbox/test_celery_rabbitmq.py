"""Celery on a real RabbitMQ (127.0.0.1:5672): publisher confirms, durability, and a crash test.

Each module run gets a vhost of its own (``rabbitmqctl add_vhost``; else "/" with uuid queue
names), so concurrent runs never see each other's queues. The confirm tests put a
fault-injecting TCP proxy between the producer and the broker that can hold back what the
broker says (its ``basic.ack``), which is how they prove ``enqueue()`` waits for the confirm.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from celery import Celery
from conftest import RABBITMQ, make_plugin_env, rabbitmq_url, start_sink, stop
from kombu import Connection, Queue

from mailcore import Message
from mailcore.adapters.celery import CeleryQueue
from mailcore.adapters.celery.broker import configure_broker
from mailcore.errors import EnqueueFailed

pytestmark = pytest.mark.service

WORKER_APP = textwrap.dedent(
    """
    import os
    from celery import Celery
    from mailcore import Mailer
    from mailcore.adapters.celery import configure
    from mailcore.adapters.celery.broker import configure_broker

    app = Celery("mcrabbit", broker=os.environ["TEST_BROKER"])
    app.conf.update(
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # with quorum=True, configure_broker makes it the default queue: Celery's native delayed
        # delivery binds every queue the app knows and gives up on an undeclared "celery"
        mailcore_queue=os.environ["TEST_QUEUE"],
        mailcore_backoff={"first_delay": 1.0, "multiplier": 1.0, "cap": 1.0, "jitter": False},
    )
    configure_broker(app, quorum=os.environ.get("TEST_QUORUM") == "1")
    configure(lambda: Mailer(os.environ["MAILCORE_URL"], retry=None))
    """
)


def message(subject):
    return Message("app@example.com", ["user@example.org"], subject, text="hello")


def producer(url, **conf):
    app = Celery(f"producer-{uuid.uuid4().hex[:6]}", broker=url)
    app.conf.update(conf)
    configure_broker(app)
    return app


def queue_name():
    return f"mailcore-{uuid.uuid4().hex[:8]}"


def waiting(url, queue):
    """Messages ready in ``queue``: a passive queue.declare on a connection of its own."""
    with Connection(url, connect_timeout=5) as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count


def delete_queue(url, queue):
    with Connection(url, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(queue)


class HoldingProxy:
    """A TCP proxy to RabbitMQ whose broker-to-client direction can be held back and released.

    While held, the producer's frames still reach the broker (the task is published), but
    nothing the broker says, its ``basic.ack`` included, reaches the producer.
    """

    def __init__(self, upstream=RABBITMQ):
        self.upstream = upstream
        self.flowing = threading.Event()
        self.flowing.set()
        self.released_at_least_once = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self):
        self.flowing.clear()

    def release(self):
        self.released_at_least_once.set()
        self.flowing.set()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.flowing), daemon=True).start()

    @staticmethod
    def _pump(source, target, gate):
        try:
            while data := source.recv(65536):
                if gate is not None:
                    gate.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.release()
        self.listener.close()
        for s in self.sockets:
            s.close()


@pytest.fixture
def proxy():
    proxy = HoldingProxy()
    yield proxy
    proxy.close()


def test_enqueue_returns_with_the_task_durably_in_the_queue(rabbit_vhost):
    url, queue = rabbit_vhost.url, queue_name()
    app = producer(url)
    try:
        CeleryQueue(app, queue=queue).enqueue(message("stored"))
        assert waiting(url, queue) == 1  # right after enqueue() returned, on another connection
        with Connection(url, connect_timeout=5) as connection:
            channel = connection.channel()
            # the queue is durable: re-declaring it durable is accepted, non-durable is refused
            channel.queue_declare(queue, durable=True, auto_delete=False)
            stored = channel.basic_get(queue, no_ack=False)
            assert stored.properties["delivery_mode"] == 2  # persistent
            channel.basic_reject(stored.delivery_tag, requeue=True)
            with pytest.raises(Exception, match="durable"):
                connection.channel().queue_declare(queue, durable=False, auto_delete=False)
    finally:
        delete_queue(url, queue)


def test_enqueue_waits_for_the_brokers_confirm(rabbit_vhost, proxy):
    """The broker's ack is held back by the proxy: enqueue() returns only after it is released."""
    queue = queue_name()
    app = producer(rabbitmq_url(rabbit_vhost.vhost, port=proxy.port))
    mail = CeleryQueue(app, queue=queue)
    try:
        mail.enqueue(message("warm-up: connection and queue declared"))
        proxy.hold()
        releaser = threading.Timer(1.0, proxy.release)
        releaser.start()
        mail.enqueue(message("held"))
        returned_after_release = proxy.released_at_least_once.is_set()
        releaser.join()
        assert returned_after_release, "enqueue() returned before the broker's confirm could reach it"
        assert waiting(rabbit_vhost.url, queue) == 2
    finally:
        delete_queue(rabbit_vhost.url, queue)


def test_a_confirm_that_never_comes_raises_enqueue_failed_maybe_stored(rabbit_vhost, proxy):
    queue = queue_name()
    app = producer(
        rabbitmq_url(rabbit_vhost.vhost, port=proxy.port),
        task_publish_retry=False,
        mailcore_confirm_timeout=1.0,
        # the socket timeouts also bound closing the stalled connection afterwards
        broker_transport_options={"read_timeout": 1.0, "write_timeout": 1.0},
    )
    assert app.conf.broker_transport_options["confirm_publish"] is True
    mail = CeleryQueue(app, queue=queue)
    try:
        mail.enqueue(message("warm-up"))
        proxy.hold()
        with pytest.raises(EnqueueFailed, match="did not confirm") as failure:
            mail.enqueue(message("never confirmed"))
        assert failure.value.maybe_stored is True and failure.value.queue == queue
        assert "guest" not in str(failure.value)  # no broker credentials in the text
    finally:
        proxy.release()
        delete_queue(rabbit_vhost.url, queue)


def test_a_task_the_broker_refuses_raises_enqueue_failed_not_stored(rabbit_vhost):
    """A full queue with x-overflow=reject-publish makes RabbitMQ nack the publish."""
    url, queue = rabbit_vhost.url, queue_name()
    app = producer(url)
    app.conf.task_queues = [
        Queue(queue, routing_key=queue, queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    ]
    mail = CeleryQueue(app, queue=queue)
    try:
        mail.enqueue(message("fits"))
        with pytest.raises(EnqueueFailed, match="NOT stored") as failure:
            mail.enqueue(message("refused"))
        assert failure.value.maybe_stored is False
        assert waiting(url, queue) == 1
    finally:
        delete_queue(url, queue)


def test_an_unreachable_broker_raises_enqueue_failed_not_stored():
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    app = producer(rabbitmq_url(port=port), task_publish_retry=False, broker_connection_timeout=2)
    with pytest.raises(EnqueueFailed, match="refused the connection") as failure:
        CeleryQueue(app, queue="mailcore-unreachable").enqueue(message("nowhere"))
    assert failure.value.maybe_stored is False


def test_quorum_queues(rabbit_vhost):
    url, queue = rabbit_vhost.url, queue_name()
    app = Celery("quorum-producer", broker=url)
    configure_broker(app, quorum=True)
    try:
        CeleryQueue(app, queue=queue).enqueue(message("quorum"))
        assert waiting(url, queue) == 1
        with Connection(url, connect_timeout=5) as connection:
            connection.channel().queue_declare(
                queue, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
            )
            with pytest.raises(Exception, match="x-queue-type"):
                connection.channel().queue_declare(
                    queue, durable=True, auto_delete=False, arguments={"x-queue-type": "classic"}
                )
    finally:
        delete_queue(url, queue)


@pytest.mark.parametrize("quorum", [False, True], ids=["classic", "quorum"])
def test_transient_failures_are_retried_with_a_countdown(rabbit_vhost, tmp_path, quorum):
    """Retries are new tasks with a countdown; on quorum queues Celery's native delayed delivery."""
    url, queue = rabbit_vhost.url, queue_name()
    (tmp_path / "mcrabbit_app.py").write_text(WORKER_APP)
    sink = start_sink(tmp_path, name="retry")
    env = make_plugin_env(tmp_path, tmp_path)
    env.update(TEST_BROKER=url, MAILCORE_URL=sink.url, TEST_QUORUM="1" if quorum else "0", TEST_QUEUE=queue)
    app = Celery("retry-producer", broker=url)
    configure_broker(app, quorum=quorum)
    flaky = Message("app@example.com", ["user@example.org"], "flaky", text="hello", metadata={"sink": "fail:2"})
    errors = (tmp_path / "worker.err").open("w")
    worker = subprocess.Popen(worker_command(queue), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        CeleryQueue(app, queue=queue).enqueue(flaky)
        delivered = sink.wait_for(1, timeout=90)
        assert delivered, (
            "not delivered after two transient failures; worker said:\n"
            + ((tmp_path / "worker.err").read_text()[-3000:])
        )
        time.sleep(1.5)  # a wrongly repeated retry would land within one more backoff period
    finally:
        stop(worker)
        errors.close()
        stop(sink.process)
        delete_queue(url, queue)
    assert sink.counts()[flaky.message_id] == 1


def test_priority_queues_are_quorum_queues_too(rabbit_vhost):
    """``priority="high"`` routes to ``<queue>.high``, which Celery creates as a quorum queue."""
    url, queue = rabbit_vhost.url, queue_name()
    app = Celery("quorum-priority", broker=url)
    app.conf.mailcore_queue = queue
    configure_broker(app, quorum=True)
    urgent = Message("app@example.com", ["user@example.org"], "code", text="123", priority="high")
    try:
        CeleryQueue(app).enqueue(urgent)
        assert waiting(url, f"{queue}.high") == 1
        with Connection(url, connect_timeout=5) as connection, pytest.raises(Exception, match="x-queue-type"):
            connection.channel().queue_declare(
                f"{queue}.high", durable=True, auto_delete=False, arguments={"x-queue-type": "classic"}
            )
    finally:
        delete_queue(url, f"{queue}.high")


def worker_command(queue):
    return [sys.executable, "-m", "celery", "-A", "mcrabbit_app", "worker", "-P", "threads", "-c", str(CONCURRENCY),
            "-Q", queue, "-l", "warning", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip


CONCURRENCY = 4
TASKS = 1000
KILL_AT = (100, 250, 400, 550, 700, 850)  # sink records seen before each SIGKILL


@pytest.mark.parametrize("quorum", [False, True], ids=["classic", "quorum"])
def test_sigkilled_workers_lose_nothing(rabbit_vhost, tmp_path, quorum):
    """1,000 tasks; the worker is SIGKILLed six times while draining: 0 lost, duplicates bounded.

    Every task is in the queue before the first worker starts (confirms). A duplicate is a task
    the sink recorded whose ack died with the worker: at most ``CONCURRENCY`` (prefetch 1 per
    thread) per kill.
    """
    url, queue = rabbit_vhost.url, queue_name()
    (tmp_path / "mcrabbit_app.py").write_text(WORKER_APP)
    sink = start_sink(tmp_path, delay=0.002, name="rabbit")
    env = make_plugin_env(tmp_path, tmp_path)
    env.update(TEST_BROKER=url, MAILCORE_URL=sink.url, TEST_QUORUM="1" if quorum else "0", TEST_QUEUE=queue)
    app = Celery("crash-producer", broker=url)
    configure_broker(app, quorum=quorum)
    mail = CeleryQueue(app, queue=queue)
    messages = [message(f"crash {i}") for i in range(TASKS)]
    ids = {m.message_id for m in messages}
    workers, kills = [], []
    started = time.monotonic()
    try:
        for m in messages:
            mail.enqueue(m)
        assert waiting(url, queue) == TASKS
        for threshold in KILL_AT:
            workers.append(subprocess.Popen(worker_command(queue), cwd=tmp_path, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            assert sink.wait_for(threshold, timeout=120), f"the worker did not reach {threshold} sends"
            workers[-1].kill()
            workers[-1].wait(10)
            kills.append(len(sink.records()))
        workers.append(subprocess.Popen(worker_command(queue), cwd=tmp_path, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        deadline = time.monotonic() + 180
        while not ids <= set(sink.counts()) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for worker in workers:
            stop(worker)
        stop(sink.process)
        delete_queue(url, queue)
    seen = sink.counts()
    missing = ids - set(seen)
    duplicates = sum(n - 1 for n in seen.values())
    elapsed = time.monotonic() - started
    print(
        f"\nrabbitmq crash ({'quorum' if quorum else 'classic'}): {TASKS} tasks, {len(kills)} SIGKILLs at "
        f"{kills} sends; missing {len(missing)}, duplicates {duplicates}; {elapsed:.0f} s"
    )
    assert not missing
    assert duplicates <= len(kills) * CONCURRENCY
