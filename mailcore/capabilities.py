"""What a transport carries faithfully, what a message needs, and the check between the two.

Every transport declares, as data, the features it carries *whole* (``capabilities``, a frozen
set of :class:`Capability`). A message's needs are a pure function of the message
(:func:`needs`). Before each attempt the leaf transport compares the two (:func:`adapt`):

* a need the transport covers is sent as it is;
* a provider template the transport cannot use is replaced by the message's *local* template,
  rendered by mailcore (:mod:`mailcore.templates`), when the message has one;
* a need the message explicitly allows to be dropped (``Message(allow_degraded={"tags"})``) is
  removed from the copy this transport sends, and only then;
* anything else makes the transport refuse the message with :class:`CannotCarry`, *before*
  anything is sent. The policy records that as a skipped attempt and moves on; it never counts
  against the transport's circuit breaker and is never retried on the same transport.

:func:`ensure_carriable` runs once before the first attempt: when no transport of the stack can
carry the message, :class:`~mailcore.errors.InvalidMessage` names each missing capability.

Features every transport carries (sender, recipients, reply-to, subject, text and HTML bodies,
attachments) are not capabilities. See docs/capabilities.md for the table per transport.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mailcore.errors import InvalidMessage, PermanentError

if TYPE_CHECKING:
    from mailcore.message import Message
    from mailcore.transport import Transport

__all__ = [
    "DROPPABLE",
    "CannotCarry",
    "Capability",
    "adapt",
    "cannot_carry",
    "capabilities_of",
    "coerce_capabilities",
    "ensure_carriable",
    "leaf_transports",
    "missing",
    "needs",
]


class Capability(enum.StrEnum):
    """A feature a transport may or may not carry faithfully."""

    PROVIDER_TEMPLATE = "provider_template"  #: a template stored at the provider (``template_id``)
    TAGS = "tags"  #: ``Message.tags`` reach the provider's analytics and webhooks
    METADATA = "metadata"  #: ``Message.metadata`` reach the provider's events and webhooks
    INLINE_IMAGES = "inline_images"  #: inline attachments referenced as ``cid:`` from the HTML
    CUSTOM_HEADERS = "custom_headers"  #: ``Message.headers`` arrive as written
    ENVELOPE_SENDER = "envelope_sender"  #: a return path (MAIL FROM) other than the From address
    SCHEDULED_SEND = "scheduled_send"  #: the provider holds the message until a given time
    BATCH = "batch"  #: one request sends a personalized copy to many recipients (bulk)
    CALENDAR = "calendar"  #: a ``text/calendar; method=…`` alternative (invitations)

    @property
    def label(self) -> str:
        """Human wording, as in "cannot carry a provider template"."""
        return _LABELS[self]


_LABELS = {
    Capability.PROVIDER_TEMPLATE: "a provider template",
    Capability.TAGS: "tags",
    Capability.METADATA: "metadata",
    Capability.INLINE_IMAGES: "inline images",
    Capability.CUSTOM_HEADERS: "custom headers",
    Capability.ENVELOPE_SENDER: "an envelope sender",
    Capability.SCHEDULED_SEND: "a scheduled send",
    Capability.BATCH: "a per-recipient batch",
    Capability.CALENDAR: "a calendar invitation",
}

#: Needs a message may allow a transport to drop (``allow_degraded``). A provider template is
#: not among them: without it the message has no content; give a local template instead.
DROPPABLE = frozenset(
    {
        Capability.TAGS,
        Capability.METADATA,
        Capability.INLINE_IMAGES,
        Capability.CUSTOM_HEADERS,
        Capability.ENVELOPE_SENDER,
        Capability.CALENDAR,
    }
)


class CannotCarry(PermanentError):
    """This transport cannot carry the message whole; it was skipped, nothing was sent.

    ``missing`` holds the capabilities it lacks. The policy moves on to the next transport
    without retrying and without counting a failure against the transport's breaker.
    """

    def __init__(self, missing: Iterable[Capability], *, transport: str | None = None) -> None:
        self.missing = frozenset(missing)
        super().__init__(f"cannot carry {_wording(self.missing)}", transport=transport)


def coerce_capabilities(values: Iterable[str | Capability], where: str) -> frozenset[Capability]:
    """Read capability names (``"tags"``) into a frozen set; unknown names are an error."""
    if isinstance(values, str):
        values = [values]
    out = set()
    for value in values:
        try:
            out.add(Capability(value))
        except ValueError:
            choices = ", ".join(c.value for c in Capability)
            raise InvalidMessage(where, f"unknown capability {value!r}; choose from {choices}") from None
    return frozenset(out)


def needs(message: Message) -> frozenset[Capability]:
    """The capabilities a transport needs to carry ``message`` whole (a pure function)."""
    out = set()
    if message.template_id is not None:
        out.add(Capability.PROVIDER_TEMPLATE)
    if message.tags:
        out.add(Capability.TAGS)
    if message.metadata:
        out.add(Capability.METADATA)
    if any(a.inline for a in message.attachments):
        out.add(Capability.INLINE_IMAGES)
    if message.headers:
        out.add(Capability.CUSTOM_HEADERS)
    if getattr(message, "envelope_from", None):
        out.add(Capability.ENVELOPE_SENDER)
    if message.calendar is not None:
        out.add(Capability.CALENDAR)
    return frozenset(out)


def missing(message: Message, capabilities: frozenset[Capability]) -> frozenset[Capability]:
    """What a transport with ``capabilities`` lacks for ``message``, after the allowed fallbacks
    (a local template stands in for a provider template; ``allow_degraded`` needs are dropped)."""
    lacking = needs(message) - capabilities
    if Capability.PROVIDER_TEMPLATE in lacking and message.local_template is not None:
        lacking -= {Capability.PROVIDER_TEMPLATE}
    return lacking - message.allow_degraded


def adapt(message: Message, capabilities: frozenset[Capability], transport: str) -> Message:
    """The message as ``transport`` sends it, or :class:`CannotCarry` when it cannot.

    Renders the local template when the transport cannot use the provider template (or the
    message has no provider template), drops the needs ``allow_degraded`` permits and the
    transport lacks, and generates the text part of an HTML-only message unless
    ``auto_text=False``. A message needing none of this is returned unchanged.
    """
    lacking = needs(message) - capabilities
    if lacking - message.allow_degraded - _covered_by_local(message, lacking):
        raise CannotCarry(missing(message, capabilities), transport=transport)
    changes: dict[str, Any] = _degraded(message, lacking & message.allow_degraded)
    if message.local_template is not None and (
        message.template_id is None or Capability.PROVIDER_TEMPLATE not in capabilities
    ):
        from mailcore.templates import render_local

        changes.update(render_local(message))
        changes.update(template_id=None, local_template=None)
    text = changes.get("text", message.text)
    html = changes.get("html", message.html)
    if message.auto_text and text is None and html:
        from mailcore.html_text import html_to_text

        changes["text"] = html_to_text(html)
    return message.replace(**changes) if changes else message


def _covered_by_local(message: Message, lacking: frozenset[Capability]) -> frozenset[Capability]:
    if Capability.PROVIDER_TEMPLATE in lacking and message.local_template is not None:
        return frozenset({Capability.PROVIDER_TEMPLATE})
    return frozenset()


def _degraded(message: Message, drop: frozenset[Capability]) -> dict[str, Any]:
    """The field changes that drop ``drop`` (the sender explicitly allowed each one)."""
    changes: dict[str, Any] = {}
    if Capability.TAGS in drop:
        changes["tags"] = ()
    if Capability.METADATA in drop:
        changes["metadata"] = {}
    if Capability.CUSTOM_HEADERS in drop:
        changes["headers"] = {}
    if Capability.CALENDAR in drop:
        changes["calendar"] = None
    if Capability.ENVELOPE_SENDER in drop:
        changes["envelope_from"] = None
    if Capability.INLINE_IMAGES in drop:
        from mailcore.message import Attachment

        changes["attachments"] = tuple(
            Attachment(a.filename, a.content, a.mimetype) if a.inline else a for a in message.attachments
        )
    return changes


def capabilities_of(transport: Transport) -> frozenset[Capability]:
    """What a leaf transport declares (``capabilities`` attribute); empty when it declares none."""
    return frozenset(getattr(transport, "capabilities", frozenset()))


def leaf_transports(transport: Transport) -> Iterator[Transport]:
    """The provider transports at the bottom of a policy stack (or ``transport`` itself)."""
    children = transport.children()
    if not children:
        yield transport
        return
    for child in children:
        yield from leaf_transports(child)


def cannot_carry(transport: Transport, message: Message) -> CannotCarry | None:
    """The skip for ``transport`` (a leaf or a whole branch of a stack) when none of its leaves
    can carry ``message``; ``None`` when one can. Combinators ask before calling a branch, so a
    skip takes no rate-limit slot and no circuit-breaker probe."""
    gaps = [missing(message, capabilities_of(leaf)) for leaf in leaf_transports(transport)]
    if not gaps or not all(gaps):
        return None
    return CannotCarry(frozenset().union(*gaps), transport=transport.name)


def ensure_carriable(stack: Transport, message: Message) -> None:
    """Raise :class:`InvalidMessage` when no transport of ``stack`` can carry ``message`` whole.

    Runs before the first attempt, so a message that could only go out degraded never reaches
    a provider; the error names what each transport lacks and how to allow it.
    """
    gaps = []
    for leaf in leaf_transports(stack):
        lacking = missing(message, capabilities_of(leaf))
        if not lacking:
            return
        gaps.append(f"{leaf.name} cannot carry {_wording(lacking)}")
    hint = _hint(message)
    raise InvalidMessage(
        "transports", "no configured transport can carry this message whole: " + "; ".join(gaps) + hint
    )


def _hint(message: Message) -> str:
    needed = needs(message)
    if Capability.PROVIDER_TEMPLATE in needed and message.local_template is None:
        return (
            ". Add a local template (Message(local_template=LocalTemplate(...))) so any transport can send it, "
            "or configure a transport that supports provider templates"
        )
    droppable = sorted(c.value for c in needed & DROPPABLE)
    if droppable:
        return f". To send without them, opt in per message: allow_degraded={set(droppable)!r}"
    return ""


def _wording(caps: frozenset[Capability]) -> str:
    ordered = [c for c in Capability if c in caps]
    return ", ".join(c.label for c in ordered) + f" ({', '.join(c.value for c in ordered)})"


TABLE_START = "<!-- capabilities-table:start (generated by tools/capabilities_table.py; do not edit) -->"
TABLE_END = "<!-- capabilities-table:end -->"


def capability_table(declared: Iterable[tuple[str, Iterable[str]]]) -> str:
    """A Markdown table: one row per ``(scheme, capability names)``, one column per capability.

    docs/capabilities.md embeds it between :data:`TABLE_START` and :data:`TABLE_END`; a test
    fails when the docs and the declared data disagree.
    """
    columns = list(Capability)
    lines = [
        "| transport | " + " | ".join(c.value for c in columns) + " |",
        "|---|" + "|".join(":-:" for _ in columns) + "|",
    ]
    for scheme, names in sorted(declared):
        have = set(names)
        lines.append(f"| `{scheme}://` | " + " | ".join("yes" if c.value in have else "—" for c in columns) + " |")
    return "\n".join(lines)
