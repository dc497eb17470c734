"""Shared benchmark plumbing: repeat a workload, report median/min/max and ratios, write JSON.

Benchmarks are scripts, never timed assertions in tests. Each compares mailcore with a baseline
in the same run on the same machine, so the ratio is what to read, not the absolute figure.

Two measures per client: messages per second of wall clock, and the **CPU time of the client
process per message** (user + system of every thread of this process, plus any child process
the workload started and waited for, such as Postfix's ``smtp-source``; the sinks run in
processes of their own and are not counted). Wall-clock rates on a shared machine move with
the other jobs' load; CPU per message moves far less, so its same-run ratio is the load-robust
one. Neither measure includes the sink's work.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measurement:
    name: str
    count: int
    median: float  # operations per second
    minimum: float
    maximum: float
    runs: list[float]
    #: CPU seconds of the client process per operation, one entry per run (empty: not measured).
    cpu_runs: list[float] = field(default_factory=list)

    @property
    def cpu_us(self) -> float | None:
        """Median CPU microseconds per operation, or ``None`` when not measured."""
        return statistics.median(self.cpu_runs) * 1e6 if self.cpu_runs else None


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measure(name: str, workload: Callable[[], int], *, runs: int = 3, warmup: bool = True) -> Measurement:
    """Run ``workload`` (which returns how many operations it did) ``runs`` times."""
    if warmup:
        workload()
    rates = []
    cpu = []
    count = 0
    for _ in range(runs):
        cpu0 = cpu_seconds()
        started = time.perf_counter()
        count = workload()
        rates.append(count / (time.perf_counter() - started))
        cpu.append((cpu_seconds() - cpu0) / max(1, count))
    return Measurement(name, count, statistics.median(rates), min(rates), max(rates), rates, cpu)


def report(title: str, measurements: list[Measurement], baseline: str, *, unit: str = "msg/s") -> dict[str, object]:
    """Print a table with ratios to ``baseline`` and return a JSON-ready dict."""
    base = next(m for m in measurements if m.name == baseline).median
    print(f"\n{title}  (median of {len(measurements[0].runs)} runs; ratio to {baseline})")
    print(f"{'':<40}{unit:>12}{'min':>12}{'max':>12}{'ratio':>8}{'CPU µs/op':>11}")
    for m in measurements:
        cpu = f"{m.cpu_us:>11,.1f}" if m.cpu_us is not None else f"{'-':>11}"
        print(f"{m.name:<40}{m.median:>12,.0f}{m.minimum:>12,.0f}{m.maximum:>12,.0f}{m.median / base:>8.2f}{cpu}")
    return {
        "title": title,
        "baseline": baseline,
        "unit": unit,
        "results": [asdict(m) | {"ratio": m.median / base, "cpu_us": m.cpu_us} for m in measurements],
    }


def write_json(name: str, data: dict[str, object]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine description."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "commit": _commit(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path


def _commit() -> str | None:
    """The git commit measured, so results can be compared across commits."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


# -- cases against a counting sink: connection checks and same-run ratios ---------------------------


@dataclass
class Case:
    """One client workload: ``run()`` sends ``n`` messages to the sink.

    ``connections`` is what the sink must have seen per run: an exact count, a ``(low, high)``
    range (a pool of K opens 1..K), or ``None`` when the sink cannot count (Postfix's smtp-sink).
    ``before`` runs untimed ahead of each run (e.g. drop process-wide connections so every run
    starts cold and the count is exact).
    """

    name: str
    run: Callable[[], None]
    n: int
    connections: int | tuple[int, int] | None = 1
    before: Callable[[], None] | None = None


@dataclass
class Checked:
    measurement: Measurement
    connections: list[int]


