"""Delivery events beside the outbox, SQLite beside PostgreSQL: how fast a receiver stores them
and the pipeline handles them (issue 17 on both stores).

    .venv/bin/python benchmarks/bench_events_store.py [--events 2000] [--postgres URL | --no-postgres]

* store: ``store_events`` in webhook-sized batches of 10 (one durable commit per batch: SQLite
  synchronous=FULL, PostgreSQL ``synchronous_commit=on``), each event linked to no outbox row.
* handle: ``EventPipeline.drain()`` (claim 100, run the hook, mark handled) with no observer.

PostgreSQL: the server at ``--postgres`` (default ``postgresql://postgres@127.0.0.1:5432``, a role
allowed to create databases); a database of its own is created and dropped. Prints events/s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime

from mailcore.events import DeliveryEvent
from mailcore.outbox import events as store
from mailcore.outbox.eventsql import open_event_store
from mailcore.webhooks.pipeline import EventPipeline


def measure(url: str, count: int) -> tuple[float, float]:
    events = [
        DeliveryEvent("delivered", "acme", datetime.now(UTC), recipient=f"u{i}@example.org", provider_event_id=f"e{i}")
        for i in range(count)
    ]
    with open_event_store(url) as box:
        started = time.perf_counter()
        for i in range(0, count, 10):
            store.store_events(box, events[i : i + 10])
        stored = time.perf_counter() - started
        started = time.perf_counter()
        handled = EventPipeline(box).drain()
        drained = time.perf_counter() - started
    return count / stored, handled / drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        rates = measure(f"sqlite:///{directory}/outbox.sqlite3", args.events)
        print(f"sqlite      store {rates[0]:8.0f} events/s   handle {rates[1]:8.0f} events/s")
    if args.no_postgres:
        return
    try:
        import psycopg

        admin = psycopg.connect(f"{args.postgres}/postgres", autocommit=True, connect_timeout=5)
    except Exception as error:  # a missing driver or server: say so, the SQLite figures stand
        print(f"postgresql  skipped: {type(error).__name__}")
        return
    name = f"mailcore_bench_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            rates = measure(f"{args.postgres}/{name}", args.events)
            print(f"postgresql  store {rates[0]:8.0f} events/s   handle {rates[1]:8.0f} events/s")
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
