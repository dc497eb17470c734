"""Personalized bulk sending through SES ``SendBulkEmail``: up to 50 destinations a request.

``SendBulkEmail`` needs an SES template, so only a template message with ``template_id`` goes
this way (:func:`accepts_batch`); anything else is sent one message per recipient through the
ordinary ``SendEmail`` path by the bulk engine. :func:`build_bulk_request` (pure) gives each
destination its own entry: only that recipient in ``ToAddresses`` (nobody sees anybody else),
``ReplacementTemplateData`` = the template data plus their fields, their correlation id as the
``mailcore-id`` tag and ``X-Mailcore-ID`` header, their metadata as tags.

SES answers per entry (:func:`entry_error`): ``SUCCESS`` → accepted with its MessageId; a
refused entry is that recipient's failure. When *no* entry succeeded and the reason concerns
the account or the request (throttled, suspended, template missing), the whole batch is raised
as that error so the policy retries or fails it over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mailcore.bulk import Batch, BatchItem, RecipientResult
from mailcore.errors import InvalidMessage, MessageRejected, RateLimited, SendError, TransientError, TransportRejected
from mailcore.message import CORRELATION_HEADER, Message
from mailcore_ses.errors import classify_exception
from mailcore_ses.payload import (
    MAX_DESTINATIONS,
    SesOptions,
    _ascii_email,
    _display_address,
    _email_tags,
    _template_content,
    correlation_tag_value,
)

if TYPE_CHECKING:
    from mailcore_ses.transport import SesTransport

__all__ = ["MAX_BATCH_SIZE", "accepts_batch", "build_bulk_request", "entry_error", "send_batch"]

MAX_BATCH_SIZE = MAX_DESTINATIONS
CORRELATION_TAG = "mailcore-id"

_RATE = {"ACCOUNT_THROTTLED", "ACCOUNT_DAILY_QUOTA_EXCEEDED"}
_TRANSIENT = {"TRANSIENT_FAILURE", "FAILED"}
_MESSAGE = {"MESSAGE_REJECTED", "INVALID_PARAMETER"}


def accepts_batch(message: Message) -> bool:
    """``SendBulkEmail`` works with SES templates only."""
    return message.template_id is not None


def build_bulk_request(batch: Batch, options: SesOptions | None = None) -> dict[str, Any]:
    """The ``SendBulkEmail`` keyword arguments for ``batch`` (a template message)."""
    message = batch.template.message
    if message.template_id is None:
        raise InvalidMessage("template_id", "SES bulk sending needs an SES template (template_id)")
    options = options or SesOptions()
    template = _template_content(message, options)
    template["Headers"] = [h for h in template.get("Headers", []) if h["Name"] != CORRELATION_HEADER]
    if not template["Headers"]:
        del template["Headers"]
    request: dict[str, Any] = {
        "FromEmailAddress": _display_address(message.from_email, "from_email"),
        "DefaultContent": {"Template": template},
        "DefaultEmailTags": [t for t in _email_tags(message) if t["Name"] != CORRELATION_TAG],
        "BulkEmailEntries": [_entry(item, message.template_data) for item in batch.items],
    }
    if not request["DefaultEmailTags"]:
        del request["DefaultEmailTags"]
    if message.reply_to:
        request["ReplyToAddresses"] = [_display_address(a, f"reply_to[{i}]") for i, a in enumerate(message.reply_to)]
    if options.configuration_set:
        request["ConfigurationSetName"] = options.configuration_set
    return request


def _entry(item: BatchItem, shared: Mapping[str, Any]) -> dict[str, Any]:
    data = {**shared, **item.recipient.fields}
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidMessage(
            f"recipient {item.recipient.email}", f"fields must be JSON-serializable: {error}"
        ) from None
    tags = [{"Name": CORRELATION_TAG, "Value": correlation_tag_value(item.correlation_id)}]
    tags.extend({"Name": key, "Value": value} for key, value in item.metadata.items())
    return {
        "Destination": {"ToAddresses": [_ascii_email(item.address, f"recipient {item.recipient.email}")]},
        "ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": text}},
        "ReplacementTags": tags,
        "ReplacementHeaders": [{"Name": CORRELATION_HEADER, "Value": item.correlation_id}],
    }


def entry_error(status: str, detail: str | None) -> SendError:
    """The core error for one refused ``BulkEmailEntryResult``."""
    text = f"SES refused the entry: {status}" + (f" ({detail})" if detail else "")
    if status in _RATE:
        return RateLimited(text)
    if status in _TRANSIENT:
        return TransientError(text)
    if status in _MESSAGE:
        return MessageRejected(text)
    return TransportRejected(text)


def send_batch(transport: SesTransport, batch: Batch) -> list[RecipientResult]:
    """One ``SendBulkEmail`` call; every recipient's result, or the batch's error raised."""
    request = build_bulk_request(batch, transport.options)
    try:
        response = transport.client().send_bulk_email(**request)
    except Exception as error:  # botocore raises many unrelated types; classify them all
        failure = classify_exception(error, transport.secrets())
        if isinstance(failure, SendError):
            failure.transport = transport.name
        raise failure from None
    entries = response.get("BulkEmailEntryResults") or []
    name = transport.name
    results: list[RecipientResult] = []
    errors: list[SendError] = []
    for index, item in enumerate(batch.items):
        entry = entries[index] if index < len(entries) else {"Status": "FAILED", "Error": "no result for this entry"}
        if entry.get("Status") == "SUCCESS":
            results.append(batch.accepted(item, name, entry.get("MessageId")))
            continue
        refusal = entry_error(str(entry.get("Status")), entry.get("Error"))
        refusal.transport = name
        errors.append(refusal)
        results.append(batch.refused(item, name, refusal))
    if len(errors) == len(batch.items) and not isinstance(errors[0], MessageRejected):
        raise errors[0]
    return results
