"""Personalized bulk sending through SendGrid personalizations: up to 1,000 recipients a request.

:func:`build_batch_payload` (pure) turns a :class:`~mailcore.bulk.Batch` into one mail/send
body: the shared content once, then one personalization per recipient with only that recipient
in ``to`` (nobody sees anybody else), their own rendered ``subject``, their Message-ID and
``X-Mailcore-ID`` in ``headers``, their metadata in ``custom_args``, and their merge values:

* without a SendGrid template, the body's ``{field}`` placeholders are rewritten to substitution
  tags (``%mc:field%`` in text, ``%mc:field:html%`` in HTML, whose values are HTML-escaped) and
  each personalization carries ``substitutions``;
* with ``template_id`` (a dynamic template), each personalization carries
  ``dynamic_template_data`` = the template's data plus the recipient's fields.

:func:`send_batch` posts it over the transport's keep-alive pool; SendGrid answers for the whole
request, so either every recipient is accepted (sharing the request's ``X-Message-Id``) or the
error is raised for the policy to retry, fail over or split the batch.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from mailcore.bulk import Batch, BatchItem, RecipientResult
from mailcore.errors import SendError
from mailcore.http import RequestFailed
from mailcore.message import CORRELATION_HEADER
from mailcore_sendgrid.errors import classify_failure, classify_response
from mailcore_sendgrid.payload import (
    CORRELATION_ARG,
    MAX_PERSONALIZATIONS,
    _address,
    _Features,
    build_payload,
    encode_payload,
)

if TYPE_CHECKING:
    from mailcore_sendgrid.transport import SendGridTransport

__all__ = ["MAX_BATCH_SIZE", "build_batch_payload", "html_tag", "send_batch", "text_tag"]

MAX_BATCH_SIZE = MAX_PERSONALIZATIONS
SEND_PATH = "/v3/mail/send"
_PERSONAL_KEYS = ("to", "cc", "bcc", "custom_args", "dynamic_template_data", "subject", "substitutions", "headers")


def text_tag(name: str) -> str:
    """The substitution tag standing for field ``name`` in the subject and text."""
    return f"%mc:{name}%"


def html_tag(name: str) -> str:
    """The substitution tag standing for field ``name`` in the HTML (its value is escaped)."""
    return f"%mc:{name}:html%"


def build_batch_payload(batch: Batch, *, ignore_unsupported: bool = False) -> dict[str, Any]:
    """The mail/send body delivering ``batch``: shared content, one personalization each."""
    template = batch.template
    message = template.message
    dynamic = message.template_id is not None
    if dynamic:
        shared_message = message
    else:
        shared_message = message.replace(
            text=template.text.translate(text_tag) if template.text else None,
            html=template.html.translate(html_tag) if template.html else None,
        )
    payload = build_payload(shared_message, ignore_unsupported=ignore_unsupported)
    first = payload["personalizations"][0]
    shared = {key: value for key, value in first.items() if key not in _PERSONAL_KEYS}
    headers = payload.get("headers", {})
    headers.pop(CORRELATION_HEADER, None)
    headers.pop("Message-ID", None)
    if not headers:
        payload.pop("headers", None)
    features = _Features(ignore_unsupported)
    base_args = dict(message.metadata)
    template_data = dict(message.template_data) if dynamic else None
    payload["personalizations"] = [
        _personalization(item, template.text_fields, template.html_fields, base_args, shared, template_data, features)
        for item in batch.items
    ]
    return payload


def _personalization(
    item: BatchItem,
    text_fields: tuple[str, ...],
    html_fields: tuple[str, ...],
    base_args: dict[str, str],
    shared: dict[str, Any],
    template_data: dict[str, Any] | None,
    features: _Features,
) -> dict[str, Any]:
    correlation = item.correlation_id
    block: dict[str, Any] = {
        "to": [_address(item.address, f"recipient {item.recipient.email}", features)],
        "headers": {CORRELATION_HEADER: correlation, "Message-ID": item.message_id},
        "custom_args": {**base_args, **item.metadata, CORRELATION_ARG: correlation},
    }
    if item.subject:
        block["subject"] = item.subject
    if template_data is not None:
        block["dynamic_template_data"] = {**template_data, **item.recipient.fields}
    elif text_fields or html_fields:
        values = item.values
        substitutions = {text_tag(name): values[name] for name in text_fields}
        for name in html_fields:
            substitutions[html_tag(name)] = html.escape(values[name])
        block["substitutions"] = substitutions
    if shared:
        block.update(shared)
    return block


def send_batch(transport: SendGridTransport, batch: Batch) -> list[RecipientResult]:
    """POST one personalized request; every recipient's result, or the request's error raised."""
    body = encode_payload(build_batch_payload(batch, ignore_unsupported=transport.ignore_unsupported))
    secrets = (transport._api_key,)
    try:
        answer = transport._pool.request("POST", SEND_PATH, body, transport._headers)
    except RequestFailed as failed:
        raise classify_failure(failed.error, body_sent=failed.body_sent, secrets=secrets) from None
    outcome = classify_response(answer.status, answer.headers, answer.body, now=time.time(), secrets=secrets)
    if isinstance(outcome, SendError):
        outcome.transport = transport.name
        raise outcome
    provider_id = outcome.provider_message_id
    name = transport.name
    return [batch.accepted(item, name, provider_id) for item in batch.items]
