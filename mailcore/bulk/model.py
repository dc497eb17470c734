"""The values bulk sending passes around: recipients, the template, batches and results.

A :class:`Recipient` is one person plus their merge fields and metadata. :class:`BulkTemplate`
parses the template message once; :meth:`BulkTemplate.item` turns a recipient into a
:class:`BatchItem` (their address, subject, field values and own Message-ID), checking every
merge field the template uses, and :meth:`BulkTemplate.render` builds the full per-recipient
:class:`~mailcore.message.Message` when a transport sends one message at a time. A
:class:`Batch` is what a transport's ``send_batch`` receives; a :class:`RecipientResult` is
what each recipient gets back.
"""

from __future__ import annotations

import html
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailcore.addresses import Address, parse_address
from mailcore.bulk.merge import MergeError, MergeTemplate, field_text
from mailcore.errors import InvalidMessage
from mailcore.message import Message
from mailcore.result import Attempt
from mailcore.validate import check_header_text, check_mapping

__all__ = ["Batch", "BatchItem", "BulkTemplate", "Recipient", "RecipientResult", "bulk_template"]

#: Keys of a recipient dict that are not merge fields.
_RESERVED_KEYS = ("email", "name", "metadata")
#: Substitution syntax batch APIs expand server-side (SendGrid ``%mc:f%``, Mailgun
#: ``%recipient.f%``). In a merged subject or metadata value it would pull a *body* value, which
#: may hold line breaks, into a header, so such values are refused.
SUBSTITUTION_MARKERS = ("%mc:", "%recipient.")


@dataclass(frozen=True, slots=True)
class Recipient:
    """One recipient of a bulk send.

    ``fields`` fill the template's ``{placeholders}`` (``{email}`` and ``{name}`` are always
    available); ``metadata`` is added to the message's own metadata (provider custom args,
    ``v:`` variables, tags) for this recipient only.
    """

    email: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    name: str = ""

    @classmethod
    def coerce(cls, value: Recipient | Mapping[str, Any] | str) -> Recipient:
        """Accept a Recipient, an address string, or a dict: ``email``, optional ``name`` and
        ``metadata`` (a dict), every other key a merge field (or a ``fields`` dict)."""
        if isinstance(value, Recipient):
            return value
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, Mapping) or not value.get("email"):
            raise InvalidMessage("recipient", f"needs an 'email' (got {type(value).__name__})")
        fields = value.get("fields")
        if not isinstance(fields, Mapping):
            fields = {k: v for k, v in value.items() if k not in _RESERVED_KEYS}
        return cls(
            email=str(value["email"]),
            fields=fields,
            metadata=value.get("metadata") or {},
            name=str(value.get("name") or ""),
        )

    def merge_values(self) -> Mapping[str, Any]:
        """The values placeholders read: the fields, plus ``email`` and ``name``."""
        return {"email": self.email, "name": self.name, **self.fields}


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One recipient, ready to send: validated address, rendered subject, field texts."""

    index: int
    recipient: Recipient
    address: Address
    message_id: str
    subject: str
    values: Mapping[str, str]

    @property
    def correlation_id(self) -> str:
        return self.message_id[1:-1]

    @property
    def metadata(self) -> Mapping[str, str]:
        return self.recipient.metadata


@dataclass(slots=True)
class RecipientResult:
    """What happened to one recipient.

    ``ok`` is true when the transport accepted the message; otherwise ``error`` says why.
    ``transport`` names the transport that delivered (or last tried); ``attempts`` lists the
    batch's attempts (a retried or failed-over batch shows them all).
    """

    recipient: Recipient
    ok: bool
    message_id: str | None = None
    provider_message_id: str | None = None
    error: BaseException | None = None
    transport: str | None = None
    index: int = -1
    attempts: tuple[Attempt, ...] = ()

    @property
    def email(self) -> str:
        return self.recipient.email


@dataclass(frozen=True, slots=True)
class Batch:
    """Recipients a transport's ``send_batch`` delivers in one go, and the shared template."""

    template: BulkTemplate
    items: Sequence[BatchItem]

    def __len__(self) -> int:
        return len(self.items)

    def accepted(self, item: BatchItem, transport: str, provider_message_id: str | None = None) -> RecipientResult:
        """A success result for ``item`` (helper for transports)."""
        return RecipientResult(item.recipient, True, item.message_id, provider_message_id, None, transport, item.index)

    def refused(self, item: BatchItem, transport: str, error: BaseException) -> RecipientResult:
        """A failure result for ``item`` (helper for transports)."""
        return RecipientResult(item.recipient, False, item.message_id, None, error, transport, item.index)


