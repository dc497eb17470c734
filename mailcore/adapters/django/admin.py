"""The outbox in Django's admin: find a message, see what happened to it, retry, cancel or purge.

Registered by Django's admin autodiscovery when both ``django.contrib.admin`` and
``mailcore.adapters.django`` are in ``INSTALLED_APPS`` (``MAILCORE["QUEUE"] = "db"``).

* **List**: state, recipients, Message-ID, transport, delivery runs, age, last error; filters by
  state, transport and age; search by recipient, Message-ID or correlation id (the Message-ID
  without its angle brackets), provider message id, or outbox id. Once the retention rule dropped
  a message's content its recipients are digests: a *full* address still finds it.
* **Detail**: the store's bookkeeping (read-only: the store owns every column) and the message's
  timeline (:mod:`mailcore.adapters.django.timeline`): delivery runs and the delivery events
  stored for it in the same database (:func:`~mailcore.adapters.django.events.delivery_event_lines`,
  registered here: kind, provider, recipient, reason — never the provider's raw record).
* **Actions** go through the store (:class:`~mailcore.adapters.django.outbox.DjangoOutbox`), so
  the admin follows the same rules as ``mailcore outbox``: *retry* (failed, unknown or queued
  rows that still have their content become due now; an expired message is never sent late),
  *cancel* (a queued or unknown row ends ``failed`` with the reason "cancelled by <user>"; retry
  undoes it), *purge* (finished rows are deleted; queued and sending ones are kept). Retry and
  cancel need the change permission, purge the delete permission. There is no add, edit or
  delete page: rows are written by the store only.
* **Bodies** (subject, text, HTML source, headers, template data, attachment names) are shown only
  to users with ``mailcore.view_outbox_body``; others never get them in the page. The stored
  JSON payload is never shown, and transports are shown with their secrets masked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages  # type: ignore[import-untyped,unused-ignore]
from django.utils.html import format_html, format_html_join  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.events import delivery_event_lines
from mailcore.adapters.django.models import OutboxMessage
from mailcore.adapters.django.timeline import add_timeline_source, timeline, transport_label
from mailcore.config import mask_url
from mailcore.message import Message
from mailcore.outbox.retention import recipient_digest
from mailcore.redact import printable

__all__ = ["AGE_BUCKETS", "BODY_PERMISSION", "OutboxMessageAdmin", "age_bounds", "outbox_store"]

#: The permission that shows message content in the admin (``Meta.permissions`` of the model).
BODY_PERMISSION = "mailcore.view_outbox_body"
#: Every state a row can be in, in lifecycle order (``expired``: issue 18's lifetimes).
STATE_CHOICES = (
    ("queued", "queued"),
    ("sending", "sending"),
    ("sent", "sent"),
    ("failed", "failed"),
    ("unknown", "unknown"),
    ("expired", "expired"),
)
#: Age filter buckets: (key, label, youngest seconds, oldest seconds or None).
AGE_BUCKETS: tuple[tuple[str, str, float, float | None], ...] = (
    ("1h", "less than an hour", 0.0, 3600.0),
    ("24h", "1 to 24 hours", 3600.0, 86400.0),
    ("7d", "1 to 7 days", 86400.0, 7 * 86400.0),
    ("older", "more than 7 days", 7 * 86400.0, None),
)
_LAST_ERROR_WIDTH = 120

add_timeline_source(delivery_event_lines)  # the row's delivery events beside its delivery runs

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[OutboxMessage]
else:
    _ModelAdmin = admin.ModelAdmin


def age_bounds(key: str | None, now: float) -> tuple[float | None, float | None]:
    """(created after, created at or before) in epoch seconds for age bucket ``key``; (None, None)
    for no or an unknown key. "Age" is the time since the message was enqueued."""
    for bucket, _, youngest, oldest in AGE_BUCKETS:
        if bucket == key:
            return (None if oldest is None else now - oldest), now - youngest
    return None, None


def outbox_store(using: str | None = None) -> Any:
    """The store the actions go through: Django's database as the outbox."""
    from mailcore.adapters.django.outbox import DjangoOutbox

    return DjangoOutbox() if using is None else DjangoOutbox(using=using)


def when(epoch: float | None) -> str:
    """An epoch time as ``2026-11-30 22:10:05 UTC`` (empty for None)."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    """``42 s``, ``5 min``, ``3 h``, ``2 d``: the age column."""
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


class StateFilter(admin.SimpleListFilter):  # type: ignore[misc,unused-ignore]
    """Every state, in lifecycle order, whether or not a row is in it now."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: Any, model_admin: Any) -> Sequence[tuple[str, str]]:
        return STATE_CHOICES

    def queryset(self, request: Any, queryset: Any) -> Any:
        return queryset.filter(state=self.value()) if self.value() else queryset


