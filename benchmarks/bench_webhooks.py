"""Ingest of signed SendGrid Event Webhook batches, one process, no network.

python benchmarks/bench_webhooks.py        (or: python3 noxfile.py -s bench -- benchmarks/bench_webhooks.py)

A batch of 1,000 SendGrid-shaped events (processed, delivered, bounce, open, click, with the
``mailcore_id`` custom arg) is signed once with a P-256 key made here; each workload ingests 50
such requests (50,000 events) and the rate is events per second:

* baseline: the official ``sendgrid`` helper's ``EventWebhook.verify_signature`` + ``json.loads``
  (signature and parsing only, no mapping);
* mailcore ``SendGridWebhook.verify_and_parse``: window, signature, parsing and mapping every
  record to a ``DeliveryEvent``;
* mailcore WSGI receiver: the same through ``mailcore.webhooks.app`` (environ, size limit,
  dispatch of every event to the ``mailcore_delivery_event`` hook, with one observer counting).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import measure, report, write_json

BATCH = 1_000
REQUESTS = 50
KINDS = ["processed", "delivered", "bounce", "open", "click"]


def make_batch() -> bytes:
    records = [
        {
            "email": f"user{i}@example.org",
            "timestamp": 1796040000 + i,
            "event": KINDS[i % len(KINDS)],
            "sg_event_id": f"ev-{i}",
            "sg_message_id": f"msg{i // 5}.filter0001.1",
            "mailcore_id": f"20261130.{i // 5}@app.example.com",
            "type": "bounce",
            "reason": "550 5.1.1 no such user",
        }
        for i in range(BATCH)
    ]
    return json.dumps(records).encode()


def main() -> None:
    from sendgrid.helpers.eventwebhook import EventWebhook

    from mailcore.plugins import get_plugin_manager, hookimpl
    from mailcore.testing.webhooks import post
    from mailcore.webhooks.app import WebhookApp
    from mailcore_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, SendGridWebhook

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = base64.b64encode(der).decode()
    body = make_batch()
    stamp = str(int(time.time()))
    signature = base64.b64encode(private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp}

    helper = EventWebhook(public)
    text = body.decode()

    def baseline() -> int:
        events = 0
        for _ in range(REQUESTS):
            assert helper.verify_signature(text, signature, stamp)
            events += len(json.loads(body))
        return events

    verifier = SendGridWebhook(public, max_age=3600)

    def verify_and_parse() -> int:
        return sum(len(verifier.verify_and_parse(headers, body)) for _ in range(REQUESTS))

    counted = [0]

    class Counter:
        @hookimpl
        def mailcore_delivery_event(self, event: object) -> None:
            counted[0] += 1

    get_plugin_manager().register(Counter(), name="bench-counter")
    app = WebhookApp({"sendgrid": verifier})

    def receiver() -> int:
        before = counted[0]
        for _ in range(REQUESTS):
            status = post(app, "/sendgrid", body, headers)[0]
            assert status == 200, status
        return counted[0] - before

    results = [
        measure("sendgrid helper verify + json.loads", baseline),
        measure("mailcore verify_and_parse", verify_and_parse),
        measure("mailcore WSGI receiver + hook", receiver),
    ]
    data = report(
        f"SendGrid Event Webhook ingest, {REQUESTS} signed batches of {BATCH:,} events",
        results,
        "sendgrid helper verify + json.loads",
        unit="events/s",
    )
    write_json("webhooks", data)


if __name__ == "__main__":
    main()
