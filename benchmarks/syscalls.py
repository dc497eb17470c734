"""System calls per message on the paths of ``ab_cpu.py``, counted with ``strace -c -f``.

Run: ``python benchmarks/syscalls.py [--tree DIR]`` (Linux with ``strace``; ``--tree`` as in
``ab_cpu.py``). The sinks run in this process's children, untraced; each client runs in a
process of its own under ``strace -f -c`` twice, with N and 6·N messages, and the difference of
the two counts divided by 5·N is the per-message figure (imports, the TLS handshake and thread
start-up cancel out). Counts do not depend on load, unlike CPU time, which makes them a good
check of changes that remove system calls; they say nothing of what a call costs.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CLIENT = r"""
import sys, threading
tree = sys.argv[1]
if tree:
    from pathlib import Path
    sys.path[:0] = [tree, *(str(p) for p in sorted(Path(tree).glob("plugins/*/src")))]
case, n, url, cafile, port = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
from mailcore import Message

if case.startswith("sendgrid"):
    from mailcore_sendgrid.transport import SendGridTransport
    threads = int(case.split("-")[1])
    transport = SendGridTransport("SG.benchmark-key", endpoint_url=url, cafile=cafile, timeout=10)
    def work(indices):
        for i in indices:
            transport.send(Message("shop@example.com", ["ann@example.org"], f"Your order {i}", text="Thanks. " * 60))
    workers = [threading.Thread(target=work, args=(range(j, n, threads),)) for j in range(threads)]
    for w in workers: w.start()
    for w in workers: w.join()
    transport.close()
else:
    from mailcore_smtp import SMTPTransport
    pool = int(case.split("-")[1])
    messages = [
        Message("bench@example.com", [f"user{i}@example.org"], f"Order {i} confirmed",
                text=f"Hello {i},\nthanks.", html=f"<p>Hello {i}</p>")
        for i in range(n)
    ]
    transport = SMTPTransport(f"smtp://127.0.0.1:{port}?tls=none&pool={pool}")
    results = transport.send_many(messages, concurrency=pool)
    assert not any(isinstance(r, Exception) for r in results)
"""


def count(case: str, n: int, tree: str, url: str, cafile: str, port: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        subprocess.run(
            ["strace", "-f", "-c", "-o", out.name, sys.executable, "-c", CLIENT, tree, case, str(n), url, cafile,
             str(port)], check=True,
        )  # fmt: skip
        counts: dict[str, int] = {}
        for line in out.read().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, help="import mailcore and plugins from this checkout")
    parser.add_argument("--n", type=int, default=200, help="N: messages of the short run (the long one sends 6·N)")
    args = parser.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("strace is not installed")
    tree = str(args.tree.resolve()) if args.tree else ""
    sys.path.insert(0, str(HERE))
    from sinks import HTTPSSink, SMTPSink

    with tempfile.TemporaryDirectory() as tls_dir, HTTPSSink(0.0, tls_dir=tls_dir) as https, SMTPSink(0.0) as smtp:
        for case in ("sendgrid-1", "sendgrid-8", "smtp-4"):
            short = count(case, args.n, tree, https.url, https.cafile, smtp.port)
            long = count(case, 6 * args.n, tree, https.url, https.cafile, smtp.port)
            per = {name: (long.get(name, 0) - short.get(name, 0)) / (5 * args.n) for name in long}
            shown = sorted(((v, k) for k, v in per.items() if abs(v) >= 0.05), reverse=True)
            total = sum(per.values())
            print(f"{case}: {total:.2f} system calls per message — " + ", ".join(f"{k} {v:.2f}" for v, k in shown))


if __name__ == "__main__":
    main()
