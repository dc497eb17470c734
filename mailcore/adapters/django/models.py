"""The outbox in Django's own database: ``MAILCORE["QUEUE"] = "db"``.

Four tables, created by ``manage.py migrate`` (app label ``mailcore``):

* ``mailcore_outbox`` (:class:`OutboxMessage`) — one row per message, the columns of the SQLite
  outbox's ``outbox`` table plus ``priority``, ``expires_at`` and ``idempotency_key``. It is the
  same table mailcore's PostgreSQL outbox (``mailcore worker --outbox postgresql://…``) reads
  and writes, so a plain ``mailcore worker`` can drain what Django committed;
* ``mailcore_idempotency`` (:class:`IdempotencyKey`) — idempotency keys seen recently and the
  outbox id of the first message that carried each;
* ``mailcore_delivery_events`` (:class:`DeliveryEventRecord`) and ``mailcore_suppressions``
  (:class:`SuppressionEntry`) — delivery events and the suppression list, beside the outbox
  (migration ``0002``, on SQLite and PostgreSQL databases): the tables of the PostgreSQL
  outbox's schema version 2, read and written by :mod:`mailcore.outbox.events` and
  :mod:`mailcore.outbox.suppressions` through :mod:`mailcore.outbox.eventsql`, never through
  these models. The models exist so that Django knows the tables (its test flush empties them,
  ``dumpdata`` sees them); their indexes and the trigger that deletes an outbox row's events
  with the row are the migration's SQL (their names are the PostgreSQL schema's, longer than
  the 30 characters Django allows a declared index).

A row is written through Django's connection, so ``send_mail()`` inside
``transaction.atomic()`` is committed or rolled back with the application's own rows. The rows
are managed by :class:`mailcore.adapters.django.outbox.DjangoOutbox`; write to them only
through it (or the admin's actions), never by hand.

Times are epoch seconds (``double precision``), as in the other outbox stores, so every store
and worker compares them the same way whatever the database's time zone settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models  # type: ignore[import-untyped,unused-ignore]

__all__ = ["CLAIM_AGING", "DeliveryEventRecord", "IdempotencyKey", "OutboxMessage", "SuppressionEntry", "TextColumn"]

#: Seconds of waiting one priority step is worth in the claim order (``due_at + priority *
#: CLAIM_AGING``); the claim index is on that expression, so the query must spell it the same.
CLAIM_AGING = 300.0


if TYPE_CHECKING:
    _CharField = models.CharField[str, str]
else:
    _CharField = models.CharField


class TextColumn(_CharField):  # type: ignore[misc,unused-ignore]
    """A ``text`` column on PostgreSQL and SQLite (the shared table's type), ``varchar(N)``
    elsewhere so that databases that cannot index ``text`` (MySQL) still migrate."""

    def db_type(self, connection: Any) -> Any:
        if connection.vendor in ("postgresql", "sqlite"):
            return "text"
        return super().db_type(connection)


class OutboxMessage(models.Model):  # type: ignore[misc,unused-ignore]
    """One message in the outbox and its delivery state (see :mod:`mailcore.outbox.store`)."""

    id: TextColumn = TextColumn(primary_key=True, max_length=32, editable=False)
    message_id: TextColumn = TextColumn(max_length=900, verbose_name="Message-ID")
    state: TextColumn = TextColumn(max_length=16)
    payload: models.TextField[str, str] = models.TextField(blank=True)  # to_dict() JSON; '' once dropped
    sender: models.TextField[str, str] = models.TextField()
    recipients: models.TextField[str, str] = models.TextField()  # comma-joined, like the SQLite outbox
    subject: models.TextField[str, str] = models.TextField(blank=True)
    runs: models.IntegerField[int, int] = models.IntegerField(default=0, db_default=0)
    created_at: models.FloatField[float, float] = models.FloatField()
    updated_at: models.FloatField[float, float] = models.FloatField()
    age_from: models.FloatField[float, float] = models.FloatField()
    due_at: models.FloatField[float, float] = models.FloatField()
    lease_owner: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    last_error: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    transport: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    provider_message_id: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    # 0 high, 1 normal, 2 low (mailcore.outbox.lifetimes.PRIORITY_RANK)
    priority: models.SmallIntegerField[int, int] = models.SmallIntegerField(default=1, db_default=1)
    expires_at: models.FloatField[float | None, float | None] = models.FloatField(null=True, blank=True)
    idempotency_key: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)

    class Meta:
        app_label = "mailcore"
        db_table = "mailcore_outbox"
        verbose_name = "outbox message"
        verbose_name_plural = "outbox"
        # The admin shows subjects, bodies and attachments only to users holding this (docs/django.md).
        permissions = (("view_outbox_body", "Can view outbox message bodies"),)
        indexes = (
            models.Index(
                models.F("due_at") + models.F("priority") * models.Value(CLAIM_AGING),
                name="mailcore_outbox_claim",
                condition=models.Q(state__in=["queued", "sending"]),
            ),
            models.Index(
                fields=["due_at"], name="mailcore_outbox_due", condition=models.Q(state__in=["queued", "sending"])
            ),
            models.Index(fields=["state", "updated_at"], name="mailcore_outbox_state"),
            models.Index(fields=["message_id"], name="mailcore_outbox_message_id"),
        )

    def __str__(self) -> str:  # no subject or recipients: they are message content
        return f"{self.id} ({self.state})"


class IdempotencyKey(models.Model):  # type: ignore[misc,unused-ignore]
    """An idempotency key and the outbox id of the first message enqueued with it."""

    key: TextColumn = TextColumn(primary_key=True, max_length=200)
    outbox_id: models.TextField[str, str] = models.TextField()
    created_at: models.FloatField[float, float] = models.FloatField()

    class Meta:
        app_label = "mailcore"
        db_table = "mailcore_idempotency"
        verbose_name = "idempotency key"
        indexes = (models.Index(fields=["created_at"], name="mailcore_idempotency_created"),)

    def __str__(self) -> str:
        return f"idempotency key → {self.outbox_id}"


class DeliveryEventRecord(models.Model):  # type: ignore[misc,unused-ignore]
    """One stored delivery event (see :class:`mailcore.outbox.events.StoredEvent`); written by
    the event pipeline only. ``raw`` is the provider's record (dropped by the retention rule)."""

    seq: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    dedup_key: TextColumn = TextColumn(max_length=700, unique=True)
    provider: models.TextField[str, str] = models.TextField()
    kind: models.TextField[str, str] = models.TextField()
    bounce_type: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    suppressed_by: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    categories: models.TextField[str, str] = models.TextField(default="", db_default="", blank=True)
    recipient: TextColumn = TextColumn(max_length=700, null=True, blank=True)
    correlation_id: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    message_id: TextColumn = TextColumn(max_length=900, null=True, blank=True, verbose_name="Message-ID")
    provider_message_id: TextColumn = TextColumn(max_length=700, null=True, blank=True)
    provider_event_id: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    occurred_at: models.FloatField[float, float] = models.FloatField()
    received_at: models.FloatField[float, float] = models.FloatField()
    reason: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    diagnostic: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    raw: models.TextField[str, str] = models.TextField(blank=True)
    outbox_id: TextColumn = TextColumn(max_length=32, null=True, blank=True)
    handled_at: models.FloatField[float | None, float | None] = models.FloatField(null=True, blank=True)
    claimed_until: models.FloatField[float | None, float | None] = models.FloatField(null=True, blank=True)

    class Meta:
        app_label = "mailcore"
        db_table = "mailcore_delivery_events"
        verbose_name = "delivery event"

    def __str__(self) -> str:  # no recipient: it is personal data
        return f"{self.provider} {self.kind} #{self.seq}"


class SuppressionEntry(models.Model):  # type: ignore[misc,unused-ignore]
    """One entry of the suppression list (see :class:`mailcore.outbox.events.Suppression`)."""

    pk = models.CompositePrimaryKey("address", "scope")
    address: TextColumn = TextColumn(max_length=320)
    scope: TextColumn = TextColumn(max_length=200)
    reason: models.TextField[str, str] = models.TextField()
    source: models.TextField[str, str] = models.TextField()
    detail: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    created_at: models.FloatField[float, float] = models.FloatField()

    class Meta:
        app_label = "mailcore"
        db_table = "mailcore_suppressions"
        verbose_name = "suppression"

    def __str__(self) -> str:
        return f"suppression ({self.scope}, {self.reason})"
