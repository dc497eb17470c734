"""SMTP throughput: mailcore against raw smtplib and Django's SMTP backend, to a local sink.

Run: ``.venv/bin/python benchmarks/bench_smtp.py [--messages 2000] [--runs 3] [--pool 4]``

The sink is a minimal asyncio SMTP server (PIPELINING, 8BITMIME, SIZE) in its own process on
127.0.0.1, so the server never competes with the client for the GIL and every client meets the
same, fast peer. Each client sends the same number of small messages (text + html) over:

* ``smtplib (raw, pre-rendered)``: one ``smtplib.SMTP`` connection, ``sendmail`` of bytes rendered
  before the clock starts — a floor for what any Python client on smtplib can do;
* ``django send_messages``: ``django.core.mail.backends.smtp.EmailBackend`` over one connection;
* ``mailcore Mailer (1 session)``: ``with Mailer(url): mailer.send(m)`` — the user-facing path;
* ``mailcore pool``: ``SMTPTransport(pool=N).send_many(messages, concurrency=N)``.

Two scenarios: the sink answering at once (loopback: the clients are CPU-bound, so the pool can
only add thread overhead), and the sink answering after ``--latency-ms`` (1 ms by default), like
a relay one network round trip away, where the pool's concurrent sessions hide the latency.

Reported (through ``harness.py``; one warm-up each, then the clients run round-robin): median, min and max messages/s of
``--runs`` runs and each median's ratio to Django. Every run checks that the sink really accepted
all messages. The JSON goes to ``benchmarks/results/smtp.json``. Speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import smtplib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Measurement, report, write_json

SENDER = "bench@example.com"


# -- the sink --------------------------------------------------------------------------------------


class SinkProtocol(asyncio.Protocol):
    """Just enough SMTP to accept mail as fast as possible; counts the messages it accepted."""

    counter: multiprocessing.sharedctypes.Synchronized  # type: ignore[name-defined]

    latency = 0.0  # seconds added before each answer (simulated network round trip)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        self.last_due = 0.0
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 sink ESMTP\r\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                with self.counter.get_lock():
                    self.counter.value += 1
                out.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[end + 2 :]
            if verb == b"EHLO":
                out.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                self.in_data = True
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.answer(b"".join(out))
                self.loop.call_at(self.last_due, self.transport.close)
                return
            else:
                out.append(b"250 2.0.0 Ok\r\n")
        if out:
            self.answer(b"".join(out))

    def answer(self, payload: bytes) -> None:
        if not self.latency:
            self.transport.write(payload)  # type: ignore[attr-defined]
            return
        # strictly increasing due times keep the answers in order
        self.last_due = max(self.loop.time() + self.latency, self.last_due + 1e-6)
        self.loop.call_at(self.last_due, self.transport.write, payload)  # type: ignore[attr-defined]


def _sink_main(conn, counter, latency: float) -> None:  # runs in the sink process
    SinkProtocol.counter = counter
    SinkProtocol.latency = latency

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(SinkProtocol, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(serve())


# -- clients ---------------------------------------------------------------------------------------


def make_messages(n: int):
    from mailcore import Message

    return [
        Message(
            SENDER,
            [f"user{i}@example.org"],
            f"Order {i} confirmed",
            text=f"Hello {i},\nthanks.",
            html=f"<p>Hello {i}</p>",
        )
        for i in range(n)
    ]


def run_smtplib(port: int, n: int) -> Callable[[], None]:
    from mailcore.render import render

    prepared = [(m.recipients[0].email, render(m)) for m in make_messages(n)]

    def run() -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local") as client:
            for rcpt, data in prepared:
                client.sendmail(SENDER, [rcpt], data)

    return run


def run_django(port: int, n: int) -> Callable[[], None]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            DEFAULT_CHARSET="utf-8",
        )
        django.setup()
    settings.EMAIL_PORT = port
    from django.core.mail import EmailMultiAlternatives, get_connection

    messages = []
    for i in range(n):
        email = EmailMultiAlternatives(f"Order {i} confirmed", f"Hello {i},\nthanks.", SENDER, [f"user{i}@example.org"])
        email.attach_alternative(f"<p>Hello {i}</p>", "text/html")
        messages.append(email)

    def run() -> None:
        sent = get_connection(host="127.0.0.1", port=port).send_messages(messages)
        assert sent == n

    return run


def run_mailcore(port: int, n: int) -> Callable[[], None]:
    from mailcore import Mailer

    messages = make_messages(n)

    def run() -> None:
        with Mailer(f"smtp://127.0.0.1:{port}?tls=none&max_messages=100000") as mailer:
            for message in messages:
                mailer.send(message)

    return run


def run_mailcore_pool(port: int, n: int, pool: int) -> Callable[[], None]:
    from mailcore_smtp import SMTPTransport

    messages = make_messages(n)

    def run() -> None:
        transport = SMTPTransport(f"smtp://127.0.0.1:{port}?tls=none&pool={pool}&max_messages=100000")
        results = transport.send_many(messages, concurrency=pool)
        assert all(not isinstance(r, Exception) for r in results), results[:3]

    return run


# -- driver ----------------------------------------------------------------------------------------


def counted(run: Callable[[], None], n: int, counter) -> Callable[[], int]:
    """A harness workload: run once, check the sink really accepted ``n`` messages."""

    def workload() -> int:
        before = counter.value
        run()
        deadline = time.monotonic() + 5
        while counter.value - before < n and time.monotonic() < deadline:
            time.sleep(0.01)
        if counter.value - before != n:
            raise SystemExit(f"the sink received {counter.value - before} of {n} messages")
        return n

    return workload


def interleaved(workloads: list[tuple[str, Callable[[], int]]], runs: int) -> list[Measurement]:
    """Like ``harness.measure`` for each workload, but run round-robin (one warm-up each).

    The machine may be shared: interleaving spreads any background load over every client
    instead of penalizing whichever happened to run while it was busy.
    """
    rates: dict[str, list[float]] = {name: [] for name, _ in workloads}
    for _, workload in workloads:
        workload()
    for _ in range(runs):
        for name, workload in workloads:
            started = time.perf_counter()
            count = workload()
            rates[name].append(count / (time.perf_counter() - started))
    return [Measurement(name, count, statistics.median(r), min(r), max(r), r) for name, r in rates.items()]


def scenario(title: str, latency: float, n: int, runs: int, pool: int) -> dict[str, object]:
    """Start a sink answering after ``latency`` seconds, measure every client against it."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    parent, child = context.Pipe()
    sink = context.Process(target=_sink_main, args=(child, counter, latency), daemon=True)
    sink.start()
    port = parent.recv()
    django_name = "django send_messages (1 connection)"
    try:
        clients = [
            ("smtplib raw, pre-rendered (1 connection)", run_smtplib(port, n)),
            (django_name, run_django(port, n)),
            ("mailcore Mailer (1 session)", run_mailcore(port, n)),
            (f"mailcore pool={pool} send_many", run_mailcore_pool(port, n, pool)),
        ]
        measurements = interleaved([(name, counted(run, n, counter)) for name, run in clients], runs)
    finally:
        sink.terminate()
    data = report(title, measurements, django_name)
    data["latency_ms"] = latency * 1000
    data["targets"] = {"mailcore Mailer (1 session)": 1.3, f"mailcore pool={pool} send_many": 3.0}
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=1.0, help="server answer delay for the second scenario")
    args = parser.parse_args()
    n, runs, pool = args.messages, args.runs, args.pool
    loopback = scenario(f"SMTP: {n} small text+html messages, local sink", 0.0, n, runs, pool)
    delayed = scenario(
        f"SMTP: {n} messages, sink answering after {args.latency_ms:g} ms (a network round trip)",
        args.latency_ms / 1000,
        n,
        runs,
        pool,
    )
    write_json("smtp", {"title": "SMTP throughput", "scenarios": [loopback, delayed]})


if __name__ == "__main__":
    main()
