"""Shared pieces for the bulk tests: scripted batch transports and a spec-checking SendGrid sink."""

import threading

import pytest

from mailcore.result import Delivery
from mailcore.testing.specs import require_spec, sendgrid_mail_send_validator, spec_file
from mailcore.transport import ProviderTransport

SENDGRID_SPEC = spec_file("sendgrid_tsg_mail_v3.json")


class CountingTransport(ProviderTransport):
    """Delivers nothing and keeps nothing: counts messages and checks each has one recipient."""

    def __init__(self, name="counting"):
        self.name = name
        self.count = 0
        self.multi = 0
        self._lock = threading.Lock()

    def deliver(self, message):
        with self._lock:
            self.count += 1
            if len(message.recipients) != 1:
                self.multi += 1
        return Delivery(provider_message_id=f"c-{self.count}")


class ScriptedBatchTransport(ProviderTransport):
    """A batch-capable transport: raises the scripted errors first, refuses batches holding a
    'bad' address as a whole (like SendGrid's 400), records each batch's addresses."""

    def __init__(self, name="batch://a", *, errors=(), max_batch_size=1000, keep=True):
        self.name = name
        self.max_batch_size = max_batch_size
        self.errors = list(errors)
        self.batches = []
        self.sizes = []
        self.delivered = 0
        self.keep = keep
        self._lock = threading.Lock()

    def deliver(self, message):
        return Delivery(provider_message_id="single")

    def send_batch(self, batch):
        from mailcore.errors import MessageRejected

        with self._lock:
            if self.errors:
                raise self.errors.pop(0)
            emails = [item.address.email for item in batch.items]
            if any(e.startswith("bad") for e in emails):
                raise MessageRejected("400: invalid address in personalizations")
            self.sizes.append(len(emails))
            if self.keep:
                self.batches.append(emails)
            self.delivered += len(emails)
            return [batch.accepted(item, self.name, f"{self.name}-{len(self.sizes)}") for item in batch.items]


@pytest.fixture
def no_sleep():
    return {"sleep": lambda seconds: None, "retry": {"first_delay": 0.0, "attempts": 3}}


@pytest.fixture(scope="session")
def sendgrid_validator():
    """Validates mail/send bodies against SendGrid's published OpenAPI schema."""
    validator = sendgrid_mail_send_validator(require_spec(SENDGRID_SPEC))

    def validate(request):
        if request.method != "POST":
            return []
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(request.json())]

    return validate
