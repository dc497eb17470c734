"""Ingest of signed SendGrid Event Webhook batches, one process, no network.

python benchmarks/bench_webhooks.py        (or: python3 noxfile.py -s bench -- benchmarks/bench_webhooks.py)

A batch of 1,000 SendGrid-shaped events (processed, delivered, bounce, open, click, with the
``mailcore_id`` custom arg) is signed once with a P-256 key made here; each workload ingests 50
such requests (50,000 events) and the rate is events per second:

* baseline: the official ``sendgrid`` helper's ``EventWebhook.verify_signature`` + ``json.loads``
  (signature and parsing only, no mapping);
* mailcore ``SendGridWebhook.verify_and_parse``: window, signature, parsing and mapping every
  record to a ``DeliveryEvent``;
* mailcore WSGI receiver: the same through ``mailcore.webhooks.app`` (environ, size limit) and
  storing every event in an outbox file (one transaction per request, ``synchronous=FULL``,
  de-duplication by event id) before answering — what a provider waits for;
* background handling of the stored events: claim, ``mailcore_delivery_event`` hook (one
  observer counting), suppression list (a fifth are hard bounces), mark handled.

Events are de-duplicated by ``sg_event_id``, so every request of the receiver workload carries a
batch of its own (all signed before timing starts).
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from harness import measure, report, write_json

BATCH = 1_000
REQUESTS = 50
KINDS = ["processed", "delivered", "bounce", "open", "click"]


def make_batch(n: int = 0) -> bytes:
    records = [
        {
            "email": f"user{i}@example.org",
            "timestamp": 1796040000 + i,
            "event": KINDS[i % len(KINDS)],
            "sg_event_id": f"ev-{n}-{i}",
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

    from mailcore.outbox.events import claim_pending
    from mailcore.plugins import get_plugin_manager, hookimpl
    from mailcore.testing.webhooks import post
    from mailcore.webhooks.app import WebhookApp
    from mailcore.webhooks.pipeline import EventPipeline
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
    workdir = Path(tempfile.mkdtemp(prefix="mailcore-bench-webhooks-"))
    pipeline = EventPipeline(f"sqlite:///{workdir / 'outbox.sqlite3'}")  # not started: handling is timed apart
    app = WebhookApp({"sendgrid": verifier}, pipeline=pipeline)

    def sign(n: int) -> tuple[bytes, dict[str, str]]:
        batch = make_batch(n)
        mark = base64.b64encode(private.sign(stamp.encode() + batch, ec.ECDSA(hashes.SHA256()))).decode()
        return batch, {SIGNATURE_HEADER: mark, TIMESTAMP_HEADER: stamp}

    signed_batches = iter([sign(n) for n in range(4 * REQUESTS)])  # warm-up + 3 runs, each its own events

    def receiver() -> int:
        for _ in range(REQUESTS):
            batch, batch_headers = next(signed_batches)
            status = post(app, "/sendgrid", batch, batch_headers)[0]
            assert status == 200, status
        return REQUESTS * BATCH

    def handling() -> int:
        before = counted[0]
        while counted[0] - before < REQUESTS * BATCH:
            claimed = claim_pending(pipeline.outbox, limit=1000)
            assert claimed, "nothing left to handle"
            pipeline._handle(claimed)
        return counted[0] - before

    results = [
        measure("sendgrid helper verify + json.loads", baseline),
        measure("mailcore verify_and_parse", verify_and_parse),
        measure("mailcore WSGI receiver: verify + store", receiver),
        measure("background handling: hook + suppression list", handling),
    ]
    pipeline.close()
    shutil.rmtree(workdir, ignore_errors=True)
    data = report(
        f"SendGrid Event Webhook ingest, {REQUESTS} signed batches of {BATCH:,} events",
        results,
        "sendgrid helper verify + json.loads",
        unit="events/s",
    )
    write_json("webhooks", data)


if __name__ == "__main__":
    main()
