"""SMTP throughput: mailcore against raw smtplib, Postfix's C smtp-source and Django, same run.

Run: ``python benchmarks/bench_smtp.py [--runs 3] [--quick]`` (or ``python3 noxfile.py -s bench``,
which runs it once with Django 6.1 and once with Django 5.2).

Sinks (:mod:`sinks`, each in its own process) count accepted messages **and connections**, and
every run is checked: all messages arrived, and the client opened the connections its case
promises (1 for one session or a process-wide path, 1..K for a pool of K, N only for the
per-call anchors that really open one per message). Three scenarios: the sink answering at once
(loopback, CPU-bound clients), after 1 ms and after 20 ms (a network round trip, where
pipelining, pooling and concurrency matter). Plus Postfix's own C ``smtp-sink`` with its C
``smtp-source`` client when Postfix is installed (skipped with a printed reason otherwise).

Clients (each sends the same small text+html message, or a 137 KB attachment):

* anchors: ``smtplib`` over one connection and in K = 4 / 8 threads, each sending bytes rendered
  before the clock starts; Django's SMTP backend ``send_messages`` over one connection; Django's
  ``send_mail()`` once per message (Django opens a connection per call); ``smtp-source``;
* mailcore: ``Mailer`` over one session; ``SMTPTransport(pool=K).send_many``; ``mailcore.send_mail``
  per message and Django ``send_mail()`` per message with mailcore's backend (both through the
  process-wide shared Mailer, one connection per run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Case, Checked, Goal, Measurement, cpu_seconds, print_table, run_cases, write_json
from sinks import SMTPSink

SENDER = "bench@example.com"
DEFAULT_MAX_MESSAGES = 1000  # mailcore-smtp's max_messages default
ATTACHMENT_BYTES = 137 * 1024


def make_messages(n: int, attachment: bool = False):
    from mailcore import Attachment, Message

    blob = os.urandom(ATTACHMENT_BYTES) if attachment else b""
    return [
        Message(
            SENDER,
            [f"user{i}@example.org"],
            f"Order {i} confirmed",
            text=f"Hello {i},\nthanks.",
            html=f"<p>Hello {i}</p>",
            attachments=[Attachment("report.pdf", blob, "application/pdf")] if attachment else (),
        )
        for i in range(n)
    ]


# -- anchors ------------------------------------------------------------------------------------


def smtplib_case(port: int, n: int, threads: int = 1, attachment: bool = False) -> Case:
    from mailcore.render import render

    prepared = [(m.recipients[0].email, render(m)) for m in make_messages(n, attachment)]
    shares = [prepared[k::threads] for k in range(threads)]

    def one(share: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local") as client:
            for rcpt, data in share:
                client.sendmail(SENDER, [rcpt], data)

    def run() -> None:
        if threads == 1:
            one(prepared)
            return
        workers = [threading.Thread(target=one, args=(share,)) for share in shares]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    label = "smtplib, pre-built bytes, 1 connection" if threads == 1 else f"smtplib, pre-built bytes, {threads} threads"
    return Case(label + (" [137 KB]" if attachment else ""), run, n, threads)


def django_setup() -> str | None:
    try:
        import django
        from django.conf import settings
    except ImportError:
        return None
    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_USE_TLS=False,
            DEFAULT_CHARSET="utf-8",
            DEFAULT_FROM_EMAIL=SENDER,
        )
        django.setup()
    return str(django.__version__)


def django_send_messages_case(port: int, n: int, version: str) -> Case:
    from django.core.mail import EmailMultiAlternatives, get_connection

    messages = []
    for i in range(n):
        email = EmailMultiAlternatives(f"Order {i} confirmed", f"Hello {i},\nthanks.", SENDER, [f"user{i}@example.org"])
        email.attach_alternative(f"<p>Hello {i}</p>", "text/html")
        messages.append(email)

    def run() -> None:
        connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=port)
        assert connection.send_messages(messages) == n

    return Case(f"Django {version} SMTP send_messages, 1 connection", run, n, 1)


def django_send_mail_case(port: int, n: int, version: str, *, mailcore_backend: bool) -> Case:
    from django.conf import settings
    from django.core.mail import send_mail

    def prepare() -> None:
        settings.EMAIL_PORT = port
        if mailcore_backend:
            from mailcore.shared import close_all

            settings.EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
            settings.MAILCORE = {"URL": f"smtp://127.0.0.1:{port}?tls=none"}
            close_all()  # every run starts cold: exactly one connection per run
        else:
            settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    def run() -> None:
        for i in range(n):
            assert (
                send_mail(f"Order {i}", f"Hello {i}", SENDER, [f"user{i}@example.org"], html_message="<p>Hi</p>") == 1
            )

    if mailcore_backend:
        return Case(f"mailcore backend: Django {version} send_mail per call", run, n, 1, before=prepare)
    return Case(f"Django {version} send_mail per call (SMTP backend)", run, n, n, before=prepare)


# -- mailcore -----------------------------------------------------------------------------------


def mailer_case(port: int, n: int, attachment: bool = False) -> Case:
    from mailcore import Mailer

    messages = make_messages(n, attachment)

    def run() -> None:
        with Mailer(f"smtp://127.0.0.1:{port}?tls=none") as mailer:
            for message in messages:
                mailer.send(message)

    # a session is renewed after max_messages (default 1000): one connection per 1000 messages
    sessions = -(-n // DEFAULT_MAX_MESSAGES)
    return Case("mailcore Mailer, 1 session" + (" [137 KB]" if attachment else ""), run, n, (1, sessions))


def pool_case(port: int, n: int, pool: int) -> Case:
    from mailcore_smtp import SMTPTransport

    messages = make_messages(n)

    def run() -> None:
        transport = SMTPTransport(f"smtp://127.0.0.1:{port}?tls=none&pool={pool}")
        results = transport.send_many(messages, concurrency=pool)
        assert all(not isinstance(r, Exception) for r in results), results[:3]

    return Case(f"mailcore pool={pool} send_many", run, n, (1, pool + n // DEFAULT_MAX_MESSAGES))


def send_mail_case(port: int, n: int) -> Case:
    import mailcore
    from mailcore.shared import close_all

    def prepare() -> None:
        os.environ["MAILCORE_URL"] = f"smtp://127.0.0.1:{port}?tls=none"
        os.environ["MAILCORE_FROM"] = SENDER
        close_all()

    def run() -> None:
        for i in range(n):
            mailcore.send_mail(f"Order {i}", f"Hello {i}", None, [f"user{i}@example.org"], html_message="<p>Hi</p>")

    return Case("mailcore.send_mail per call (process-wide)", run, n, 1, before=prepare)


# -- scenarios ----------------------------------------------------------------------------------


def scenario(latency_ms: float, n: int, n_attach: int, runs: int, django_version: str | None) -> dict[str, object]:
    with SMTPSink(latency_ms / 1000) as sink:
        port = sink.port
        per_call = max(20, n // 4)  # per-call paths pay a handshake each: fewer messages
        cases = [
            smtplib_case(port, n),
            smtplib_case(port, n, threads=4),
            smtplib_case(port, n, threads=8),
            mailer_case(port, n),
            pool_case(port, n, 4),
            pool_case(port, n, 8),
            send_mail_case(port, per_call),
            smtplib_case(port, n_attach, attachment=True),
            mailer_case(port, n_attach, attachment=True),
        ]
        goals = [
            Goal("mailcore Mailer, 1 session", "smtplib, pre-built bytes, 1 connection", None),
            Goal("mailcore pool=4 send_many", "smtplib, pre-built bytes, 4 threads", 1.0),
            Goal("mailcore pool=8 send_many", "smtplib, pre-built bytes, 8 threads", 1.0),
            Goal("mailcore Mailer, 1 session [137 KB]", "smtplib, pre-built bytes, 1 connection [137 KB]", 1.0),
        ]
        if django_version:
            ours_dj = f"mailcore backend: Django {django_version} send_mail per call"
            theirs_dj = f"Django {django_version} send_mail per call (SMTP backend)"
            send_messages = f"Django {django_version} SMTP send_messages, 1 connection"
            cases += [
                django_send_messages_case(port, n, django_version),
                django_send_mail_case(port, per_call, django_version, mailcore_backend=False),
                django_send_mail_case(port, per_call, django_version, mailcore_backend=True),
            ]
            goals += [
                Goal("mailcore Mailer, 1 session", send_messages, None),
                Goal("mailcore.send_mail per call (process-wide)", theirs_dj, 3.0),
                Goal(ours_dj, theirs_dj, 3.0),
            ]
        results = run_cases(sink, cases, runs)
    title = f"SMTP, sink answering {'at once' if not latency_ms else f'after {latency_ms:g} ms'}"
    data = print_table(title, results, goals)
    data["latency_ms"] = latency_ms
    return data


def postfix_scenario(n: int, runs: int) -> dict[str, object] | None:
    """mailcore and smtplib against Postfix's C smtp-sink, next to Postfix's C smtp-source.

    ``smtp-source -d`` keeps one connection for all messages (without ``-d`` it reconnects for
    each), like the Python clients here.
    """
    sink_bin, source_bin = (
        shutil.which("smtp-sink") or "/usr/sbin/smtp-sink",
        shutil.which("smtp-source") or "/usr/sbin/smtp-source",
    )
    if not (os.access(sink_bin, os.X_OK) and os.access(source_bin, os.X_OK)):
        print("\nPostfix smtp-sink/smtp-source not installed (apt-get install postfix): C anchor skipped")
        return None
    from mailcore.render import render

    size = len(render(make_messages(1)[0]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # smtp-sink refuses to run as root
    sink = subprocess.Popen(
        [sink_bin, *user, f"127.0.0.1:{port}", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)

        def source() -> None:
            subprocess.run(
                [source_bin, "-d", "-s", "1", "-m", str(n), "-l", str(size), "-f", SENDER, "-t", "user@example.org",
                 f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip

        cases = [
            Case("C smtp-source, 1 connection", source, n, None),
            Case("smtplib, pre-built bytes, 1 connection", smtplib_case(port, n).run, n, None),
            Case("mailcore Mailer, 1 session", mailer_case(port, n).run, n, None),
        ]
        results = _time_uncounted(cases, runs)
    finally:
        sink.terminate()
        sink.wait(5)
    goals = [
        Goal("mailcore Mailer, 1 session", "C smtp-source, 1 connection", 1.0),
        Goal("smtplib, pre-built bytes, 1 connection", "C smtp-source, 1 connection", None),
    ]
    return print_table(f"SMTP, Postfix smtp-sink (C), {size}-byte messages", results, goals)


def _time_uncounted(cases: list[Case], runs: int) -> dict[str, Checked]:
    """Round-robin timing for a sink that cannot count (smtp-sink); clients check their own replies."""
    import statistics

    rates: dict[str, list[float]] = {c.name: [] for c in cases}
    cpus: dict[str, list[float]] = {c.name: [] for c in cases}
    for index in range(runs + 1):
        for case in cases:
            cpu0 = cpu_seconds()  # smtp-source is a child process: reaped, so counted
            started = time.perf_counter()
            case.run()
            if index:
                rates[case.name].append(case.n / (time.perf_counter() - started))
                cpus[case.name].append((cpu_seconds() - cpu0) / case.n)
    return {
        name: Checked(Measurement(name, cases[0].n, statistics.median(r), min(r), max(r), r, cpus[name]), [])
        for name, r in rates.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    django_version = django_setup()
    if django_version is None:
        print("django not installed: its rows are left out")
    plan = [(0.0, 2000, 200), (1.0, 400, 60), (20.0, 40, 10)]
    scenarios = [
        scenario(latency, max(8, int(n * scale)), max(4, int(na * scale)), args.runs, django_version)
        for latency, n, na in plan
    ]
    postfix = postfix_scenario(int(2000 * scale), args.runs)
    if postfix is not None:
        scenarios.append(postfix)
    suffix = f"-django{django_version.replace('.', '')[:2]}" if django_version else ""
    write_json(f"smtp{suffix}", {"title": "SMTP throughput", "django": django_version, "scenarios": scenarios})


if __name__ == "__main__":
    main()
