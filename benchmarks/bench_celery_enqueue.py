"""What publisher confirms cost: ``CeleryQueue.enqueue()`` on RabbitMQ with and without them.

    .venv/bin/python benchmarks/bench_celery_enqueue.py [--messages 500] [--runs 3]

One producer thread enqueues ``--messages`` messages one by one (each a ``mailcore.deliver`` task,
``Message.to_dict()`` JSON of a small text mail) into a queue nobody consumes, through:

* RabbitMQ (127.0.0.1:5672) without confirms: ``basic.publish`` returns before the broker has
  the task (the baseline; what Celery does by default);
* RabbitMQ with confirms (:func:`configure_broker`): each enqueue waits for the broker's
  ``basic.ack`` (durable classic queue, persistent message);
* the same into a quorum queue (``configure_broker(app, quorum=True)``);
* Redis (127.0.0.1:6379) as the broker, for comparison (``LPUSH``, no confirm);
* the SQLite outbox (``Mailer.enqueue``: one fsync per message) in a temp directory.

Queues get unique names and are deleted afterwards; a vhost of its own when rabbitmqctl works.
Writes benchmarks/results/celery_enqueue.json. Figures are msg/s; the ratio column compares
each line to RabbitMQ without confirms.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from celery import Celery
from harness import Measurement, measure, report, write_json
from kombu import Connection

from mailcore import Mailer, Message
from mailcore.adapters.celery import CeleryQueue
from mailcore.adapters.celery.broker import configure_broker

REDIS = "redis://127.0.0.1:6379/11"


def rabbitmq_server_version() -> str:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return "unknown"
    out = subprocess.run([ctl, "version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def make_vhost() -> tuple[str, Callable[[], None]]:
    """A vhost of its own (rabbitmqctl), else "/"; and how to remove it."""
    name = f"mailcore-bench-{uuid.uuid4().hex[:8]}"
    ctl = shutil.which("rabbitmqctl")
    if ctl and subprocess.run([ctl, "add_vhost", name], capture_output=True, check=False).returncode == 0:
        subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], capture_output=True, check=True)
        return f"amqp://guest:guest@127.0.0.1:5672/{name}", lambda: subprocess.run(
            [ctl, "delete_vhost", name], capture_output=True, check=False
        )
    return "amqp://guest:guest@127.0.0.1:5672//", lambda: None


def messages(count: int) -> list[Message]:
    return [Message("app@example.com", ["user@example.org"], f"bench {i}", text="hello " * 40) for i in range(count)]


def celery_workload(broker: str, batch: list[Message], **setup: object) -> tuple[Callable[[], int], Callable[[], None]]:
    app = Celery(f"bench-{uuid.uuid4().hex[:6]}", broker=broker)
    quorum = bool(setup.pop("quorum", False))
    app.conf.update(setup)
    configure_broker(app, quorum=quorum)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    mail = CeleryQueue(app, queue=queue)

    def run() -> int:
        for m in batch:
            mail.enqueue(m)
        return len(batch)

    def cleanup() -> None:
        with Connection(broker, connect_timeout=5) as connection:
            connection.default_channel.queue_delete(queue)
        app.close()

    return run, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    batch = messages(args.messages)
    amqp_url, remove_vhost = make_vhost()
    results: list[Measurement] = []
    cleanups: list[Callable[[], None]] = []
    try:
        cases = [
            ("RabbitMQ, no confirms (baseline)", amqp_url, {"broker_transport_options": {"confirm_publish": False}}),
            ("RabbitMQ, confirms, classic durable", amqp_url, {}),
            ("RabbitMQ, confirms, quorum queue", amqp_url, {"quorum": True}),
            ("Redis broker (no confirm)", REDIS, {}),
        ]
        for name, broker, setup in cases:
            run, cleanup = celery_workload(broker, batch, **setup)
            cleanups.append(cleanup)
            results.append(measure(name, run, runs=args.runs))
        with tempfile.TemporaryDirectory() as directory:
            mailer = Mailer("memory://", outbox=f"sqlite:///{Path(directory) / 'outbox.sqlite3'}")

            def sqlite_run() -> int:
                for m in batch:
                    mailer.enqueue(m)
                return len(batch)

            results.append(measure("SQLite outbox (fsync per message)", sqlite_run, runs=args.runs))
            mailer.close()
    finally:
        for cleanup in cleanups:
            cleanup()
        remove_vhost()
    versions = {
        "rabbitmq": rabbitmq_server_version(),
        **{package: version(package) for package in ("celery", "kombu", "amqp", "redis")},
    }
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    data = report(
        f"CeleryQueue.enqueue, {args.messages} messages one by one",
        results,
        "RabbitMQ, no confirms (baseline)",
    )
    write_json("celery_enqueue", {**data, "versions": versions})


if __name__ == "__main__":
    main()
