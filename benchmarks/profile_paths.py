"""Where the time goes on the three hottest paths: cProfile summaries for docs/performance.md.

Run: ``.nox/bench-django61/bin/python benchmarks/profile_paths.py [--messages 3000]``

Paths: (1) ``Mailer`` over one SMTP session, (2) ``mailcore.send_mail`` per call over SMTP
(the process-wide Mailer), (3) the SendGrid transport over one HTTPS connection. Each runs once
to warm up, then once under cProfile against the sinks of :mod:`sinks` (their own processes, so
the sink's work is not in the profile). Printed per path: the share of wall time spent in
socket/TLS I/O (the kernel and the peer, not Python) and the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sinks import HTTPSSink, SMTPSink

IO = ("sendall", "recv", "recv_into", "read' of '_ssl", "write' of '_ssl", "do_handshake", "connect")


def profile(name: str, run: Callable[[], None], top: int) -> None:
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]
    io = sum(tt for (file, _, func), (_, _, tt, _, _) in entries.items() if any(k in func for k in IO))
    print(f"\n## {name}: {total:.2f} s profiled, {io / total:.0%} in socket/TLS calls")
    rows = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print(f"{'own s':>7} {'share':>6} {'calls':>8}  function")
    for (file, line, func), (_, calls, tt, _, _) in rows:
        where = func if file == "~" else f"{Path(file).name}:{line}({func})"
        print(f"{tt:7.3f} {tt / total:6.1%} {calls:8d}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    n = args.messages

    import mailcore
    from mailcore import Mailer, Message
    from mailcore_sendgrid.transport import SendGridTransport

    messages = [Message("bench@example.com", [f"u{i}@example.org"], f"Order {i}", text="Hi", html="<p>Hi</p>")
                for i in range(n)]  # fmt: skip
    with SMTPSink() as smtp:
        url = f"smtp://127.0.0.1:{smtp.port}?tls=none"

        def mailer() -> None:
            with Mailer(url) as m:
                for message in messages:
                    m.send(message)

        profile("SMTP, Mailer over one session", mailer, args.top)
        os.environ["MAILCORE_URL"], os.environ["MAILCORE_FROM"] = url, "bench@example.com"

        def per_call() -> None:
            for i in range(n):
                mailcore.send_mail(f"Order {i}", "Hi", None, [f"u{i}@example.org"], html_message="<p>Hi</p>")

        profile("SMTP, mailcore.send_mail per call (process-wide Mailer)", per_call, args.top)
    with tempfile.TemporaryDirectory() as tls_dir, HTTPSSink(tls_dir=tls_dir) as https:
        transport = SendGridTransport("SG.bench", endpoint_url=https.url, cafile=https.cafile, timeout=10)

        def sendgrid() -> None:
            for message in messages:
                transport.send(message)

        profile("SendGrid, one keep-alive HTTPS connection", sendgrid, args.top)


if __name__ == "__main__":
    main()
