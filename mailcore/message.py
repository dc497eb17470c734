"""The one message model every transport, policy, queue and adapter shares.

A :class:`Message` is validated when it is built, so a bad address or an injected header never
reaches a provider: :class:`~mailcore.errors.InvalidMessage` names the field and the problem.
It is immutable, gets its ``Message-ID`` once (every retry and failover reuses it), and
round-trips through :meth:`Message.to_dict` / :meth:`Message.from_dict` for queues.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from mailcore.addresses import Address, parse_address, split_address_list
from mailcore.calendar import Calendar, calendar_part
from mailcore.capabilities import DROPPABLE, Capability, coerce_capabilities
from mailcore.errors import InvalidMessage
from mailcore.ids import uuid4_hex
from mailcore.templates import LocalTemplate
from mailcore.validate import check_header_name, check_header_text, check_mapping, check_provider_options

__all__ = [
    "ADDRESS_HEADERS",
    "CORRELATION_HEADER",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_MESSAGE_ID",
    "PRIORITIES",
    "Attachment",
    "Message",
    "Priority",
    "reserved_header_hint",
]

#: Header carrying mailcore's own id, for providers that replace ``Message-ID`` (SES does).
CORRELATION_HEADER = "X-Mailcore-ID"

_RESERVED_HEADERS = {
    "from": "from_email",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply_to",
    "subject": "subject",
    "message-id": "message_id",
    "mime-version": None,
    "content-type": None,
    "content-transfer-encoding": None,
    CORRELATION_HEADER.lower(): None,
}
# Printable ASCII without '<', '>' or '@': ids are written into 7-bit headers as they are.
_ID_TEXT = r"[!-;=?A-~]+"
_MESSAGE_ID = re.compile(rf"<{_ID_TEXT}@{_ID_TEXT}>")
_CONTENT_ID = re.compile(r"[!-;=?-~]+")  # an '@' is usual but not required (cid:logo)
#: Headers whose value is a list of addresses (RFC 5322 §3.6.2, §3.6.6); a custom one is parsed
#: and written as addresses, never as unstructured text.
ADDRESS_HEADERS = frozenset({"sender", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc"})
_MIMETYPE = re.compile(r"[\w.+-]+/[\w.+-]+", re.ASCII)
_SERIAL_VERSION = 1
#: Longest Message-ID: ``X-Mailcore-ID: `` plus the id stays well inside a 998-octet line.
MAX_MESSAGE_ID = 900
#: How urgent a message is; queues claim high before normal before low (with aging, see
#: :mod:`mailcore.outbox.lifetimes`).
Priority = Literal["high", "normal", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)
#: Longest idempotency key, in characters (printable ASCII).
MAX_IDEMPOTENCY_KEY = 200
_IDEMPOTENCY_KEY = re.compile(r"[ -~]+")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by a message.

    ``inline=True`` makes it part of the HTML body, referenced as ``cid:<content_id>``; a
    ``content_id`` is generated when none is given. ``mimetype`` is guessed from the file name
    when omitted. ``filename=""`` sends the part without a file name (as an inline image
    usually is); :attr:`api_filename` gives a name for provider APIs that require one.
    """

    filename: str
    content: bytes
    mimetype: str = "application/octet-stream"
    inline: bool = False
    content_id: str | None = None

    def __init__(
        self,
        filename: str | None,
        content: bytes | str,
        mimetype: str | None = None,
        inline: bool = False,
        content_id: str | None = None,
    ) -> None:
        if filename is None:
            filename = ""
        check_header_text("attachment filename", filename)
        if filename and not filename.strip():
            raise InvalidMessage("attachment filename", 'is only spaces; give a name or "" for none')
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes | bytearray | memoryview):
            raise InvalidMessage(f"attachment {filename!r}", "content must be bytes or str")
        if mimetype is None:
            mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if not _MIMETYPE.fullmatch(mimetype):
            raise InvalidMessage(f"attachment {filename!r}", f"mimetype {mimetype!r} is not type/subtype")
        if content_id is not None:
            check_header_text(f"attachment {filename!r} content_id", content_id)
            content_id = content_id.strip().strip("<>") or None
            if content_id is not None and not _CONTENT_ID.fullmatch(content_id):
                raise InvalidMessage(
                    f"attachment {filename!r} content_id", f"{content_id!r} must be printable ASCII without spaces"
                )
        if content_id is None and inline:
            content_id = f"{uuid4_hex()}@mailcore"
        object.__setattr__(self, "filename", filename)
        object.__setattr__(self, "content", bytes(content))
        object.__setattr__(self, "mimetype", mimetype)
        object.__setattr__(self, "inline", bool(inline))
        object.__setattr__(self, "content_id", content_id)

    @property
    def api_filename(self) -> str:
        """The file name, or one made up from the content id and type for APIs that need one."""
        if self.filename:
            return self.filename
        stem = (self.content_id or "attachment").split("@")[0] or "attachment"
        return f"{stem}{mimetypes.guess_extension(self.mimetype) or ''}"

    def __repr__(self) -> str:  # never dump the bytes
        return f"Attachment({self.filename!r}, <{len(self.content)} bytes>, {self.mimetype!r}, inline={self.inline})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content": base64.b64encode(self.content).decode("ascii"),
            "mimetype": self.mimetype,
            "inline": self.inline,
            "content_id": self.content_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attachment:
        return cls(
            filename=data["filename"],
            content=base64.b64decode(data["content"]),
            mimetype=data.get("mimetype"),
            inline=bool(data.get("inline", False)),
            content_id=data.get("content_id"),
        )


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Message:
    """An email to send, validated on construction.

    Addresses are given as ``"user@example.com"``, ``"Name <user@example.com>"``,
    ``(name, email)`` or :class:`~mailcore.addresses.Address`, and stored as ``Address``.
    ``template_id``/``template_data`` select a template stored at the provider;
    ``provider_options`` passes provider-specific extras through untouched, keyed by transport
    name (``{"sendgrid": {"asm": {...}}}``). ``charset`` (default UTF-8) is the charset the text
    and HTML bodies are written in where mailcore writes the MIME message (SMTP, SES raw); it
    must be ASCII-compatible and able to encode both bodies. ``envelope_from`` is the envelope sender (SMTP
    ``MAIL FROM``, where bounces go) when it differs from ``from_email``; see docs/smtp.md for
    what each provider does with it.

    ``local_template`` (a :class:`~mailcore.templates.LocalTemplate`) is rendered by mailcore
    with ``template_data`` for any transport that cannot use ``template_id`` (or when there is
    none). ``calendar`` (see :func:`~mailcore.calendar.calendar_part`) adds a ``text/calendar``
    invitation. ``allow_degraded`` names needs (``{"tags"}``) a transport lacking them may drop;
    by default a transport that cannot carry the whole message is skipped (see
    :mod:`mailcore.capabilities`). ``auto_text=False`` stops mailcore from writing the text part
    of an HTML-only message.

    Lifetimes: ``priority`` (``"high"``, ``"normal"``, ``"low"``) orders the claim in every
    queue; ``expires`` (an aware datetime, or a ``timedelta`` meaning "from now") is when the
    message stops being worth sending (an OTP) — a queue never sends it after that, and the
    policy stops retrying at it; ``idempotency_key`` (1-200 printable ASCII characters) makes a
    second enqueue or send with the same key within the window return the first one's id or
    result instead of a second copy. See docs/operations.md.
    """

    from_email: Address
    to: tuple[Address, ...]
    subject: str
    text: str | None
    html: str | None
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    attachments: tuple[Attachment, ...]
    headers: Mapping[str, str]
    tags: tuple[str, ...]
    metadata: Mapping[str, str]
    message_id: str
    template_id: str | None
    template_data: Mapping[str, Any]
    provider_options: Mapping[str, Mapping[str, Any]]
    envelope_from: Address | None
    charset: str | None
    local_template: LocalTemplate | None
    calendar: Calendar | None
    allow_degraded: frozenset[Capability]
    auto_text: bool
    priority: Priority
    expires: datetime | None
    idempotency_key: str | None

    def __init__(
        self,
        from_email: str | Address | tuple[str, str],
        to: Iterable[str | Address | tuple[str, str]] | str,
        subject: str,
        text: str | None = None,
        html: str | None = None,
        cc: Iterable[str | Address | tuple[str, str]] | str = (),
        bcc: Iterable[str | Address | tuple[str, str]] | str = (),
        reply_to: Iterable[str | Address | tuple[str, str]] | str = (),
        attachments: Iterable[Attachment] = (),
        headers: Mapping[str, str] | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, str] | None = None,
        message_id: str | None = None,
        template_id: str | None = None,
        template_data: Mapping[str, Any] | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        envelope_from: str | Address | tuple[str, str] | None = None,
        charset: str | None = None,
        local_template: LocalTemplate | Mapping[str, Any] | None = None,
        calendar: Calendar | str | bytes | None = None,
        allow_degraded: Iterable[str] = (),
        auto_text: bool = True,
        priority: Priority = "normal",
        expires: datetime | timedelta | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        sender = parse_address(from_email, "from_email")
        to_list = _address_list(to, "to")
        cc_list = _address_list(cc, "cc")
        bcc_list = _address_list(bcc, "bcc")
        if not (to_list or cc_list or bcc_list):
            raise InvalidMessage("to", "at least one recipient is required (to, cc or bcc)")
        check_header_text("subject", subject)
        _check_body("text", text)
        _check_body("html", html)
        attachment_list = tuple(attachments)
        for i, att in enumerate(attachment_list):
            if not isinstance(att, Attachment):
                raise InvalidMessage(f"attachments[{i}]", "must be a mailcore.Attachment")
        local = _checked_local_template(local_template)
        invite = _checked_calendar(calendar)
        contents = (text, html, template_id, local, invite)
        if all(c is None for c in contents) and not attachment_list:
            raise InvalidMessage("text", "give a text or html body (or a template_id, local_template or calendar)")
        values = {
            "from_email": sender,
            "to": to_list,
            "subject": subject,
            "text": text,
            "html": html,
            "cc": cc_list,
            "bcc": bcc_list,
            "reply_to": _address_list(reply_to, "reply_to"),
            "attachments": attachment_list,
            "headers": _checked_headers(headers or {}),
            "tags": _checked_strings(tags, "tags"),
            "metadata": _checked_metadata(metadata or {}),
            "message_id": _checked_message_id(message_id, sender),
            "template_id": template_id,
            "template_data": dict(template_data or {}),
            "provider_options": check_provider_options(provider_options or {}),
            "envelope_from": _envelope_sender(envelope_from),
            "charset": _checked_charset(charset, text, html),
            "local_template": local,
            "calendar": invite,
            "allow_degraded": _checked_degraded(allow_degraded),
            "auto_text": bool(auto_text),
            "priority": _checked_priority(priority),
            "expires": _checked_expires(expires),
            "idempotency_key": _checked_idempotency_key(idempotency_key),
        }
        if template_id is not None:
            check_header_text("template_id", template_id)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # -- derived views ---------------------------------------------------------------------

    @property
    def correlation_id(self) -> str:
        """mailcore's own id for this message: the Message-ID without its angle brackets."""
        return self.message_id[1:-1]

    @property
    def envelope_sender(self) -> Address:
        """The address bounces go to: ``envelope_from`` when set, else ``from_email``."""
        return self.envelope_from or self.from_email

    @property
    def recipients(self) -> tuple[Address, ...]:
        """Every envelope recipient (to, cc, bcc), each once, in that order."""
        to, cc, bcc = self.recipient_groups()
        return (*to, *cc, *bcc)

    def recipient_groups(self) -> tuple[tuple[Address, ...], tuple[Address, ...], tuple[Address, ...]]:
        """``(to, cc, bcc)`` with each address (case-insensitive) only in its first group.

        For HTTP APIs that refuse a recipient listed twice across to, cc and bcc.
        """
        seen: set[str] = set()
        groups = []
        for group in (self.to, self.cc, self.bcc):
            kept = []
            for addr in group:
                key = addr.email.lower()
                if key not in seen:
                    seen.add(key)
                    kept.append(addr)
            groups.append(tuple(kept))
        return groups[0], groups[1], groups[2]

    def __repr__(self) -> str:  # no bodies, no metadata values: reprs end up in logs
        return (
            f"<Message {self.message_id} from={self.from_email.email!r} "
            f"recipients={len(self.recipients)} attachments={len(self.attachments)}>"
        )

    def replace(self, **changes: Any) -> Message:
        """A validated copy with some fields changed; the Message-ID stays unless given."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data.update(changes)
        return Message(**data)

    # -- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal message."""
        return {
            "version": _SERIAL_VERSION,
            "from_email": _addr_dict(self.from_email),
            "to": [_addr_dict(a) for a in self.to],
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "cc": [_addr_dict(a) for a in self.cc],
            "bcc": [_addr_dict(a) for a in self.bcc],
            "reply_to": [_addr_dict(a) for a in self.reply_to],
            "attachments": [a.to_dict() for a in self.attachments],
            "headers": dict(self.headers),
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
            "message_id": self.message_id,
            "template_id": self.template_id,
            "template_data": dict(self.template_data),
            "provider_options": {k: dict(v) for k, v in self.provider_options.items()},
            "envelope_from": _addr_dict(self.envelope_from) if self.envelope_from else None,
            "charset": self.charset,
            "local_template": self.local_template.to_dict() if self.local_template else None,
            "calendar": self.calendar.to_dict() if self.calendar else None,
            "allow_degraded": sorted(self.allow_degraded),
            "auto_text": self.auto_text,
            "priority": self.priority,
            "expires": self.expires.isoformat() if self.expires else None,
            "idempotency_key": self.idempotency_key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Rebuild (and re-validate) a message from :meth:`to_dict` output."""
        version = data.get("version", _SERIAL_VERSION)
        if version != _SERIAL_VERSION:
            raise InvalidMessage("version", f"unsupported serialized message version {version!r}")
        return cls(
            from_email=_addr_from(data["from_email"]),
            to=[_addr_from(a) for a in data.get("to", ())],
            subject=data["subject"],
            text=data.get("text"),
            html=data.get("html"),
            cc=[_addr_from(a) for a in data.get("cc", ())],
            bcc=[_addr_from(a) for a in data.get("bcc", ())],
            reply_to=[_addr_from(a) for a in data.get("reply_to", ())],
            attachments=[Attachment.from_dict(a) for a in data.get("attachments", ())],
            headers=data.get("headers") or {},
            tags=data.get("tags") or (),
            metadata=data.get("metadata") or {},
            message_id=data.get("message_id"),
            template_id=data.get("template_id"),
            template_data=data.get("template_data") or {},
            provider_options=data.get("provider_options") or {},
            envelope_from=_addr_from(data["envelope_from"]) if data.get("envelope_from") else None,
            charset=data.get("charset"),
            local_template=data.get("local_template"),
            calendar=Calendar.from_dict(data["calendar"]) if data.get("calendar") else None,
            allow_degraded=data.get("allow_degraded") or (),
            auto_text=data.get("auto_text", True),
            priority=data.get("priority") or "normal",
            expires=_expires_from(data.get("expires")),
            idempotency_key=data.get("idempotency_key"),
        )


_FIELDS = (
    "from_email", "to", "subject", "text", "html", "cc", "bcc", "reply_to", "attachments",
    "headers", "tags", "metadata", "message_id", "template_id", "template_data", "provider_options", "envelope_from", "charset",
    "local_template", "calendar", "allow_degraded", "auto_text", "priority", "expires", "idempotency_key",
)  # fmt: skip


def _checked_priority(value: object) -> Priority:
    if value not in PRIORITIES:
        raise InvalidMessage("priority", f"{value!r} is not one of {', '.join(map(repr, PRIORITIES))}")
    return value  # type: ignore[return-value]  # checked against the Literal's values just above


def _checked_expires(value: object) -> datetime | None:
    """An aware UTC datetime; a ``timedelta`` counts from now. Naive datetimes are refused."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise InvalidMessage("expires", f"a timedelta counts from now and must be positive, not {value}")
        try:
            return datetime.now(UTC) + value
        except OverflowError:
            raise InvalidMessage("expires", f"{value} from now is past the year 9999") from None
    if not isinstance(value, datetime):
        raise InvalidMessage(
            "expires", f"must be a datetime or a timedelta, not {type(value).__name__} (see Message.from_dict for text)"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidMessage(
            "expires", "is a naive datetime; give an aware datetime, e.g. datetime.now(UTC) + timedelta(minutes=10)"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidMessage("expires", f"{value.isoformat()} is out of range in UTC") from None


def _expires_from(value: object) -> datetime | None:
    """``expires`` as :meth:`Message.to_dict` writes it: an ISO 8601 string (or None)."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidMessage("expires", f"must be an ISO 8601 date-time string, not {type(value).__name__}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessage("expires", f"{value[:40]!r} is not an ISO 8601 date-time") from None


def _checked_idempotency_key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage("idempotency_key", f"must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidMessage("idempotency_key", f"is {len(value)} characters; give 1 to {MAX_IDEMPOTENCY_KEY}")
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidMessage(
            "idempotency_key", "must be printable ASCII (no control characters, CR/LF or non-ASCII); e.g. a UUID"
        )
    return value


def _address_list(values: object, field_name: str) -> tuple[Address, ...]:
    if isinstance(values, str | Address):
        values = [values]
    if not isinstance(values, Iterable):
        raise InvalidMessage(field_name, "must be a list of addresses")
    return tuple(parse_address(v, f"{field_name}[{i}]") for i, v in enumerate(values))


def _envelope_sender(value: str | Address | tuple[str, str] | None) -> Address | None:
    """The envelope sender: an address without a display name (MAIL FROM carries none)."""
    if value is None or value == "":
        return None
    addr = parse_address(value, "envelope_from")
    return Address(addr.email) if addr.name else addr


def _checked_charset(charset: str | None, text: str | None, html: str | None) -> str | None:
    """None for UTF-8 (the default); else an ASCII-compatible charset that encodes both bodies."""
    if charset is None:
        return None
    import codecs

    try:
        name = codecs.lookup(charset).name
    except (LookupError, TypeError):
        raise InvalidMessage("charset", f"{charset!r} is not a charset Python knows") from None
    if name == "utf-8":
        return None
    if "a@.\n".encode(name, errors="replace") != b"a@.\n":
        raise InvalidMessage("charset", f"{charset!r} is not ASCII-compatible; use utf-8")
    for field_name, body in (("text", text), ("html", html)):
        if body is not None:
            try:
                body.encode(name)
            except UnicodeEncodeError as error:
                raise InvalidMessage(
                    field_name, f"{body[error.start : error.end]!r} cannot be written in {charset}; use utf-8"
                ) from None
    check_header_text("charset", charset)
    if not re.fullmatch(r"[A-Za-z0-9._:+-]+", charset):
        raise InvalidMessage("charset", f"{charset!r} is not a MIME charset name")
    return charset.lower()  # the name as given (MIME names, e.g. iso-8859-1), which Python knows


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_body(field_name: str, body: object) -> None:
    if body is not None and not isinstance(body, str):
        raise InvalidMessage(field_name, f"must be a string, not {type(body).__name__}")
    if body is not None and not body.isascii() and _SURROGATE.search(body):
        raise InvalidMessage(
            field_name, "holds lone surrogates (bytes decoded with surrogateescape?); decode it with its real charset"
        )


def _checked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        where = f"headers[{name!r}]"
        check_header_name(where, name)
        hint = reserved_header_hint(name)
        if hint is not None:
            raise InvalidMessage(where, f"{name} cannot be set as a custom header; {hint}")
        check_header_text(where, value)
        lowered = name.lower()
        if lowered == "date":
            _check_date(where, value)
        elif lowered in ADDRESS_HEADERS:
            for i, item in enumerate(split_address_list(value)):
                parse_address(item, f"{where}[{i}]")
        out[name] = value
    return out


def reserved_header_hint(name: str) -> str | None:
    """For a header mailcore writes itself (From, Bcc, Message-ID…), what to do instead."""
    reserved = _RESERVED_HEADERS.get(name.lower(), "")
    if reserved == "":
        return None
    return f"use Message({reserved}=...)" if reserved else "mailcore sets it"


def _check_date(where: str, value: str) -> None:
    """A ``Date`` header given by the caller must be an RFC 5322 date-time."""
    from email.utils import parsedate_to_datetime

    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise InvalidMessage(where, f"{value!r} is not an RFC 5322 date (use email.utils.formatdate())") from None


def _checked_strings(values: Iterable[str], field_name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out = tuple(values)
    for i, value in enumerate(out):
        check_header_text(f"{field_name}[{i}]", value)
    return out


def _checked_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    return check_mapping("metadata", metadata)


def _checked_local_template(value: object) -> LocalTemplate | None:
    if value is None or isinstance(value, LocalTemplate):
        return value
    if isinstance(value, Mapping):
        return LocalTemplate.from_dict(value)
    raise InvalidMessage("local_template", f"must be a mailcore.LocalTemplate, not {type(value).__name__}")


def _checked_calendar(value: object) -> Calendar | None:
    if value is None or isinstance(value, Calendar):
        return value
    if isinstance(value, str | bytes):
        return calendar_part(value)
    raise InvalidMessage("calendar", f"must be a Calendar or an .ics payload, not {type(value).__name__}")


def _checked_degraded(values: Iterable[str]) -> frozenset[Capability]:
    allowed = coerce_capabilities(values, "allow_degraded")
    refused = allowed - DROPPABLE
    if refused:
        names = ", ".join(sorted(c.value for c in refused))
        raise InvalidMessage(
            "allow_degraded",
            f"{names} cannot be dropped (the message would have no content); give a local_template instead",
        )
    return allowed


def _checked_message_id(message_id: str | None, sender: Address) -> str:
    if message_id is None:
        return f"<{uuid4_hex()}@{sender.ascii_domain}>"
    check_header_text("message_id", message_id)
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    if len(message_id) > MAX_MESSAGE_ID:
        raise InvalidMessage(
            "message_id", f"is {len(message_id)} characters; at most {MAX_MESSAGE_ID} fit a header line"
        )
    if not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidMessage("message_id", f"{message_id!r} is not like <unique@domain> in printable ASCII")
    return message_id


def _addr_dict(addr: Address) -> dict[str, str]:
    return {"email": addr.email, "name": addr.name}


def _addr_from(data: Any) -> Address | str:
    if isinstance(data, Mapping):
        return Address(email=data["email"], name=data.get("name", ""))
    return str(data)
