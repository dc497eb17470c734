"""The durable outbox: how fast messages go in, and how fast a worker drains them.

    .venv/bin/python benchmarks/bench_outbox.py [--messages 2000] [--runs 3]

* enqueue: ``mailer.enqueue(message)`` one by one (each a durable commit: WAL, synchronous=FULL,
  one fsync per message) and ``SQLiteOutbox.enqueue_many`` in batches of 100 (one fsync per batch),
  into a file on the same disk as the system's temp directory.
* drain: one in-process ``OutboxWorker`` (batch 50) emptying a full outbox through the default
  policy stack to a ``memory://`` transport (the outbox's own cost: claim, mark sent) and to a
  local SMTP sink (aiosmtpd in its own process, ``smtp://127.0.0.1:PORT?tls=none``, one kept-open
  connection) when the mailcore-smtp plugin is installed.

Writes benchmarks/results/outbox.json. Figures are msg/s; the ratio column compares each line to
the first one of its table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from harness import Measurement, measure, report, write_json

from mailcore import Mailer, Message
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.plugins import get_registry
from mailcore.policy import MemoryStore
from mailcore.testing import clear_outboxes

SMTP_SINK = textwrap.dedent(
    """
    import socket, sys
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    print(controller.port, flush=True)
    sys.stdin.read()
    controller.stop()
    """
)


def messages(count: int) -> list[Message]:
    return [
        Message("app@example.com", [f"user{i}@example.org"], f"Order {i}", text="Thanks!\n" * 20) for i in range(count)
    ]


def enqueue_cases(directory: Path, count: int) -> list[Measurement]:
    batch = messages(count)
    run = iter(range(1_000_000))

    def one_by_one() -> int:
        mailer = Mailer("memory://bench", outbox=f"sqlite:///{directory / f'one-{next(run)}.sqlite3'}")
        for message in batch:
            mailer.enqueue(message)
        return len(batch)

    def batched() -> int:
        with open_outbox(f"sqlite:///{directory / f'many-{next(run)}.sqlite3'}") as box:
            for start in range(0, len(batch), 100):
                box.enqueue_many(batch[start : start + 100])
        return len(batch)

    return [
        measure("mailer.enqueue (1 fsync each)", one_by_one),
        measure("enqueue_many x100 (1 fsync per 100)", batched),
    ]


def drain_case(name: str, url: str, directory: Path, count: int) -> Measurement:
    batch = messages(count)
    run = iter(range(1_000_000))
    mailer = Mailer(url, state=MemoryStore())

    def drain() -> int:
        clear_outboxes()
        with open_outbox(f"sqlite:///{directory / f'drain-{name[:4]}-{next(run)}.sqlite3'}") as box:
            box.enqueue_many(batch)
            worker = OutboxWorker(mailer, box, batch_size=50)
            stats = worker.run(until_idle=True)
        assert stats.sent == len(batch), stats.line()
        return stats.sent

    return measure(name, drain)


def with_smtp_sink(action: Callable[[str], Measurement]) -> Measurement | None:
    if "smtp" not in get_registry().schemes():
        print("mailcore-smtp is not installed: SMTP drain skipped")
        return None
    sink = subprocess.Popen([sys.executable, "-c", SMTP_SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        return action(f"smtp://127.0.0.1:{port}?tls=none")
    finally:
        sink.terminate()
        sink.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.pop("MAILCORE_STATE_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        directory = Path(tmp)
        enqueue = enqueue_cases(directory, args.messages)
        drains = [drain_case("worker → memory://", "memory://bench", directory, args.messages)]
        smtp = with_smtp_sink(
            lambda url: drain_case("worker → local SMTP sink (aiosmtpd)", url, directory, args.messages)
        )
        if smtp is not None:
            drains.append(smtp)
    data = {
        "messages": args.messages,
        "enqueue": report("enqueue into SQLite", enqueue, enqueue[0].name),
        "drain": report("worker drain rate", drains, drains[0].name),
        "when_measured": time.strftime("%Y-%m-%d"),
    }
    write_json("outbox", data)


if __name__ == "__main__":
    main()
