"""Shared benchmark plumbing: repeat a workload, report median/min/max and ratios, write JSON.

Benchmarks are scripts, never timed assertions in tests. Each compares mailcore with a baseline
in the same run on the same machine, so the ratio is what to read, not the absolute figure.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
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


def measure(name: str, workload: Callable[[], int], *, runs: int = 3, warmup: bool = True) -> Measurement:
    """Run ``workload`` (which returns how many operations it did) ``runs`` times."""
    if warmup:
        workload()
    rates = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        count = workload()
        rates.append(count / (time.perf_counter() - started))
    return Measurement(name, count, statistics.median(rates), min(rates), max(rates), rates)


def report(title: str, measurements: list[Measurement], baseline: str, *, unit: str = "msg/s") -> dict[str, object]:
    """Print a table with ratios to ``baseline`` and return a JSON-ready dict."""
    base = next(m for m in measurements if m.name == baseline).median
    print(f"\n{title}  (median of {len(measurements[0].runs)} runs; ratio to {baseline})")
    print(f"{'':<40}{unit:>12}{'min':>12}{'max':>12}{'ratio':>8}")
    for m in measurements:
        print(f"{m.name:<40}{m.median:>12,.0f}{m.minimum:>12,.0f}{m.maximum:>12,.0f}{m.median / base:>8.2f}")
    return {
        "title": title,
        "baseline": baseline,
        "unit": unit,
        "results": [asdict(m) | {"ratio": m.median / base} for m in measurements],
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
