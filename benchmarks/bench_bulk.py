"""Personalized bulk sending to a SendGrid-shaped HTTPS sink on 127.0.0.1.

python benchmarks/bench_bulk.py            (or: python3 noxfile.py -s bench)

* mailcore ``send_bulk``: 100,000 personalized messages, 1,000 personalizations a request over
  kept-alive TLS connections, 4 threads; the effective rate is messages (recipients) per second.
* mailcore per-message: ``send_iter`` through the SendGrid transport, one request per message.
* baseline: the official ``sendgrid`` client, one ``POST /v3/mail/send`` per message (it opens a
  new TLS connection for each), on a smaller N.
* memory: a fresh child process streams 100,000 recipients; peak traced memory (tracemalloc) and
  the growth of ru_maxrss over the idle process are reported.

The sink runs in its own process (so it does not share the client's GIL), answers 202 with an
``X-Message-Id``, and counts personalizations and any that hold more than one recipient.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import ssl
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import measure, report, write_json

BULK_N = 100_000
PER_MESSAGE_N = 3_000
BASELINE_N = 300
CONCURRENCY = 4
KEY = "SG.benchmark-key"


# -- the sink (child process) ---------------------------------------------------------------------


def _sink_main(certfile: str, keyfile: str, ports: Any) -> None:
    from mailcore.testing.http_sink import HTTPSink, RecordedRequest, Reply, sendgrid_reply

    stats = {"requests": 0, "personalizations": 0, "shared": 0}

    def answer(request: RecordedRequest) -> Reply:
        if request.method == "GET":
            return Reply(200, body=dict(stats))
        body = json.loads(request.body)
        blocks = body["personalizations"]
        stats["requests"] += 1
        stats["personalizations"] += len(blocks)
        stats["shared"] += sum(1 for b in blocks if len(b["to"]) != 1 or "cc" in b or "bcc" in b)
        return sendgrid_reply(request)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    sink = HTTPSink(default=answer, ssl_context=context, record=False)
    sink._server.request_queue_size = 512
    sink.start()
    ports.put(sink.port)
    while True:
        time.sleep(3600)


def start_sink(tmp: Path) -> tuple[multiprocessing.Process, str, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    ports: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=_sink_main, args=(str(certfile), str(keyfile), ports), daemon=True)
    process.start()
    return process, f"https://127.0.0.1:{ports.get(timeout=30)}", str(cafile)


def sink_stats(base: str, cafile: str) -> dict[str, int]:
    context = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(f"{base}/stats", context=context) as answer:
        stats: dict[str, int] = json.loads(answer.read())
        return stats


# -- workloads ------------------------------------------------------------------------------------


def recipients(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"email": f"user{i}@example.org", "name": f"User {i}", "code": i, "metadata": {"row": str(i)}}


def template() -> Any:
    from mailcore.bulk import bulk_template

    return bulk_template(
        "News <news@example.com>",
        "Your statement, {name}",
        text="Hello {name},\nyour code is {code}.\n",
        html="<p>Hello {name},</p><p>your code is <b>{code}</b>.</p>",
    )


def mailcore_bulk(url: str) -> Any:
    from mailcore import Mailer

    mailer = Mailer(url, retry=None)
    tpl = template()

    def run() -> int:
        sent = 0
        for result in mailer.send_bulk(tpl, recipients(BULK_N), concurrency=CONCURRENCY):
            sent += result.ok
        assert sent == BULK_N, f"only {sent} sent"
        return sent

    return run


def mailcore_per_message(url: str) -> Any:
    from mailcore import Mailer, Message

    mailer = Mailer(url, retry=None)

    def messages() -> Iterator[Message]:
        for i in range(PER_MESSAGE_N):
            yield Message("news@example.com", [f"user{i}@example.org"], f"Your statement, User {i}", text=f"code {i}")

    def run() -> int:
        sent = sum(1 for r in mailer.send_iter(messages(), concurrency=CONCURRENCY) if not isinstance(r, Exception))
        assert sent == PER_MESSAGE_N
        return sent

    return run


def sendgrid_client(base: str) -> Any:
    import sendgrid
    from sendgrid.helpers.mail import Mail

    client = sendgrid.SendGridAPIClient(api_key=KEY, host=base)

    def run() -> int:
        for i in range(BASELINE_N):
            mail = Mail(
                from_email="news@example.com",
                to_emails=f"user{i}@example.org",
                subject=f"Your statement, User {i}",
                plain_text_content=f"code {i}",
            )
            response = client.send(mail)
            assert response.status_code == 202
        return BASELINE_N

    return run


# -- memory (fresh child process) -----------------------------------------------------------------


def _memory_child(url: str, results: Any) -> None:
    from mailcore import Mailer

    mailer = Mailer(url, retry=None)
    tpl = template()
    list(mailer.send_bulk(tpl, recipients(2_000), concurrency=CONCURRENCY))  # warm up: imports, pool
    idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    sent = sum(r.ok for r in mailer.send_bulk(tpl, recipients(BULK_N), concurrency=CONCURRENCY))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - idle
    results.put({"sent": sent, "tracemalloc_peak_mb": peak / 2**20, "maxrss_growth_mb": grown / 1024})


def measure_memory(url: str) -> dict[str, float]:
    results: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_memory_child, args=(url, results))
    child.start()
    outcome: dict[str, float] = results.get(timeout=600)
    child.join()
    return outcome


def main() -> None:
    multiprocessing.set_start_method("spawn", force=True)
    with tempfile.TemporaryDirectory() as tmp:
        sink, base, cafile = start_sink(Path(tmp))
        os.environ["SSL_CERT_FILE"] = cafile  # the official client takes no CA bundle
        url = f"sendgrid://{KEY}@?endpoint_url={base}&cafile={cafile}"
        try:
            before = sink_stats(base, cafile)
            measurements = [
                measure(f"mailcore send_bulk ({BULK_N:,}, {CONCURRENCY} threads)", mailcore_bulk(url)),
                measure(f"mailcore send_iter per message ({PER_MESSAGE_N:,})", mailcore_per_message(url)),
                measure(f"sendgrid client per message ({BASELINE_N})", sendgrid_client(base), runs=3),
            ]
            after = sink_stats(base, cafile)
            data = report(
                "Personalized bulk to a SendGrid-shaped HTTPS sink",
                measurements,
                baseline=f"sendgrid client per message ({BASELINE_N})",
            )
            memory = measure_memory(url)
        finally:
            sink.terminate()
    shared = after["shared"] - before["shared"]
    print(f"\nsink: {after['personalizations'] - before['personalizations']:,} personalizations in "
          f"{after['requests'] - before['requests']:,} requests; {shared} with more than one recipient")  # fmt: skip
    print(f"memory for {BULK_N:,} streamed: tracemalloc peak {memory['tracemalloc_peak_mb']:.1f} MB, "
          f"ru_maxrss growth over idle {memory['maxrss_growth_mb']:.1f} MB")  # fmt: skip
    bulk = measurements[0].median
    print(f"target >= 20,000 msg/s effective: {'met' if bulk >= 20_000 else 'NOT met'} ({bulk:,.0f})")
    write_json(
        "bulk",
        {
            **data,
            "memory": {"messages": BULK_N, **memory, "target_mb": 100},
            "sink": {"shared_personalizations": shared},
            "target_messages_per_second": 20_000,
            "met": bulk >= 20_000 and memory["maxrss_growth_mb"] < 100 and shared == 0,
        },
    )


if __name__ == "__main__":
    main()
