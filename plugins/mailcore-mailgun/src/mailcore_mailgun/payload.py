"""Message → Mailgun ``POST /v3/{domain}/messages`` form: a pure function, no I/O.

The result is a list of ``(name, value)`` form fields (names repeat for ``to``, ``cc``, ``bcc``,
``o:tag``) and a list of files (``attachment`` / ``inline``); the transport posts them as
``multipart/form-data``. Decisions (documented in docs/mailgun.md):

* **Recipients.** One request carries ``to``, ``cc`` and ``bcc``: To/Cc are visible to all, Bcc
  to nobody. Without To, Cc becomes To. A Bcc-only message is sent as a Mailgun *batch*
  (``recipient-variables``), so each recipient gets a copy addressed to them alone. Duplicate
  addresses are kept at their first place (To > Cc > Bcc). More than 1,000 recipients is refused.
* **Inline images**: Mailgun uses the uploaded file name as the Content-ID, so inline parts are
  uploaded under their ``content_id``.
* **Correlation**: ``h:X-Mailcore-ID`` and ``v:mailcore_id`` carry our id; ``h:Message-Id`` our
  Message-ID. Metadata becomes ``v:`` variables, tags ``o:tag``.
* **Templates**: ``template`` and ``t:variables`` (JSON). Mailgun refuses ``html`` together with
  a template: that is an unsupported feature (dropped with ``ignore_unsupported=True``).
* **Passthrough**: ``message.provider_options["mailgun"]`` sets form fields last, replacing any
  field of the same name (lists repeat, booleans become ``yes``/``no``, dicts become JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mailcore.addresses import Address
from mailcore.errors import InvalidMessage
from mailcore.ids import uuid4_hex
from mailcore.message import CORRELATION_HEADER, Message

__all__ = [
    "CORRELATION_VAR",
    "MAX_MESSAGE_BYTES",
    "MAX_OPTIONS_BYTES",
    "MAX_RECIPIENTS",
    "MailgunForm",
    "build_form",
    "encode_form",
]

PROVIDER = "mailgun"
MAX_RECIPIENTS = 1000
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_OPTIONS_BYTES = 16 * 1024
CORRELATION_VAR = "mailcore_id"
_OPTION_PREFIXES = ("o:", "h:", "v:", "t:")

FileField = tuple[str, tuple[str, bytes, str]]


@dataclass(frozen=True)
class MailgunForm:
    """The multipart form for one send: plain fields in order, then files."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[FileField] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        """Every value of field ``name``, in order."""
        return [value for key, value in self.fields if key == name]

    @property
    def size(self) -> int:
        """Bytes of content (fields and files), the figure Mailgun's 25 MB limit applies to."""
        return sum(len(k) + len(v.encode("utf-8")) for k, v in self.fields) + sum(len(f[1][1]) for f in self.files)


