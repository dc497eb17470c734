"""What a policy stack costs per message, against a bare memory transport, in one run.

    .venv/bin/python benchmarks/bench_policy.py [--messages 50000] [--runs 5]

Each case sends the same messages through a memory:// transport, bare or wrapped; the figure is
the median over runs of the time per message, and the overhead is that minus the bare
transport's median measured in the same process. The target for failover(retry(memory)) is
under 20 µs per message. Writes benchmarks/results/policy.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mailcore import Mailer, Message
from mailcore.policy import Failover, MemoryStore, Retrying, build
from mailcore.testing import clear_outboxes
from mailcore.transport import Transport
from mailcore.transports.memory import MemoryTransport

RESULTS = Path(__file__).resolve().parent / "results" / "policy.json"
TARGET_US = 20.0


def cases() -> dict[str, Callable[[], Transport | Mailer]]:
    return {
        "bare memory": lambda: MemoryTransport("bench"),
        "retry(memory)": lambda: Retrying(MemoryTransport("bench")),
        "failover(retry(memory))": lambda: Failover([Retrying(MemoryTransport("bench"))]),
        "default stack failover(a b)": lambda: build("failover(memory://bench memory://spare)", state=MemoryStore()),
        "default stack roundrobin(a b c)": lambda: build(
            "roundrobin(memory://bench memory://b2 memory://b3)", state=MemoryStore()
        ),
        "default stack + ?rate=1000000/d": lambda: build(
            "failover(memory://bench?rate=1000000/d memory://spare)", state=MemoryStore()
        ),
        "Mailer.send over the default stack": lambda: Mailer(
            "failover(memory://bench memory://spare)", state=MemoryStore()
        ),
    }


def time_per_message(make: Callable[[], Transport | Mailer], messages: list[Message]) -> float:
    sender = make()
    send = sender.send
    clear_outboxes()
    started = time.perf_counter()
    for message in messages:
        send(message)
    elapsed = time.perf_counter() - started
    clear_outboxes()
    return elapsed / len(messages) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = max(3, args.runs)
    messages = [Message("app@example.com", [f"user{n}@example.org"], "bench", text="hi") for n in range(args.messages)]

    samples: dict[str, list[float]] = {name: [] for name in cases()}
    for _ in range(runs):  # interleave cases so drift affects all alike
        for name, make in cases().items():
            samples[name].append(time_per_message(make, messages))

    bare = statistics.median(samples["bare memory"])
    rows = []
    print(f"{'case':<36} {'µs/msg (median)':>16} {'overhead µs':>12}   runs: {runs} × {args.messages}")
    for name, values in samples.items():
        median = statistics.median(values)
        overhead = median - bare
        rows.append({"case": name, "median_us": round(median, 3), "overhead_us": round(overhead, 3),
                     "runs_us": [round(v, 3) for v in values]})  # fmt: skip
        print(f"{name:<36} {median:>16.2f} {overhead:>12.2f}")
    target = next(r for r in rows if r["case"] == "failover(retry(memory))")
    verdict = "meets" if target["overhead_us"] < TARGET_US else "MISSES"
    print(
        f"\nfailover(retry(memory)) adds {target['overhead_us']:.2f} µs/message: {verdict} the < {TARGET_US:g} µs target"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "policy overhead per message",
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "messages_per_run": args.messages,
                "runs": runs,
                "target_overhead_us": TARGET_US,
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
