"""Delivery events and the suppression list beside the outbox: ``mailcore_delivery_events`` and
``mailcore_suppressions`` (see ``models.py``).

They are the tables of mailcore's PostgreSQL outbox schema version 2, so a database shared by
Django and ``mailcore worker --outbox postgresql://…`` works whichever created them first:

* on PostgreSQL this runs that schema step's own statements (``MIGRATIONS[2]`` of
  :mod:`mailcore.outbox.postgres`, every one tolerating what exists: tables, indexes, the
  statement-level trigger that deletes an outbox row's events with it), under the advisory lock
  mailcore's own migration takes, so a worker upgrading the same database at that moment waits;
* on SQLite the same tables, columns and index names in SQLite's types, and a row-level trigger
  doing what the PostgreSQL one does;
* on other databases nothing is created: delivery events are kept on SQLite and PostgreSQL only
  (the event commands and the receiver say so).

The models' state is recorded without touching the database (as in ``0001``). The indexes and
the trigger are not declared in the models; a later migration that rebuilds one of these tables
(or ``mailcore_outbox``) on SQLite must create them again.
"""

from typing import Any

from django.db import migrations, models

import mailcore.adapters.django.models

#: The SQLite form of PostgreSQL schema step 2 (same names; ``IF NOT EXISTS`` throughout).
SQLITE_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS mailcore_delivery_events (
        seq integer NOT NULL PRIMARY KEY AUTOINCREMENT,
        dedup_key text NOT NULL UNIQUE,
        provider text NOT NULL,
        kind text NOT NULL,
        bounce_type text NULL,
        suppressed_by text NULL,
        categories text NOT NULL DEFAULT '',
        recipient text NULL,
        correlation_id text NULL,
        message_id text NULL,
        provider_message_id text NULL,
        provider_event_id text NULL,
        occurred_at real NOT NULL,
        received_at real NOT NULL,
        reason text NULL,
        diagnostic text NULL,
        raw text NOT NULL,
        outbox_id text NULL,
        handled_at real NULL,
        claimed_until real NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_pending ON mailcore_delivery_events (seq) "
    "WHERE handled_at IS NULL",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_outbox ON mailcore_delivery_events (outbox_id)",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_message ON mailcore_delivery_events (message_id)",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_provider_message "
    "ON mailcore_delivery_events (provider_message_id)",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_recipient ON mailcore_delivery_events (recipient)",
    "CREATE INDEX IF NOT EXISTS mailcore_delivery_events_received ON mailcore_delivery_events (received_at)",
    "CREATE INDEX IF NOT EXISTS mailcore_outbox_provider_message_id ON mailcore_outbox (provider_message_id)",
    """CREATE TRIGGER IF NOT EXISTS mailcore_outbox_delete_events AFTER DELETE ON mailcore_outbox
    BEGIN
        DELETE FROM mailcore_delivery_events WHERE outbox_id = OLD.id;
    END""",
    """CREATE TABLE IF NOT EXISTS mailcore_suppressions (
        address text NOT NULL,
        scope text NOT NULL,
        reason text NOT NULL,
        source text NOT NULL,
        detail text NULL,
        created_at real NOT NULL,
        PRIMARY KEY (address, scope)
    )""",
    "CREATE INDEX IF NOT EXISTS mailcore_suppressions_created ON mailcore_suppressions (created_at)",
)
_TABLES = ("mailcore_delivery_events", "mailcore_suppressions")


def create_missing(apps: Any, schema_editor: Any) -> None:
    """Create what is missing of the event tables, their indexes and the trigger."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        from mailcore.outbox.postgres import _MIGRATION_LOCK, MIGRATIONS

        # schema step 2 is history: later schema versions add steps, they never edit this one
        schema_editor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        for statement in MIGRATIONS[2]:
            schema_editor.execute(statement, None)
    elif vendor == "sqlite":
        for statement in SQLITE_SCHEMA:
            schema_editor.execute(statement, None)


def drop(apps: Any, schema_editor: Any) -> None:
    """Undo :func:`create_missing` (``migrate mailcore 0001``): the trigger, the outbox's extra
    index, then the tables, those that exist."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS mailcore_outbox_delete_events ON mailcore_outbox", None)
        schema_editor.execute("DROP FUNCTION IF EXISTS mailcore_outbox_delete_events()", None)
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS mailcore_outbox_delete_events", None)
    else:
        return
    schema_editor.execute("DROP INDEX IF EXISTS mailcore_outbox_provider_message_id", None)
    for table in _TABLES:
        schema_editor.execute(f"DROP TABLE IF EXISTS {table}", None)


class Migration(migrations.Migration):
    dependencies = (("mailcore", "0001_outbox"),)

    operations = (
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DeliveryEventRecord",
                    fields=[
                        ("seq", models.BigAutoField(primary_key=True, serialize=False)),
                        ("dedup_key", mailcore.adapters.django.models.TextColumn(max_length=700, unique=True)),
                        ("provider", models.TextField()),
                        ("kind", models.TextField()),
                        ("bounce_type", models.TextField(blank=True, null=True)),
                        ("suppressed_by", models.TextField(blank=True, null=True)),
                        ("categories", models.TextField(blank=True, db_default="", default="")),
                        (
                            "recipient",
                            mailcore.adapters.django.models.TextColumn(blank=True, max_length=700, null=True),
                        ),
                        ("correlation_id", models.TextField(blank=True, null=True)),
                        (
                            "message_id",
                            mailcore.adapters.django.models.TextColumn(
                                blank=True, max_length=900, null=True, verbose_name="Message-ID"
                            ),
                        ),
                        (
                            "provider_message_id",
                            mailcore.adapters.django.models.TextColumn(blank=True, max_length=700, null=True),
                        ),
                        ("provider_event_id", models.TextField(blank=True, null=True)),
                        ("occurred_at", models.FloatField()),
                        ("received_at", models.FloatField()),
                        ("reason", models.TextField(blank=True, null=True)),
                        ("diagnostic", models.TextField(blank=True, null=True)),
                        ("raw", models.TextField(blank=True)),
                        (
                            "outbox_id",
                            mailcore.adapters.django.models.TextColumn(blank=True, max_length=32, null=True),
                        ),
                        ("handled_at", models.FloatField(blank=True, null=True)),
                        ("claimed_until", models.FloatField(blank=True, null=True)),
                    ],
                    options={"verbose_name": "delivery event", "db_table": "mailcore_delivery_events"},
                ),
                migrations.CreateModel(
                    name="SuppressionEntry",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "address", "scope", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("address", mailcore.adapters.django.models.TextColumn(max_length=320)),
                        ("scope", mailcore.adapters.django.models.TextColumn(max_length=200)),
                        ("reason", models.TextField()),
                        ("source", models.TextField()),
                        ("detail", models.TextField(blank=True, null=True)),
                        ("created_at", models.FloatField()),
                    ],
                    options={"verbose_name": "suppression", "db_table": "mailcore_suppressions"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(create_missing, drop),
    )
