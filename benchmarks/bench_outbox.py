"""The durable outbox: how fast messages go in, and how fast workers drain them, SQLite beside
PostgreSQL.

    .venv/bin/python benchmarks/bench_outbox.py [--messages 2000] [--runs 3] [--postgres URL | --no-postgres]

* enqueue: one message per commit (SQLite: ``mailer.enqueue(message)``, WAL, synchronous=FULL, one
  fsync per message; PostgreSQL: ``PostgresOutbox.enqueue``, one transaction per message,
  ``synchronous_commit=on``) and ``enqueue_many`` in batches of 100 (one commit per batch). SQLite
  writes a file on the same disk as the system's temp directory.
* drain: in-process ``OutboxWorker`` (batch 50) emptying a full outbox through the default policy
  stack to a ``memory://`` transport (the outbox's own cost: claim, mark sent) and to a local SMTP
  sink (aiosmtpd in its own process, ``smtp://127.0.0.1:PORT?tls=none``, one kept-open connection
  when the mailcore-smtp plugin is installed; and four ``mailcore worker`` processes draining
  to the SMTP sink (timed from the moment the rows fall due, so process start-up is not counted):
  claims contending for the same rows, as workers on several machines would.
* PostgreSQL: the server at ``--postgres`` (default ``postgresql://postgres@127.0.0.1:5432``, the
  role must be allowed to create databases); the benchmark creates a database of its own and
  drops it at the end. Skipped with a printed reason when psycopg or the server is missing.

Writes benchmarks/results/outbox.json. Figures are msg/s; the ratio column compares each line to
the first one of its table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import Measurement, measure, report, write_json

from mailcore import Mailer, Message
from mailcore.outbox import OutboxWorker, open_outbox
from mailcore.outbox.queue import open_store
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


def enqueue_cases(directory: Path, count: int, pg: str | None) -> list[Measurement]:
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

    cases = [
        measure("SQLite: mailer.enqueue (1 fsync each)", one_by_one),
        measure("SQLite: enqueue_many x100", batched),
    ]
    if pg is None:
        return cases

    def pg_one_by_one() -> int:
        with _empty(pg) as box:
            for message in batch:
                box.enqueue(message)
        return len(batch)

    def pg_batched() -> int:
        with _empty(pg) as box:
            for start in range(0, len(batch), 100):
                box.enqueue_many(batch[start : start + 100])
        return len(batch)

    return [
        *cases,
        measure("PostgreSQL: enqueue (1 commit each)", pg_one_by_one),
        measure("PostgreSQL: enqueue_many x100", pg_batched),
    ]


@contextmanager
def _empty(url: str) -> Iterator[Any]:
    """The PostgreSQL outbox at ``url``, emptied (each run starts from an empty table)."""
    box = open_store(url)
    try:
        box._run(lambda cur: cur.execute("TRUNCATE mailcore_outbox, mailcore_idempotency"))
        yield box
    finally:
        box.close()


def drain_case(name: str, url: str, store: Callable[[], str], count: int) -> Measurement:
    """One in-process OutboxWorker empties an outbox of ``count`` messages made by ``store()``
    (which returns the outbox URL)."""
    batch = messages(count)
    mailer = Mailer(url, state=MemoryStore())

    def drain() -> int:
        clear_outboxes()
        outbox_url = store()
        with open_store(outbox_url) as box:
            box.enqueue_many(batch)
        worker = OutboxWorker(mailer, outbox_url, batch_size=50)
        try:
            stats = worker.run(until_idle=True)
        finally:
            worker.close()
        assert stats.sent == len(batch), stats.line()
        return stats.sent

    return measure(name, drain)


WORKER = [sys.executable, "-c", "from mailcore.cli import main; main()", "worker"]
LEAD = 5.0  # seconds between enqueue and the rows' due time: the workers start meanwhile


def processes_case(
    name: str, url: str, store: Callable[[], str], count: int, workers: int, runs: int = 3
) -> Measurement:
    """``workers`` ``mailcore worker`` processes drain ``count`` messages; timed from the moment
    the rows fall due (enqueued ``LEAD`` seconds ahead, so process start-up is not counted)
    until the last one is marked sent."""
    batch = messages(count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCORE_")}
    rates: list[float] = []
    for _ in range(runs + 1):  # the first run warms up
        outbox_url = store()
        with open_store(outbox_url) as box:
            box.enqueue_many(batch, delay=LEAD)
            due = time.time() + LEAD
            options = ["--url", url, "--outbox", outbox_url, "--batch-size", "50", "--poll-interval", "0.02",
                       "--status-interval", "0"]  # fmt: skip
            procs = [
                subprocess.Popen([*WORKER, *options], env=env, stderr=subprocess.PIPE, text=True)
                for _ in range(workers)
            ]
            try:
                for proc in procs:
                    assert proc.stderr is not None
                    proc.stderr.readline()  # the banner: the worker has opened the outbox
                if time.time() > due:
                    print(f"{name}: workers started after the rows fell due; raise LEAD")
                while box.counts()["sent"] < count:
                    time.sleep(0.005)
                rates.append(count / (time.time() - due))
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.communicate(timeout=30)
    rates = rates[1:]
    return Measurement(name, count, statistics.median(rates), min(rates), max(rates), rates)


def drain_cases(url: str, label: str, directory: Path, count: int, pg: str | None) -> list[Measurement]:
    run = iter(range(1_000_000))

    def sqlite_store() -> str:
        return f"sqlite:///{directory / f'drain-{next(run)}.sqlite3'}"

    def pg_store() -> str:
        assert pg is not None
        with _empty(pg):
            pass
        return pg

    cases = [drain_case(f"SQLite: 1 worker → {label}", url, sqlite_store, count)]
    if pg is not None:
        cases.append(drain_case(f"PostgreSQL: 1 worker → {label}", url, pg_store, count))
    if not url.startswith("memory:"):  # memory:// is per process: its sends cannot be counted across
        cases.append(processes_case(f"SQLite: 4 processes → {label}", url, sqlite_store, count, 4))
        if pg is not None:
            cases.append(processes_case(f"PostgreSQL: 4 processes → {label}", url, pg_store, count, 4))
    return cases


def with_smtp_sink(action: Callable[[str], list[Measurement]]) -> list[Measurement]:
    if "smtp" not in get_registry().schemes():
        print("mailcore-smtp is not installed: SMTP drain skipped")
        return []
    sink = subprocess.Popen([sys.executable, "-c", SMTP_SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        return action(f"smtp://127.0.0.1:{port}?tls=none")
    finally:
        sink.terminate()
        sink.wait(5)


@contextmanager
def postgres_database(server: str | None) -> Iterator[str | None]:
    """A database of its own on ``server`` for this run (dropped at the end), or None with a reason."""
    if server is None:
        yield None
        return
    try:
        import psycopg
    except ImportError:
        print("psycopg is not installed (pip install 'steadymail[postgresql]'): PostgreSQL skipped")
        yield None
        return
    name = f"mailcore_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        print(f"PostgreSQL at {server} is not reachable ({error}): PostgreSQL skipped")
        yield None
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def claim_backlog(url: str, rows: int, claims: int = 30) -> dict[str, float]:
    """``claim(limit=50)`` on a PostgreSQL outbox holding ``rows`` due rows (high/normal/low in
    turn): median and slowest milliseconds, and whether the plan uses the claim index."""
    prios = ("high", "normal", "low")
    with _empty(url) as box:
        for start in range(0, rows, 1000):
            box.enqueue_many(
                [
                    Message("app@example.com", [f"u{i}@example.org"], f"n{i}", text="x", priority=prios[i % 3])
                    for i in range(start, min(rows, start + 1000))
                ]
            )
        box._run(lambda cur: cur.execute("ANALYZE mailcore_outbox"), idempotent=True)
        times = []
        for _ in range(claims):
            started = time.perf_counter()
            assert len(box.claim("bench", limit=50, lease=600)) == 50
            times.append((time.perf_counter() - started) * 1000)
        plan = box._run(
            lambda cur: cur.execute(
                "EXPLAIN SELECT id FROM mailcore_outbox WHERE state IN ('queued', 'sending') AND due_at <= 1e12 "
                "ORDER BY (due_at + priority * 300.0) LIMIT 50 FOR UPDATE SKIP LOCKED"
            ).fetchall(),
            write=False,
        )
    result = {
        "rows": rows,
        "median_ms": statistics.median(times),
        "slowest_ms": max(times),
        "uses_claim_index": any("mailcore_outbox_claim" in line[0] for line in plan),
    }
    print(
        f"\nPostgreSQL claim(limit=50) with {rows:,} due rows, {claims} claims: median {result['median_ms']:.1f} ms, "
        f"slowest {result['slowest_ms']:.1f} ms; claim index used: {result['uses_claim_index']}"
    )
    return result


def server_version(url: str | None) -> str | None:
    if url is None:
        return None
    with open_store(url) as box:
        row = box._run(lambda cur: cur.execute("SHOW server_version").fetchone(), write=False)
    return str(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--claim-backlog", type=int, default=50_000, help="due rows for the PostgreSQL claim test (0: skip)"
    )
    args = parser.parse_args()
    os.environ.pop("MAILCORE_STATE_URL", None)
    with (
        tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp,
        postgres_database(None if args.no_postgres else args.postgres) as pg,
    ):
        directory = Path(tmp)
        enqueue = enqueue_cases(directory, args.messages, pg)
        drains = drain_cases("memory://bench", "memory://", directory, args.messages, pg)
        drains += with_smtp_sink(lambda url: drain_cases(url, "SMTP sink (aiosmtpd)", directory, args.messages, pg))
        backlog = claim_backlog(pg, args.claim_backlog) if pg is not None and args.claim_backlog else None
        postgres = server_version(pg)
    data = {
        "messages": args.messages,
        "postgresql_server": postgres,
        "postgresql_claim_backlog": backlog,
        "enqueue": report("enqueue", enqueue, enqueue[0].name),
        "drain": report("worker drain rate", drains, drains[0].name),
        "when_measured": time.strftime("%Y-%m-%d"),
    }
    write_json("outbox", data)


if __name__ == "__main__":
    main()
