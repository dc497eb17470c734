"""SendGrid over HTTPS: mailcore-sendgrid vs the official client vs django-anymail vs raw requests.

Every client sends N messages (default 2,000), one after another, to the same local HTTPS sink on
127.0.0.1 (self-signed CA from trustme, trusted by each client). Each client builds its own
message object per send, as an application would. Each run is repeated (default 3) and the
median, min and max throughput are reported, with ratios against mailcore.

    .venv/bin/python benchmarks/bench_http.py [--sends 2000] [--runs 3]

Results go to benchmarks/results/http.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mailcore import Message
from mailcore.testing.http_sink import HTTPSink, sendgrid_reply
from mailcore.testing.tls import local_tls

API_KEY = "SG.benchmark-key"
FROM = "shop@example.com"
TO = "ann@example.org"
SUBJECT = "Your order"
TEXT = "Thanks for your order. " * 20
RESULTS = Path(__file__).parent / "results" / "http.json"

Sender = Callable[[int], None]


def mailcore_sender(url: str, cafile: str) -> tuple[Sender, Callable[[], None]]:
    from mailcore_sendgrid.transport import SendGridTransport

    transport = SendGridTransport(API_KEY, endpoint_url=url, cafile=cafile, timeout=10)

    def send(i: int) -> None:
        transport.send(Message(FROM, [TO], SUBJECT, text=TEXT))

    return send, transport.close


def official_sender(url: str, cafile: str) -> tuple[Sender, Callable[[], None]]:
    # python_http_client uses urllib.request, which takes no CA argument: trust the test CA
    # through the standard OpenSSL variable, read whenever urllib builds its default context.
    os.environ["SSL_CERT_FILE"] = cafile
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail

    client = SendGridAPIClient(API_KEY, host=url)

    def send(i: int) -> None:
        mail = Mail(from_email=FROM, to_emails=TO, subject=SUBJECT, plain_text_content=TEXT)
        response = client.send(mail)
        assert response.status_code == 202

    return send, lambda: None


def anymail_sender(url: str, cafile: str) -> tuple[Sender, Callable[[], None]]:
    os.environ["REQUESTS_CA_BUNDLE"] = cafile  # requests' documented way to trust a CA
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            EMAIL_BACKEND="anymail.backends.sendgrid.EmailBackend",
            ANYMAIL={"SENDGRID_API_KEY": API_KEY, "SENDGRID_API_URL": f"{url}/v3/"},
            INSTALLED_APPS=["anymail"],
        )
        django.setup()
    from django.core.mail import EmailMessage, get_connection

    connection = get_connection()
    connection.open()

    def send(i: int) -> None:
        sent = EmailMessage(SUBJECT, TEXT, FROM, [TO], connection=connection).send()
        assert sent == 1

    return send, connection.close


def requests_sender(url: str, cafile: str) -> tuple[Sender, Callable[[], None]]:
    import requests

    session = requests.Session()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    def send(i: int) -> None:
        body = {
            "personalizations": [{"to": [{"email": TO}]}],
            "from": {"email": FROM},
            "subject": SUBJECT,
            "content": [{"type": "text/plain", "value": TEXT}],
        }
        response = session.post(f"{url}/v3/mail/send", data=json.dumps(body), headers=headers, verify=cafile)
        assert response.status_code == 202

    return send, session.close


CLIENTS: dict[str, Callable[[str, str], tuple[Sender, Callable[[], None]]]] = {
    "mailcore-sendgrid": mailcore_sender,
    "sendgrid (official)": official_sender,
    "django-anymail": anymail_sender,
    "requests.Session (raw)": requests_sender,
}


def run_once(
    sink: HTTPSink, factory: Callable[[str, str], tuple[Sender, Callable[[], None]]], cafile: str, sends: int
) -> dict[str, float]:
    sink.reset()
    send, close = factory(sink.url, cafile)
    started = time.perf_counter()
    for i in range(sends):
        send(i)
    elapsed = time.perf_counter() - started
    close()
    assert sink.count == sends, f"sink saw {sink.count} requests, expected {sends}"
    return {"seconds": elapsed, "per_second": sends / elapsed, "connections": sink.connections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server_context, cafile = local_tls(tmp)
        results: dict[str, dict[str, object]] = {}
        with HTTPSink(default=sendgrid_reply, ssl_context=server_context, record=False) as sink:
            for name, factory in CLIENTS.items():
                runs = [run_once(sink, factory, cafile, args.sends) for _ in range(args.runs)]
                rates = [r["per_second"] for r in runs]
                results[name] = {
                    "median_per_second": statistics.median(rates),
                    "min_per_second": min(rates),
                    "max_per_second": max(rates),
                    "connections_per_run": [r["connections"] for r in runs],
                    "runs": runs,
                }
                print(f"  {name:<24} median {statistics.median(rates):8.0f}/s", file=sys.stderr)

    ours = float(results["mailcore-sendgrid"]["median_per_second"])  # type: ignore[arg-type]
    for entry in results.values():
        entry["mailcore_speedup"] = ours / float(entry["median_per_second"])  # type: ignore[arg-type]

    print(f"\n{args.sends} sends over HTTPS to 127.0.0.1, {args.runs} runs each\n")
    print(f"{'client':<24} {'median/s':>9} {'min/s':>8} {'max/s':>8} {'conns/run':>10} {'mailcore ×':>11}")
    for name, entry in results.items():
        conns = entry["connections_per_run"][0]  # type: ignore[index]
        print(
            f"{name:<24} {entry['median_per_second']:9.0f} {entry['min_per_second']:8.0f} "
            f"{entry['max_per_second']:8.0f} {conns:>10} {entry['mailcore_speedup']:10.2f}×"
        )
    report = {
        "benchmark": "bench_http",
        "sends": args.sends,
        "runs": args.runs,
        "transport": "HTTPS (TLS, trustme CA) to a local SendGrid-like sink on 127.0.0.1",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
