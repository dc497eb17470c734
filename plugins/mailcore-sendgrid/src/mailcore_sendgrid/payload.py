"""Message → SendGrid v3 ``POST /v3/mail/send`` body: a pure function, no I/O.

Decisions (documented in docs/sendgrid.md):

* **Recipients.** One personalization carries ``to``, ``cc`` and ``bcc``, so everyone in To/Cc
  sees To/Cc and nobody sees Bcc, exactly like SMTP. SendGrid requires ``to`` in each
  personalization: a message without To uses its Cc list as To; a Bcc-only message becomes one
  personalization per Bcc recipient (each sees only their own address). An address appearing
  twice (SendGrid refuses that) is kept at its first place, in To > Cc > Bcc order. More than
  1,000 recipients is refused with :class:`InvalidMessage`: split such mailings with bulk sending.
* **Metadata** goes into each personalization's ``custom_args`` (the top-level ``custom_args``
  is typed ``string`` in SendGrid's published schema), together with ``mailcore_id``, our
  correlation id, which also travels as the ``X-Mailcore-ID`` header.
* **Unsupported features** (display names with ``;`` or ``,``, more than 10 tags, tags longer
  than 255 characters, empty attachments) raise :class:`InvalidMessage` naming the feature, or
  are dropped when the transport was built with ``ignore_unsupported=True``. Limits (recipients,
  30 MB, reserved headers, non-ASCII local parts) are never ignored.
* **Calendar invitations** go in ``content`` as ``text/calendar; method=…`` after text and HTML,
  the form SendGrid's maintainers document for invitations (quoted-printable, no charset).
* **Passthrough.** ``message.provider_options["sendgrid"]`` is deep-merged into the body last;
  its ``"personalization"`` key (a dict) is merged into every personalization.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from mailcore.addresses import Address
from mailcore.errors import InvalidMessage
from mailcore.message import CORRELATION_HEADER, Message

__all__ = [
    "CORRELATION_ARG",
    "MAX_BODY_BYTES",
    "MAX_CATEGORIES",
    "MAX_RECIPIENTS",
    "RESERVED_HEADERS",
    "build_payload",
    "encode_payload",
]

PROVIDER = "sendgrid"
MAX_RECIPIENTS = 1000
MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_BODY_BYTES = 30 * 1024 * 1024
CORRELATION_ARG = "mailcore_id"
#: Headers SendGrid refuses in ``headers`` (it answers 400); see provider-errors.md §1.2.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)


def build_payload(message: Message, *, ignore_unsupported: bool = False) -> dict[str, Any]:
    """The JSON-ready mail/send body for ``message``; raise :class:`InvalidMessage` when it cannot go."""
    features = _Features(ignore_unsupported)
    payload: dict[str, Any] = {
        "personalizations": _personalizations(message, features),
        "from": _address(message.from_email, "from_email", features),
    }
    if message.subject:
        payload["subject"] = message.subject
    if message.reply_to:
        replies = [_address(a, f"reply_to[{i}]", features) for i, a in enumerate(message.reply_to)]
        if len(replies) == 1:
            payload["reply_to"] = replies[0]
        else:
            payload["reply_to_list"] = replies
    content = _content(message)
    if content:
        payload["content"] = content
    attachments = _attachments(message, features)
    if attachments:
        payload["attachments"] = attachments
    if message.template_id is not None:
        payload["template_id"] = message.template_id
    payload["headers"] = _headers(message)
    categories = _categories(message.tags, features)
    if categories:
        payload["categories"] = categories
    return _merge_passthrough(payload, message.provider_options.get(PROVIDER, {}))


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Serialize the body compactly and enforce SendGrid's 30 MB total size."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) >= MAX_BODY_BYTES:
        raise InvalidMessage(
            "attachments", f"the message is {len(body):,} bytes; SendGrid accepts less than 30 MB including attachments"
        )
    return body


class _Features:
    """Decides what happens to a feature SendGrid lacks: refuse it, or drop it when told to."""

    def __init__(self, ignore: bool) -> None:
        self.ignore = ignore

    def unsupported(self, field: str, problem: str) -> None:
        if not self.ignore:
            raise InvalidMessage(field, f"{problem} (unsupported by SendGrid; set ignore_unsupported=true to drop it)")


def _address(address: Address, field: str, features: _Features) -> dict[str, str]:
    if address.needs_smtputf8:
        raise InvalidMessage(field, f"{address.email!r}: SendGrid does not accept a non-ASCII local part")
    out = {"email": address.ascii_email}
    name = address.name
    if name and (";" in name or "," in name):
        features.unsupported(field, "a display name containing ';' or ','")
        name = " ".join(name.replace(";", " ").replace(",", " ").split())
    if name:
        out["name"] = name
    return out


def _personalizations(message: Message, features: _Features) -> list[dict[str, Any]]:
    to, cc, bcc = (list(group) for group in message.recipient_groups())
    total = len(to) + len(cc) + len(bcc)
    if total > MAX_RECIPIENTS:
        raise InvalidMessage(
            "to",
            f"{total} recipients; SendGrid takes at most {MAX_RECIPIENTS} per request. "
            "Send one message per recipient group (bulk sending) instead",
        )
    shared = _personalization_extras(message)
    if not to and cc:
        to, cc = cc, []
    if to:
        block: dict[str, Any] = {"to": _addresses(to, "to", features)}
        if cc:
            block["cc"] = _addresses(cc, "cc", features)
        if bcc:
            block["bcc"] = _addresses(bcc, "bcc", features)
        return [{**block, **shared}]
    # Bcc only: each recipient gets a copy addressed to them alone, so nobody sees the others.
    return [{"to": [_address(a, f"bcc[{i}]", features)], **shared} for i, a in enumerate(bcc)]


def _addresses(addresses: list[Address], field: str, features: _Features) -> list[dict[str, str]]:
    return [_address(a, f"{field}[{i}]", features) for i, a in enumerate(addresses)]


def _personalization_extras(message: Message) -> dict[str, Any]:
    custom_args = {**message.metadata, CORRELATION_ARG: message.correlation_id}
    size = len(json.dumps(custom_args, ensure_ascii=False).encode("utf-8"))
    if size >= MAX_CUSTOM_ARGS_BYTES:
        raise InvalidMessage("metadata", f"{size:,} bytes; SendGrid custom_args must stay under 10,000 bytes")
    extras: dict[str, Any] = {"custom_args": custom_args}
    if message.template_data:
        if message.template_id is None:
            raise InvalidMessage("template_data", "template data needs a template_id")
        extras["dynamic_template_data"] = dict(message.template_data)
    return extras


def _content(message: Message) -> list[dict[str, str]]:
    content = []
    if message.text:
        content.append({"type": "text/plain", "value": message.text})
    if message.html:
        content.append({"type": "text/html", "value": message.html})
    if message.calendar is not None:
        # SendGrid keeps the method parameter only in this exact form (sendgrid/sendgrid-ruby#298)
        content.append({"type": f"text/calendar; method={message.calendar.method}", "value": message.calendar.ics})
    if not content and message.template_id is None:
        # SendGrid needs some content; an attachments-only message gets a blank text part.
        content.append({"type": "text/plain", "value": " "})
    return content


def _attachments(message: Message, features: _Features) -> list[dict[str, str]]:
    out = []
    for i, attachment in enumerate(message.attachments):
        if not attachment.content:
            features.unsupported(f"attachments[{i}]", f"the empty attachment {attachment.api_filename!r}")
            continue
        item = {
            "content": base64.b64encode(attachment.content).decode("ascii"),
            "filename": attachment.api_filename,
            "type": attachment.mimetype,
            "disposition": "inline" if attachment.inline else "attachment",
        }
        if attachment.inline and attachment.content_id:
            item["content_id"] = attachment.content_id
        out.append(item)
    return out


def _headers(message: Message) -> dict[str, str]:
    for name in message.headers:
        if name.lower() in RESERVED_HEADERS:
            raise InvalidMessage(f"headers[{name!r}]", f"SendGrid reserves the {name} header")
    return {**message.headers, CORRELATION_HEADER: message.correlation_id, "Message-ID": message.message_id}


def _categories(tags: tuple[str, ...], features: _Features) -> list[str]:
    categories: list[str] = []
    for i, tag in enumerate(tags):
        if len(tag) > MAX_CATEGORY_LENGTH:
            features.unsupported(f"tags[{i}]", f"a tag longer than {MAX_CATEGORY_LENGTH} characters")
            continue
        if tag not in categories:
            categories.append(tag)
    if len(categories) > MAX_CATEGORIES:
        features.unsupported("tags", f"{len(categories)} tags; SendGrid takes at most {MAX_CATEGORIES} categories")
        categories = categories[:MAX_CATEGORIES]
    return categories


def _merge_passthrough(payload: dict[str, Any], extras: Mapping[str, Any]) -> dict[str, Any]:
    extras = dict(extras)
    per_personalization = extras.pop("personalization", None)
    if per_personalization is not None:
        if not isinstance(per_personalization, Mapping):
            raise InvalidMessage("provider_options['sendgrid']['personalization']", "must be a mapping")
        payload["personalizations"] = [_deep_merge(p, per_personalization) for p in payload["personalizations"]]
    return _deep_merge(payload, extras)


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged
