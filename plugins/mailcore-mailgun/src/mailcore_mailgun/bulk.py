"""Personalized bulk sending through Mailgun batch sending: up to 1,000 recipients a request.

:func:`build_batch_form` (pure) turns a :class:`~mailcore.bulk.Batch` into one
``POST /v3/{domain}/messages`` form: every recipient in ``to`` plus a ``recipient-variables``
JSON object keyed by address. Mailgun then sends each recipient a message addressed to them
alone (nobody sees anybody else) and replaces ``%recipient.NAME%`` with their values:

* the body's ``{field}`` placeholders become ``%recipient.field%`` (text) and
  ``%recipient.field__html%`` (HTML, whose values are HTML-escaped);
* the subject becomes ``%recipient.mc_subject%``, each recipient's subject rendered locally;
* ``v:mailcore_id`` becomes ``%recipient.mc_id%`` (our correlation id per recipient) and each
  metadata key ``k`` becomes ``v:k`` = ``%recipient.mc_meta_k%``.

Mailgun assigns each batch recipient its own Message-Id, so ours is not sent as a header;
``v:mailcore_id`` (in webhooks and logs) ties the message back to the result.
With ``template_id`` (a Mailgun stored template), ``t:variables`` holds the shared data and
``%recipient.*%`` values are available to the template the same way.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from mailcore.bulk import Batch, BatchItem, RecipientResult
from mailcore.message import CORRELATION_HEADER
from mailcore_mailgun.payload import CORRELATION_VAR, MAX_RECIPIENTS, MailgunForm, _format, build_form

if TYPE_CHECKING:
    from mailcore_mailgun.transport import MailgunTransport

__all__ = ["MAX_BATCH_SIZE", "build_batch_form", "html_var", "send_batch", "text_var"]

MAX_BATCH_SIZE = MAX_RECIPIENTS
SUBJECT_VAR = "mc_subject"
ID_VAR = "mc_id"
META_PREFIX = "mc_meta_"
_DROPPED = {"to", "cc", "bcc", "recipient-variables", "subject", "h:Message-Id", f"h:{CORRELATION_HEADER}"}


def text_var(name: str) -> str:
    return f"%recipient.{name}%"


def html_var(name: str) -> str:
    return f"%recipient.{name}__html%"


def build_batch_form(batch: Batch, *, ignore_unsupported: bool = False) -> MailgunForm:
    """The multipart form delivering ``batch`` in one Mailgun batch send."""
    template = batch.template
    message = template.message
    shared = message.replace(
        text=template.text.translate(text_var) if template.text else None,
        html=template.html.translate(html_var) if template.html else None,
    )
    base = build_form(shared, ignore_unsupported=ignore_unsupported)
    meta_keys = sorted({key for item in batch.items for key in item.metadata} - set(message.metadata))
    fields: list[tuple[str, str]] = [
        (k, v) for k, v in base.fields if k not in _DROPPED and not _is_personal(k, meta_keys)
    ]
    fields.extend(("to", _format(item.address, f"recipient {item.recipient.email}")) for item in batch.items)
    fields.append(("subject", text_var(SUBJECT_VAR)))
    fields = [(k, text_var(ID_VAR) if k == f"v:{CORRELATION_VAR}" else v) for k, v in fields]
    fields.extend((f"v:{key}", text_var(META_PREFIX + key)) for key in meta_keys)
    variables = {
        item.address.ascii_email: _variables(item, template.text_fields, template.html_fields, meta_keys)
        for item in batch.items
    }
    fields.append(("recipient-variables", json.dumps(variables, ensure_ascii=False, separators=(",", ":"))))
    return MailgunForm(fields=fields, files=list(base.files))


def _is_personal(name: str, meta_keys: list[str]) -> bool:
    return name.startswith("v:") and name[2:] in meta_keys


def _variables(
    item: BatchItem, text_fields: tuple[str, ...], html_fields: tuple[str, ...], meta_keys: list[str]
) -> dict[str, str]:
    values = item.values
    out = {name: values[name] for name in text_fields}
    for name in html_fields:
        out[f"{name}__html"] = html.escape(values[name])
    out[SUBJECT_VAR] = item.subject
    out[ID_VAR] = item.correlation_id
    metadata = item.metadata
    for key in meta_keys:
        out[META_PREFIX + key] = metadata.get(key, "")
    return out


def send_batch(transport: MailgunTransport, batch: Batch) -> list[RecipientResult]:
    """POST one batch send (exactly one request); every recipient's result, or the error raised."""
    form = build_batch_form(batch, ignore_unsupported=transport.ignore_unsupported)
    provider_id = transport.post_form(form).provider_message_id
    name = transport.name
    return [batch.accepted(item, name, provider_id) for item in batch.items]
