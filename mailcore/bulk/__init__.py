"""Personalized bulk sending: one template, many recipients, each with a message of their own.

::

    from mailcore import Mailer
    from mailcore.bulk import bulk_template

    template = bulk_template("news@example.com", "Hello {first_name}", text="Hi {first_name}, ...")
    with Mailer.from_url("sendgrid://KEY@") as mailer:
        for result in mailer.send_bulk(template, [{"email": "a@example.org", "first_name": "Ann"}]):
            if not result.ok:
                print(result.email, result.error)

Provider batch APIs are used where the stack has them (SendGrid personalizations, Mailgun
recipient-variables, SES ``SendBulkEmail``), one message per recipient otherwise; the policy
applies per batch. See docs/bulk.md.
"""

from mailcore.bulk.engine import DEFAULT_BATCH_SIZE, BulkSender, send_bulk
from mailcore.bulk.merge import MergeError, MergeTemplate, field_text
from mailcore.bulk.model import Batch, BatchItem, BulkTemplate, Recipient, RecipientResult, bulk_template
from mailcore.bulk.route import BatchLeaf, BatchTransport, batch_route
from mailcore.bulk.stream import bounded_map, chunked

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Batch",
    "BatchItem",
    "BatchLeaf",
    "BatchTransport",
    "BulkSender",
    "BulkTemplate",
    "MergeError",
    "MergeTemplate",
    "Recipient",
    "RecipientResult",
    "batch_route",
    "bounded_map",
    "bulk_template",
    "chunked",
    "field_text",
    "send_bulk",
]