class BulkTemplate:
    """The template message, parsed once; makes :class:`BatchItem` and per-recipient messages.

    The template's ``to`` is replaced by each recipient; it may not have ``cc`` or ``bcc``
    (every recipient gets a message of their own, and nobody sees anybody else).
    """

    def __init__(self, message: Message) -> None:
        if message.cc or message.bcc:
            where = "cc" if message.cc else "bcc"
            raise InvalidMessage(where, "a bulk template cannot have cc or bcc: each recipient gets their own message")
        self.message = message
        self.subject = MergeTemplate.parse(message.subject)
        self.text = MergeTemplate.parse(message.text) if message.text is not None else None
        self.html = MergeTemplate.parse(message.html) if message.html is not None else None
        self.text_fields = self.text.fields if self.text else ()
        self.html_fields = self.html.fields if self.html else ()
        self.body_fields = tuple(dict.fromkeys((*self.text_fields, *self.html_fields)))
        self._domain = message.from_email.ascii_domain
        self._prefix = uuid.uuid4().hex
        self._serial = itertools.count()

    def item(self, index: int, recipient: Recipient) -> BatchItem:
        """Validate one recipient against the template (raises :class:`InvalidMessage`).

        The merged subject and the recipient's metadata go through the same header gate as a
        :class:`~mailcore.message.Message` (:mod:`mailcore.validate`): transports with a batch
        API put them into provider payloads without building a ``Message`` per recipient.
        """
        who = f"recipient {recipient.email}"
        address = parse_address(_display(recipient), who)
        values = recipient.merge_values()
        subject = self.subject.render(values, recipient=recipient.email, where="subject")
        check_header_text(f"{who} subject", subject)
        metadata = check_mapping(f"{who} metadata", recipient.metadata)
        for where, text in (("subject", subject), *(("metadata", v) for v in metadata.values())):
            if any(marker in text for marker in SUBSTITUTION_MARKERS):
                raise InvalidMessage(f"{who} {where}", "holds provider substitution syntax (%mc:… or %recipient.…)")
        body: dict[str, str] = {}
        for name in self.body_fields:
            try:
                body[name] = field_text(values[name])
            except KeyError:
                where = "text" if name in self.text_fields else "html"
                raise MergeError(recipient.email, name, where) from None
        message_id = f"<{self._prefix}.{next(self._serial)}@{self._domain}>"
        return BatchItem(index, recipient, address, message_id, subject, body)

    def render(self, item: BatchItem) -> Message:
        """The complete message for one recipient (for transports without a batch API)."""
        template = self.message
        values = item.values
        data = dict(template.template_data)
        if template.template_id is not None or template.local_template is not None:
            data.update(item.recipient.fields)  # the templates' variables, per recipient
        return template.replace(
            to=(item.address,),
            subject=item.subject,
            text=self.text.render(values) if self.text else None,
            html=self.html.render(values, escape=True) if self.html else None,
            message_id=item.message_id,
            metadata={**template.metadata, **item.recipient.metadata},
            template_data=data,
        )

    def html_value(self, item: BatchItem, name: str) -> str:
        """A field's value as it appears in the HTML body (escaped)."""
        return html.escape(item.values[name])


def _display(recipient: Recipient) -> str | tuple[str, str]:
    return (recipient.name, recipient.email) if recipient.name else recipient.email


def bulk_template(
    from_email: str | Address | tuple[str, str],
    subject: str,
    *,
    text: str | None = None,
    html: str | None = None,
    **fields: Any,
) -> Message:
    """A template :class:`Message` for bulk sending; its ``to`` is a stand-in (the sender),
    replaced by each recipient."""
    return Message(from_email, [from_email], subject, text=text, html=html, **fields)
