"""Where the client's CPU goes on the hot send paths: py-spy samples summarized as tables.

Run: ``python benchmarks/flame.py [--messages 2000] [--paths sendgrid,mailgun,ses,smtp-pool]
[--svg DIR]`` in an environment with ``py-spy`` (``pip install py-spy``) and the plugins.

Each path runs in a child process under ``py-spy record`` (300 samples/s, idle threads left
out, so a thread blocked in ``recv`` costs no samples): 100 messages to warm up, then
``--messages`` sends against the sinks of :mod:`sinks` (their own processes, not sampled). Only
samples inside the measured sends are kept (the ``smtp-pool`` path samples only the thread
holding the GIL: Python's own work, not the kernel's). Printed per path, as Markdown: the functions with the
largest own share of those samples and the largest inclusive share. ``--svg DIR`` also writes
an interactive flame graph per path (``DIR/flame-<path>.svg``).

Paths: ``sendgrid`` (``SendGridTransport.send`` over one HTTPS connection), ``mailgun`` and
``ses`` (likewise), ``smtp-pool`` (``SMTPTransport(pool=4).send_many``).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailcore import Message

PATHS = ("sendgrid", "mailgun", "ses", "smtp-pool")
#: Only samples under this frame are counted: the measured sends, not setup, warm-up or sinks.
SEND_FRAME = "measured"
TEXT = "Thanks for your order. " * 20


def measured(send: Callable[[list[Message]], object], messages: list[Message]) -> None:
    """The sends whose samples are counted (a frame of its own, after the warm-up)."""
    send(messages)


def child(path: str, n: int) -> None:
    """The workload py-spy samples."""
    from sinks import HTTPSSink, SMTPSink

    def message(i: int) -> Message:
        return Message("shop@example.com", ["ann@example.org"], f"Your order {i}", text=TEXT, html="<p>Hi</p>")

    if path == "smtp-pool":
        from mailcore_smtp import SMTPTransport

        with SMTPSink() as sink:
            transport = SMTPTransport(f"smtp://127.0.0.1:{sink.port}?tls=none&pool=4")
            transport.send_many([message(i) for i in range(100)])
            measured(transport.send_many, [message(i) for i in range(n)])
        return
    with tempfile.TemporaryDirectory() as tls_dir, HTTPSSink(tls_dir=tls_dir) as sink:
        if path == "sendgrid":
            from mailcore_sendgrid.transport import SendGridTransport

            transport = SendGridTransport("SG.x", endpoint_url=sink.url, cafile=sink.cafile, timeout=10)
        elif path == "mailgun":
            from mailcore_mailgun.transport import MailgunTransport

            transport = MailgunTransport("key-x", "mg.example.com", endpoint_url=sink.url, cafile=sink.cafile)
        else:
            from mailcore_ses.transport import SesTransport

            transport = SesTransport(
                region="eu-west-1", access_key_id="AKIDBENCH", secret_access_key="bench-secret",
                endpoint_url=sink.url, cafile=sink.cafile, timeout=10,
            )  # fmt: skip

        def send_each(messages: list[Message]) -> None:
            for item in messages:
                transport.send(item)

        send_each([message(i) for i in range(100)])
        measured(send_each, [message(i) for i in range(n)])
        transport.close()


_HARNESS = re.compile(r"flame\.py|threading\.py|concurrent/futures|_in_workers|ProviderTransport\.send")


def _name(frame: str) -> str:
    frame = re.sub(r"\(/[^)]*?/(site-packages|lib/python3\.\d+|src|benchmarks|[\w-]+)/(?=[\w/]+\.py)", "(", frame)
    return re.sub(r":\d+\)$", ")", frame)


def summarize(raw: Path, must: str, top: int, messages: int, rate: int) -> str:
    """Markdown tables of own and inclusive sample shares under the ``must`` frame.

    Frames of this script and of the threading machinery are left out of the inclusive column
    (they include everything). Samples ÷ rate ÷ messages is the busy (non-idle) time per message.
    """
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(must in f for f in frames):
            continue
        n = int(count)
        total += n
        own[_name(frames[-1])] += n
        for name in {_name(f) for f in frames if not _HARNESS.search(f)}:
            inclusive[name] += n
    busy = total / rate / messages * 1e6
    out = [
        f"{total} samples in the send path, about {busy:,.0f} µs of busy time per message",
        "",
        "| own | function | | inclusive | function |",
        "|---:|---|---|---:|---|",
    ]
    for (f1, c1), (f2, c2) in zip(own.most_common(top), inclusive.most_common(top), strict=False):
        out.append(f"| {c1 / total:.1%} | `{f1}` | | {c2 / total:.1%} | `{f2}` |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--svg", help="also write flame graphs (SVG) into this directory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages)
        return
    spy = Path(sys.executable).with_name("py-spy")
    spy_cmd = str(spy) if spy.exists() else "py-spy"
    for path in args.paths.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.txt"
            command = [sys.executable, __file__, "--child", path, "--messages", str(args.messages)]
            started = time.perf_counter()
            # threads blocked in a socket call are left out; for the threaded SMTP pool only the
            # thread holding the GIL is sampled (py-spy counts a recv in a pool thread as busy)
            mode = ["--gil"] if path == "smtp-pool" else []
            subprocess.run([spy_cmd, "record", "-r", "300", *mode, "--format", "raw", "-o", str(raw), "--", *command],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            print(f"\n### {path} ({args.messages} messages, {time.perf_counter() - started:.1f} s with setup)\n")
            # the pool's worker threads do not run under measured(): count their deliveries
            # (the 100 warm-up messages included, 1/16 of the samples at the default size)
            must = "SMTPTransport.deliver" if path == "smtp-pool" else SEND_FRAME
            print(summarize(raw, must, args.top, args.messages + (100 if path == "smtp-pool" else 0), 300))
            if args.svg:
                os.makedirs(args.svg, exist_ok=True)
                svg = Path(args.svg) / f"flame-{path}.svg"
                subprocess.run([spy_cmd, "record", "-r", "100", "-o", str(svg), "--", *command],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
                print(f"\nwrote {svg} ({svg.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
