"""HTTP providers over TLS: mailcore against raw http.client, requests, boto3 and official clients.

Run: ``python benchmarks/bench_http.py [--runs 3] [--quick]`` (or ``python3 noxfile.py -s bench``).

One HTTPS sink (:mod:`sinks`, asyncio in its own process, trustme CA passed as ``cafile``)
answers like SendGrid, Mailgun and SES v2 and counts messages and connections; every run checks
both (1 connection for kept-open and process-wide paths, 1..K for K threads, N only for the
official SendGrid client, which opens one per request). Scenarios: the sink answering at once,
after 1 ms and after 20 ms.

* SendGrid: raw ``http.client`` keep-alive (pre-built JSON, one connection, and K = 8 threads
  each with its own); mailcore's transport on one connection and shared by 8 threads;
  ``mailcore.send_mail`` per call (process-wide Mailer); the official ``sendgrid`` client per call.
* Mailgun: ``requests.Session`` posting the same multipart form mailcore builds; mailcore's transport.
* SES: ``boto3`` ``sesv2.send_email`` called directly; mailcore's transport (boto3 underneath).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Case, Goal, print_table, run_cases, write_json
from sinks import HTTPSSink

from mailcore import Message

API_KEY = "SG.benchmark-key"
FROM = "shop@example.com"
TO = "ann@example.org"
SUBJECT = "Your order"
TEXT = "Thanks for your order. " * 20
DOMAIN = "mg.example.com"


def message(i: int) -> Message:
    return Message(FROM, [TO], f"{SUBJECT} {i}", text=TEXT)


def in_threads(k: int, n: int, work) -> None:  # type: ignore[no-untyped-def]
    """Run ``work(indices)`` in ``k`` threads over a split of range(n)."""
    threads = [threading.Thread(target=work, args=(range(j, n, k),)) for j in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- SendGrid -----------------------------------------------------------------------------------


def raw_http_case(sink: HTTPSSink, n: int, threads: int = 1) -> Case:
    context = ssl.create_default_context(cafile=sink.cafile)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    bodies = [
        json.dumps({
            "personalizations": [{"to": [{"email": TO}]}], "from": {"email": FROM}, "subject": f"{SUBJECT} {i}",
            "content": [{"type": "text/plain", "value": TEXT}],
        }).encode()
        for i in range(n)
    ]  # fmt: skip

    def work(indices: range) -> None:
        connection = http.client.HTTPSConnection("127.0.0.1", sink.port, context=context, timeout=10)
        for i in indices:
            connection.request("POST", "/v3/mail/send", body=bodies[i], headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 202
        connection.close()

    name = (
        "raw http.client keep-alive, pre-built JSON, 1 connection"
        if threads == 1
        else f"raw http.client, {threads} threads"
    )
    return Case(name, lambda: in_threads(threads, n, work), n, threads)


def mailcore_sendgrid_case(sink: HTTPSSink, n: int, threads: int = 1) -> Case:
    from mailcore_sendgrid.transport import SendGridTransport

    def run() -> None:
        transport = SendGridTransport(API_KEY, endpoint_url=sink.url, cafile=sink.cafile, timeout=10)

        def work(indices: range) -> None:
            for i in indices:
                transport.send(message(i))

        in_threads(threads, n, work)
        transport.close()

    name = "mailcore SendGrid, 1 connection" if threads == 1 else f"mailcore SendGrid, {threads} threads"
    return Case(name, run, n, 1 if threads == 1 else (1, threads))


def send_mail_case(sink: HTTPSSink, n: int) -> Case:
    import mailcore
    from mailcore.shared import close_all

    def prepare() -> None:
        os.environ["MAILCORE_URL"] = f"sendgrid://{API_KEY}@?endpoint_url={sink.url}&cafile={sink.cafile}"
        os.environ["MAILCORE_FROM"] = FROM
        close_all()

    def run() -> None:
        for i in range(n):
            mailcore.send_mail(f"{SUBJECT} {i}", TEXT, None, [TO])

    return Case("mailcore.send_mail per call, SendGrid (process-wide)", run, n, 1, before=prepare)


def official_case(sink: HTTPSSink, n: int) -> Case:
    # python_http_client uses urllib.request, which takes no CA argument: trust the test CA
    # through the standard OpenSSL variable, read whenever urllib builds its default context.
    os.environ["SSL_CERT_FILE"] = sink.cafile
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail

    def run() -> None:
        for i in range(n):  # per call, as an app does per request
            client = SendGridAPIClient(API_KEY, host=sink.url)
            mail = Mail(from_email=FROM, to_emails=TO, subject=f"{SUBJECT} {i}", plain_text_content=TEXT)
            assert client.send(mail).status_code == 202

    return Case("official sendgrid client per call", run, n, n)


# -- Mailgun ------------------------------------------------------------------------------------


def requests_mailgun_case(sink: HTTPSSink, n: int) -> Case:
    import requests

    from mailcore_mailgun.payload import build_form

    forms = [[(k, (None, v)) for k, v in build_form(message(i)).fields] for i in range(n)]

    def run() -> None:
        with requests.Session() as session:
            session.auth = ("api", "key-bench")
            for form in forms:
                response = session.post(f"{sink.url}/v3/{DOMAIN}/messages", files=form, verify=sink.cafile, timeout=10)
                assert response.status_code == 200

    return Case("requests.Session, same Mailgun form pre-built", run, n, 1)


def mailcore_mailgun_case(sink: HTTPSSink, n: int) -> Case:
    from mailcore_mailgun.transport import MailgunTransport

    def run() -> None:
        transport = MailgunTransport("key-bench", domain=DOMAIN, endpoint_url=sink.url, cafile=sink.cafile, timeout=10)
        for i in range(n):
            transport.send(message(i))
        transport.close()

    return Case("mailcore Mailgun, 1 connection", run, n, 1)


# -- SES ----------------------------------------------------------------------------------------


def boto3_case(sink: HTTPSSink, n: int) -> Case:
    import boto3

    def run() -> None:
        client = boto3.client(
            "sesv2", region_name="eu-west-1", endpoint_url=sink.url, verify=sink.cafile,
            aws_access_key_id="AKIDBENCH", aws_secret_access_key="bench-secret",
        )  # fmt: skip
        for i in range(n):
            client.send_email(
                FromEmailAddress=FROM, Destination={"ToAddresses": [TO]},
                Content={"Simple": {"Subject": {"Data": f"{SUBJECT} {i}"}, "Body": {"Text": {"Data": TEXT}}}},
            )  # fmt: skip
        client.close()

    return Case("boto3 sesv2 send_email directly", run, n, 1)


def mailcore_ses_case(sink: HTTPSSink, n: int) -> Case:
    from mailcore_ses.transport import SesTransport

    def run() -> None:
        transport = SesTransport(
            region="eu-west-1", access_key_id="AKIDBENCH", secret_access_key="bench-secret",
            endpoint_url=sink.url, cafile=sink.cafile, timeout=10,
        )  # fmt: skip
        for i in range(n):
            transport.send(message(i))
        transport.close()

    return Case("mailcore SES, 1 connection", run, n, 1)


# -- scenarios ----------------------------------------------------------------------------------


def scenario(latency_ms: float, n: int, runs: int, tls_dir: str) -> dict[str, object]:
    with HTTPSSink(latency_ms / 1000, tls_dir=tls_dir) as sink:
        per_call = max(10, n // 5)
        cases = [
            raw_http_case(sink, n),
            raw_http_case(sink, n, threads=8),
            mailcore_sendgrid_case(sink, n),
            mailcore_sendgrid_case(sink, n, threads=8),
            send_mail_case(sink, per_call),
            official_case(sink, per_call),
            requests_mailgun_case(sink, n),
            mailcore_mailgun_case(sink, n),
            boto3_case(sink, n),
            mailcore_ses_case(sink, n),
        ]
        results = run_cases(sink, cases, runs)
    goals = [
        Goal("mailcore SendGrid, 1 connection", "raw http.client keep-alive, pre-built JSON, 1 connection", 0.8),
        Goal("mailcore SendGrid, 8 threads", "raw http.client, 8 threads", 0.7),
        Goal("mailcore.send_mail per call, SendGrid (process-wide)", "official sendgrid client per call", 5.0),
        Goal("mailcore Mailgun, 1 connection", "requests.Session, same Mailgun form pre-built", 1.2),
        Goal("mailcore SES, 1 connection", "boto3 sesv2 send_email directly", 1.2),
    ]
    title = f"HTTPS APIs, sink answering {'at once' if not latency_ms else f'after {latency_ms:g} ms'}"
    data = print_table(title, results, goals)
    data["latency_ms"] = latency_ms
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    plan = [(0.0, 1000), (1.0, 300), (20.0, 40)]
    with tempfile.TemporaryDirectory() as tls_dir:
        scenarios = [scenario(latency, max(16, int(n * scale)), args.runs, tls_dir) for latency, n in plan]
    write_json("http", {"title": "HTTPS provider APIs", "scenarios": scenarios})


if __name__ == "__main__":
    main()