def encode_form(form: MailgunForm, boundary: str | None = None) -> tuple[bytes, str]:
    """The ``multipart/form-data`` body (RFC 7578) for ``form`` and its ``Content-Type``.

    Field values are UTF-8; file names are sent UTF-8 with ``"``, CR and LF percent-encoded,
    as browsers do. ``boundary`` is random unless given (tests).
    """
    boundary = boundary or uuid4_hex()
    chunks: list[bytes] = []
    for name, value in form.fields:
        chunks.append(_part_head(boundary, name, None, None) + value.encode("utf-8") + b"\r\n")
    for name, (filename, content, mimetype) in form.files:
        chunks.append(_part_head(boundary, name, filename, mimetype) + content + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _part_head(boundary: str, name: str, filename: str | None, mimetype: str | None) -> bytes:
    disposition = f'form-data; name="{_quote(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote(filename)}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if mimetype:
        lines.append(f"Content-Type: {mimetype}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _quote(value: str) -> str:
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def build_form(message: Message, *, ignore_unsupported: bool = False) -> MailgunForm:
    """The form fields and files for ``message``; raise :class:`InvalidMessage` when it cannot go."""
    form = MailgunForm()
    add = form.fields.append
    add(("from", _format(message.from_email, "from_email")))
    _recipients(message, form)
    add(("subject", message.subject))
    html = message.html
    if message.template_id is not None:
        if html:
            if not ignore_unsupported:
                raise InvalidMessage(
                    "html",
                    "Mailgun takes either an html body or a template, not both "
                    "(unsupported by Mailgun; set ignore_unsupported=true to drop the html)",
                )
            html = None
        add(("template", message.template_id))
        if message.template_data:
            add(("t:variables", json.dumps(dict(message.template_data), ensure_ascii=False)))
    elif message.template_data:
        raise InvalidMessage("template_data", "template data needs a template_id")
    if message.text:
        add(("text", message.text))
    if html:
        add(("html", html))
    if message.reply_to:
        add(("h:Reply-To", ", ".join(_format(a, f"reply_to[{i}]") for i, a in enumerate(message.reply_to))))
    for name, value in message.headers.items():
        add((f"h:{name}", value))
    add((f"h:{CORRELATION_HEADER}", message.correlation_id))
    add(("h:Message-Id", message.message_id))
    for tag in dict.fromkeys(message.tags):
        add(("o:tag", tag))
    for key, value in message.metadata.items():
        add((f"v:{key}", value))
    add((f"v:{CORRELATION_VAR}", message.correlation_id))
    for attachment in message.attachments:
        if attachment.inline:
            name = attachment.content_id or attachment.api_filename
            form.files.append(("inline", (name, attachment.content, attachment.mimetype)))
        else:
            form.files.append(("attachment", (attachment.api_filename, attachment.content, attachment.mimetype)))
    _apply_passthrough(form, message.provider_options.get(PROVIDER, {}))
    _check_limits(form)
    return form


def _format(address: Address, where: str) -> str:
    if address.needs_smtputf8:
        raise InvalidMessage(where, f"{address.email!r}: Mailgun does not accept a non-ASCII local part")
    return str(Address(address.ascii_email, address.name))


def _recipients(message: Message, form: MailgunForm) -> None:
    to, cc, bcc = (list(group) for group in message.recipient_groups())
    total = len(to) + len(cc) + len(bcc)
    if total > MAX_RECIPIENTS:
        raise InvalidMessage(
            "to",
            f"{total} recipients; Mailgun takes at most {MAX_RECIPIENTS} per request. "
            "Send one message per recipient group (bulk sending) instead",
        )
    if not to and cc:
        to, cc = cc, []
    if not to:
        # Bcc only: a batch send gives each recipient a copy addressed to them alone.
        formatted = [_format(a, f"bcc[{i}]") for i, a in enumerate(bcc)]
        form.fields.extend(("to", value) for value in formatted)
        variables: dict[str, dict[str, str]] = {a.ascii_email: {} for a in bcc}
        form.fields.append(("recipient-variables", json.dumps(variables)))
        return
    for name, group in (("to", to), ("cc", cc), ("bcc", bcc)):
        form.fields.extend((name, _format(a, f"{name}[{i}]")) for i, a in enumerate(group))


def _option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _apply_passthrough(form: MailgunForm, extras: Mapping[str, Any]) -> None:
    for name, value in extras.items():
        form.fields[:] = [item for item in form.fields if item[0] != name]
        values = value if isinstance(value, list | tuple) and name in ("o:tag", "to", "cc", "bcc") else [value]
        form.fields.extend((name, _option_value(v)) for v in values)


def _check_limits(form: MailgunForm) -> None:
    options = sum(len(k) + len(v.encode("utf-8")) for k, v in form.fields if k.startswith(_OPTION_PREFIXES))
    if options > MAX_OPTIONS_BYTES:
        raise InvalidMessage(
            "metadata",
            f"{options:,} bytes of o:/h:/v:/t: options; Mailgun allows 16 KB in total (headers, tags, metadata)",
        )
    if form.size > MAX_MESSAGE_BYTES:
        raise InvalidMessage("attachments", f"the message is {form.size:,} bytes; Mailgun accepts at most 25 MB")