class TransportFilter(admin.SimpleListFilter):  # type: ignore[misc,unused-ignore]
    """The transports rows went through, shown masked. The link carries a digest of the name, not
    the name, so a credential in a stored transport name never reaches a URL or a log."""

    title = "transport"
    parameter_name = "transport"

    def _names(self, request: Any, model_admin: Any) -> list[str]:
        rows = model_admin.get_queryset(request).exclude(transport=None)
        return sorted(set(rows.values_list("transport", flat=True)))

    def lookups(self, request: Any, model_admin: Any) -> Sequence[tuple[str, str]]:
        self._by_key = {transport_key(name): name for name in self._names(request, model_admin)}
        return [(key, mask_url(name)) for key, name in self._by_key.items()]

    def queryset(self, request: Any, queryset: Any) -> Any:
        if not self.value():
            return queryset
        name = getattr(self, "_by_key", {}).get(self.value())
        return queryset.filter(transport=name) if name is not None else queryset.none()


def transport_key(name: str) -> str:
    """The transport filter's parameter for transport ``name``: 12 hex digits of its SHA-256."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


class AgeFilter(admin.SimpleListFilter):  # type: ignore[misc,unused-ignore]
    """Time since the message was enqueued, in buckets (:data:`AGE_BUCKETS`)."""

    title = "age"
    parameter_name = "age"

    def lookups(self, request: Any, model_admin: Any) -> Sequence[tuple[str, str]]:
        return [(key, label) for key, label, _, _ in AGE_BUCKETS]

    def queryset(self, request: Any, queryset: Any) -> Any:
        after, until = age_bounds(self.value(), time.time())
        if until is not None:
            queryset = queryset.filter(created_at__lte=until)
        if after is not None:
            queryset = queryset.filter(created_at__gt=after)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_ModelAdmin):  # type: ignore[misc,unused-ignore]
    """Read-only outbox rows with store-backed actions (see the module docs)."""

    list_display = (
        "short_id",
        "state",
        "recipient_list",
        "message_id",
        "transport_name",
        "attempts",
        "age",
        "last_error_short",
    )
    list_display_links = ("short_id",)
    list_filter = (StateFilter, TransportFilter, AgeFilter)
    search_fields = ("recipients", "message_id", "provider_message_id", "=id")
    search_help_text = "Recipient, Message-ID or correlation id, provider message id, or outbox id."
    ordering = ("-created_at",)
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over a big table on every page
    actions = ("retry_messages", "cancel_messages", "purge_messages")
    fieldsets = (
        ("Message", {"fields": ("id", "message_id", "correlation_id", "sender", "recipient_list", "priority_name")}),
        (
            "Delivery",
            {
                "fields": (
                    "state",
                    "attempts",
                    "transport_name",
                    "provider_id",
                    "error",
                    "created",
                    "updated",
                    "due",
                    "lease_owner",
                    "expires",
                    "idempotency_key",
                )
            },
        ),
        ("Timeline", {"fields": ("timeline_table",)}),
    )
    body_fieldset = ("Content", {"fields": ("content",)})

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> tuple[Any, bool]:
        """Django's search, plus: a full address also finds rows whose content the retention rule
        dropped, where the recipients are kept only as digests (``sha256:…`` of the address)."""
        from django.db.models import Q  # type: ignore[import-untyped,unused-ignore]

        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        digests = [recipient_digest(term) for term in search_term.split() if "@" in term.strip("@")]
        for digest in digests:
            results = results | queryset.filter(Q(recipients__contains=digest))
        return results, may_have_duplicates

    # -- permissions: the store owns the rows ------------------------------------------------

    def has_add_permission(self, request: Any) -> bool:
        return False  # messages are enqueued by send_mail(), never typed in

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # No delete page and no "delete selected": rows go only through the purge action.
        return False

    def has_purge_permission(self, request: Any) -> bool:
        """The purge action's check: the model's ordinary delete permission."""
        return bool(request.user.has_perm(f"{self.opts.app_label}.delete_{self.opts.model_name}"))

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [field for _, options in self.get_fieldsets(request, obj) for field in options["fields"]]

    def get_fieldsets(self, request: Any, obj: Any = None) -> Any:
        if request.user.has_perm(BODY_PERMISSION):
            return (*self.fieldsets, self.body_fieldset)
        return self.fieldsets

    def change_view(self, request: Any, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        context = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        context.update(extra_context or {})
        return super().change_view(request, object_id, form_url, extra_context=context)

    # -- columns -----------------------------------------------------------------------------

    @admin.display(description="id", ordering="id")
    def short_id(self, row: OutboxMessage) -> str:
        return str(row.id)[:12]

    @admin.display(description="recipients", ordering="recipients")
    def recipient_list(self, row: OutboxMessage) -> str:
        return ", ".join(r for r in str(row.recipients).split(",") if r)

    @admin.display(description="transport", ordering="transport")
    def transport_name(self, row: OutboxMessage) -> str:
        return transport_label(row.transport)

    @admin.display(description="delivery runs", ordering="runs")
    def attempts(self, row: OutboxMessage) -> int:
        return int(row.runs)

    @admin.display(description="age", ordering="-created_at")
    def age(self, row: OutboxMessage) -> str:
        return duration(time.time() - row.created_at)

    @admin.display(description="last error")
    def last_error_short(self, row: OutboxMessage) -> str:
        text = printable(row.last_error) if row.last_error else ""
        return text if len(text) <= _LAST_ERROR_WIDTH else text[: _LAST_ERROR_WIDTH - 1] + "…"

    @admin.display(description="last error")
    def error(self, row: OutboxMessage) -> str:
        return printable(row.last_error) if row.last_error else ""

    @admin.display(description="correlation id")
    def correlation_id(self, row: OutboxMessage) -> str:
        return str(row.message_id).strip("<>")

    @admin.display(description="priority")
    def priority_name(self, row: OutboxMessage) -> str:
        return {0: "high", 1: "normal", 2: "low"}.get(row.priority, str(row.priority))

    @admin.display(description="provider message id")
    def provider_id(self, row: OutboxMessage) -> str:
        return printable(row.provider_message_id) if row.provider_message_id else ""

    @admin.display(description="created")
    def created(self, row: OutboxMessage) -> str:
        return when(row.created_at)

    @admin.display(description="last changed")
    def updated(self, row: OutboxMessage) -> str:
        return when(row.updated_at)

    @admin.display(description="due / lease ends")
    def due(self, row: OutboxMessage) -> str:
        return when(row.due_at) if row.state in ("queued", "sending") else ""

    @admin.display(description="expires")
    def expires(self, row: OutboxMessage) -> str:
        return when(row.expires_at)

    @admin.display(description="timeline")
    def timeline_table(self, row: OutboxMessage) -> Any:
        lines = format_html_join(
            "",
            '<tr><td class="mailcore-when">{}</td><th class="mailcore-what">{}</th><td>{}</td></tr>',
            ((when(entry.at), entry.what, entry.detail) for entry in timeline(row)),
        )
        return format_html('<table class="mailcore-timeline"><tbody>{}</tbody></table>', lines)

    @admin.display(description="content")
    def content(self, row: OutboxMessage) -> Any:
        """The message content (only in the fieldset of users with the body permission)."""
        if not row.payload:
            return "dropped by the retention rule"
        try:
            message = Message.from_dict(json.loads(row.payload))
        except Exception as error:  # a row a newer mailcore wrote, or damaged: say so, show nothing
            return f"cannot be shown: {type(error).__name__}"
        return content_html(message)

    # -- actions: through the store ----------------------------------------------------------

    @admin.action(description="Retry selected messages now", permissions=["change"])
    def retry_messages(self, request: Any, queryset: Any) -> None:
        ids = _ids(queryset)
        done = outbox_store(queryset.db).retry(ids=ids)
        self._report(request, "retried", done, len(ids), "only failed, unknown or queued rows with their content")

    @admin.action(description="Cancel selected messages", permissions=["change"])
    def cancel_messages(self, request: Any, queryset: Any) -> None:
        ids = _ids(queryset)
        reason = f"cancelled by {request.user.get_username()}"
        done = outbox_store(queryset.db).cancel(ids, reason=reason)
        self._report(request, "cancelled", done, len(ids), "only queued or unknown rows; a row being sent cannot be")

    @admin.action(description="Purge selected finished messages", permissions=["purge"])
    def purge_messages(self, request: Any, queryset: Any) -> None:
        ids = _ids(queryset)
        done = outbox_store(queryset.db).purge_rows(ids)
        self._report(request, "purged", done, len(ids), "only finished rows: sent, failed, unknown, expired")

    def _report(self, request: Any, verb: str, done: int, selected: int, rule: str) -> None:
        plural = "" if done == 1 else "s"
        text = f"{done} message{plural} {verb}."
        if done < selected:
            text += f" {selected - done} left as they were ({rule})."
        self.message_user(request, text, messages.SUCCESS if done == selected else messages.WARNING)


def _ids(queryset: Any) -> list[str]:
    return [str(id) for id in queryset.values_list("id", flat=True)]


def content_html(message: Message) -> Any:
    """Subject, text, HTML *source* (never rendered), headers, template data and attachment names."""
    rows: list[tuple[str, Any]] = [("Subject", message.subject)]
    if message.text is not None:
        rows.append(("Text", format_html('<pre class="mailcore-body">{}</pre>', message.text)))
    if message.html is not None:
        rows.append(("HTML source", format_html('<pre class="mailcore-body">{}</pre>', message.html)))
    if message.template_id:
        rows.append(("Template", message.template_id))
    if message.template_data:
        data = json.dumps(message.template_data, ensure_ascii=False, indent=2, default=str)
        rows.append(("Template data", format_html("<pre>{}</pre>", data)))
    if message.headers:
        rows.append(("Headers", _lines(f"{name}: {value}" for name, value in message.headers.items())))
    if message.attachments:
        rows.append(
            (
                "Attachments",
                _lines(
                    f"{a.filename or '(no name)'} — {a.mimetype}, {len(a.content)} bytes" for a in message.attachments
                ),
            )
        )
    body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="mailcore-content"><tbody>{}</tbody></table>', body)


def _lines(texts: Iterable[str]) -> Any:
    return format_html_join("", "{}<br>", ((text,) for text in texts))
