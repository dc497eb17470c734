"""The outbox claim with a backlog: how long ``claim(limit=50)`` takes with 50,000 due rows.

    .venv/bin/python benchmarks/bench_outbox_claim.py [--rows 50000] [--claims 30]

The rows have mixed priorities (high, normal, low in turn) and are all due. Each claim selects
50 rows in claim order (``due_at + rank * aging``), moves expired ones aside and marks the 50
``sending`` in one transaction (one fsync: ``synchronous=FULL``). Prints the median and the
slowest claim in milliseconds. Runs on whichever mailcore is first on ``sys.path``, so the same
script measures an older checkout (``PYTHONPATH=/path/to/old/checkout``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from mailcore import Message
from mailcore.outbox import open_outbox

PRIORITIES = ("high", "normal", "low")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--claims", type=int, default=30)
    args = parser.parse_args()
    has_priority = hasattr(Message("a@example.com", ["b@example.org"], "s", text="t"), "priority")
    with tempfile.TemporaryDirectory() as directory, open_outbox(f"sqlite:///{directory}/o.sqlite3") as box:
        for start in range(0, args.rows, 1000):
            box.enqueue_many(
                [
                    Message("a@example.com", [f"u{i}@example.org"], f"s{i}", text="t",
                            **({"priority": PRIORITIES[i % 3]} if has_priority else {}))
                    for i in range(start, min(start + 1000, args.rows))
                ],
                delay=-1,
            )  # fmt: skip
        times = []
        for n in range(args.claims):
            started = time.perf_counter()
            claimed = box.claim(f"w{n}", limit=50, lease=600)
            times.append(time.perf_counter() - started)
            assert len(claimed) == 50
    print(
        f"claim(limit=50) with {args.rows:,} due rows: median {statistics.median(times) * 1000:.2f} ms, "
        f"slowest {max(times) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
