"""Client CPU per message on three paths, interleaved with their anchors: an A/B across commits.

Run: ``python benchmarks/ab_cpu.py [--rounds 7] [--tree DIR] [--json PATH]`` (any environment
with the plugins and ``trustme``, e.g. ``.nox/bench-django61/bin/python``).

One process, both sinks of :mod:`sinks` at once (the HTTPS sink answering like SendGrid, the SMTP
sink), the sink answering at once (loopback: what the client's CPU costs). Each round runs every
case once, in a rotated order, after one warm-up round; every run is checked like
``bench_http``/``bench_smtp`` (all messages arrived, the promised connection count). The cases
are the same code as in those benchmarks:

* ``raw http.client keep-alive, pre-built JSON, 1 connection`` / ``mailcore SendGrid, 1 connection``
* ``raw http.client, 8 threads`` / ``mailcore SendGrid, 8 threads``
* ``smtplib, pre-built bytes, 4 threads`` / ``mailcore pool=4 send_many``

Printed per case: median CPU µs/msg (user + system of this process, all threads) and msg/s over
the rounds; per pair: the median of the per-round CPU ratios (anchor µs ÷ mailcore µs, "higher is
better", paired within a round so that load shared by both cancels).

To compare two commits, run this script at each, alternating a few times; ``--tree DIR`` imports
mailcore and its plugins from another checkout (``git archive <commit> | tar -x -C DIR``) instead
of the installed ones, with this script, the harness and the sinks unchanged::

    for i in 1 2 3; do python benchmarks/ab_cpu.py --tree /tmp/base; python benchmarks/ab_cpu.py; done
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

PAIRS = [
    ("mailcore SendGrid, 1 connection", "raw http.client keep-alive, pre-built JSON, 1 connection"),
    ("mailcore SendGrid, 8 threads", "raw http.client, 8 threads"),
    ("mailcore pool=4 send_many", "smtplib, pre-built bytes, 4 threads"),
]


def use_tree(tree: Path) -> None:
    """Import mailcore and every plugin from ``tree`` (ahead of the installed editable copies)."""
    paths = [str(tree), *(str(p) for p in sorted(tree.glob("plugins/*/src")))]
    sys.path[:0] = paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (after one warm-up round)")
    parser.add_argument("--http", type=int, default=1000, help="SendGrid messages per run")
    parser.add_argument("--smtp", type=int, default=2000, help="SMTP messages per run")
    parser.add_argument("--tree", type=Path, help="import mailcore and plugins from this checkout")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.tree is not None:
        use_tree(args.tree.resolve())
    sys.path.insert(0, str(HERE))

    from bench_http import mailcore_sendgrid_case, raw_http_case
    from bench_smtp import pool_case, smtplib_case
    from harness import _check_connections, _commit, cpu_seconds
    from sinks import HTTPSSink, SMTPSink

    import mailcore

    where = Path(mailcore.__file__).resolve().parent.parent
    print(f"mailcore from {where} (this script at commit {_commit()})")
    cpu: dict[str, list[float]] = {}
    rate: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {ours: [] for ours, _ in PAIRS}
    with tempfile.TemporaryDirectory() as tls_dir, HTTPSSink(0.0, tls_dir=tls_dir) as https, SMTPSink(0.0) as smtp:
        cases = [
            (https, raw_http_case(https, args.http)),
            (https, mailcore_sendgrid_case(https, args.http)),
            (https, raw_http_case(https, args.http, threads=8)),
            (https, mailcore_sendgrid_case(https, args.http, threads=8)),
            (smtp, smtplib_case(smtp.port, args.smtp, threads=4)),
            (smtp, pool_case(smtp.port, args.smtp, 4)),
        ]
        for _, case in cases:
            cpu[case.name], rate[case.name] = [], []
        for index in range(args.rounds + 1):
            shift = index % len(cases)
            this_round: dict[str, float] = {}
            for sink, case in cases[shift:] + cases[:shift]:
                messages0, connections0 = sink.snapshot()
                cpu0 = cpu_seconds()
                started = time.perf_counter()
                case.run()
                elapsed = time.perf_counter() - started
                spent = cpu_seconds() - cpu0
                got = sink.wait_for(messages0 + case.n) - messages0
                if got != case.n:
                    raise SystemExit(f"{case.name}: the sink accepted {got} of {case.n} messages")
                _check_connections(case, sink.snapshot()[1] - connections0)
                this_round[case.name] = spent / case.n * 1e6
                if index:  # round 0 is the warm-up
                    cpu[case.name].append(this_round[case.name])
                    rate[case.name].append(case.n / elapsed)
            if index:
                for ours, anchor in PAIRS:
                    ratios[ours].append(this_round[anchor] / this_round[ours])
    print(f"\nloopback, {args.rounds} rounds after a warm-up, cases interleaved (rotated order each round)")
    print(f"{'client':<58}{'CPU µs/msg':>11}{'min':>7}{'max':>7}{'msg/s':>9}")
    for name in cpu:
        c = cpu[name]
        print(
            f"{name:<58}{statistics.median(c):>11.1f}{min(c):>7.0f}{max(c):>7.0f}{statistics.median(rate[name]):>9,.0f}"
        )
    print("\nCPU ratio, anchor ÷ mailcore (median of per-round ratios; min–max)")
    for ours, anchor in PAIRS:
        r = ratios[ours]
        print(f"  {ours} / {anchor}: {statistics.median(r):.2f}× ({min(r):.2f}–{max(r):.2f})")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "mailcore": str(where),
                    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "rounds": args.rounds,
                    "cpu_us": cpu,
                    "rate": rate,
                    "cpu_ratio": ratios,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