def run_cases(sink: object, cases: list[Case], runs: int) -> dict[str, Checked]:
    """Measure ``cases`` round-robin (one warm-up each), checking messages and connections.

    Interleaving spreads background load (a shared machine) over every client instead of
    penalizing whichever ran while it was busy. A run whose sink saw fewer messages than sent,
    or a connection count outside the case's expectation, stops the benchmark: a fast wrong
    client is not a result.
    """
    rates: dict[str, list[float]] = {c.name: [] for c in cases}
    cpus: dict[str, list[float]] = {c.name: [] for c in cases}
    conns: dict[str, list[int]] = {c.name: [] for c in cases}
    for index in range(runs + 1):
        for case in cases:
            if case.before is not None:
                case.before()
            messages0, connections0 = sink.snapshot()  # type: ignore[attr-defined]
            cpu0 = cpu_seconds()
            started = time.perf_counter()
            case.run()
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds() - cpu0
            got = sink.wait_for(messages0 + case.n) - messages0  # type: ignore[attr-defined]
            if got != case.n:
                raise SystemExit(f"{case.name}: the sink accepted {got} of {case.n} messages")
            opened = sink.snapshot()[1] - connections0  # type: ignore[attr-defined]
            _check_connections(case, opened)
            if index:  # the first round is the warm-up
                rates[case.name].append(case.n / elapsed)
                cpus[case.name].append(cpu / case.n)
                conns[case.name].append(opened)
    return {
        c.name: Checked(Measurement(c.name, c.n, statistics.median(rates[c.name]), min(rates[c.name]),
                                    max(rates[c.name]), rates[c.name], cpus[c.name]), conns[c.name])
        for c in cases
    }  # fmt: skip


def _check_connections(case: Case, opened: int) -> None:
    expected = case.connections
    if expected is None:
        return
    low, high = (expected, expected) if isinstance(expected, int) else expected
    if not low <= opened <= high:
        raise SystemExit(f"{case.name}: {opened} connections in one run, expected {low}..{high}")


@dataclass
class Goal:
    """``ours`` should reach ``target`` × ``anchor`` (``None``: shown, no goal)."""

    ours: str
    anchor: str
    target: float | None = None


def print_table(title: str, results: dict[str, Checked], goals: list[Goal]) -> dict[str, object]:
    """Print rates, CPU per message, connection counts and every goal's same-run ratios.

    Each goal gets two ratios: wall clock (ours msg/s ÷ anchor msg/s) and CPU (anchor CPU µs per
    message ÷ ours), both "higher is better" and both compared with the goal's target. The CPU
    ratio says how much client work each message costs, which the other jobs on a shared machine
    disturb far less than the wall clock; with latency the wall clock is set by round trips and
    the two measure different things (both are shown).
    """
    print(f"\n{title}  (median of {len(next(iter(results.values())).measurement.runs)} runs)")
    print(f"{'client':<52}{'msg/s':>10}{'min':>10}{'max':>10}{'CPU µs/msg':>12}{'conns/run':>11}")
    for name, checked in results.items():
        m = checked.measurement
        conns = "/".join(str(c) for c in sorted(set(checked.connections))) or "-"
        cpu = f"{m.cpu_us:>12,.0f}" if m.cpu_us is not None else f"{'-':>12}"
        print(f"{name:<52}{m.median:>10,.0f}{m.minimum:>10,.0f}{m.maximum:>10,.0f}{cpu}{conns:>11}")
    rows = []
    for goal in goals:
        if goal.ours not in results or goal.anchor not in results:
            continue
        ours, anchor = results[goal.ours].measurement, results[goal.anchor].measurement
        ratio = ours.median / anchor.median
        cpu_ratio = anchor.cpu_us / ours.cpu_us if ours.cpu_us and anchor.cpu_us else None
        verdict = ""
        if goal.target is not None:
            verdict = f"  goal ≥ {goal.target:.1f}×: wall {'met' if ratio >= goal.target else 'MISSED'}"
            if cpu_ratio is not None:
                verdict += f", CPU {'met' if cpu_ratio >= goal.target else 'MISSED'}"
        cpu_text = (
            f"; CPU {ours.cpu_us:,.0f} vs {anchor.cpu_us:,.0f} µs/msg = {cpu_ratio:.2f}×"
            if cpu_ratio is not None and ours.cpu_us is not None and anchor.cpu_us is not None
            else ""
        )
        print(f"  {goal.ours} / {goal.anchor}: wall {ratio:.2f}×{cpu_text}{verdict}")
        rows.append({"ours": goal.ours, "anchor": goal.anchor, "ratio": ratio, "cpu_ratio": cpu_ratio,
                     "ours_cpu_us": ours.cpu_us, "anchor_cpu_us": anchor.cpu_us, "target": goal.target,
                     "met": None if goal.target is None else ratio >= goal.target,
                     "cpu_met": None if goal.target is None or cpu_ratio is None else cpu_ratio >= goal.target})  # fmt: skip
    return {
        "title": title,
        "results": [
            asdict(c.measurement) | {"connections": c.connections, "cpu_us": c.measurement.cpu_us}
            for c in results.values()
        ],
        "ratios": rows,
    }
