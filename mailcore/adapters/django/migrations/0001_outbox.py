"""The outbox tables ``mailcore_outbox`` and ``mailcore_idempotency`` (see ``models.py``).

Their columns and indexes are those of mailcore's PostgreSQL outbox (issue 18's contract), so
``mailcore worker --outbox postgresql://…`` drains the table this migration creates. The tables
are created only when missing: a database where ``mailcore outbox migrate`` (or a PostgreSQL
worker) created them first is adopted as it is.
"""

from typing import Any

import django.db.models.expressions
from django.db import migrations, models

import mailcore.adapters.django.models

MODELS = ("IdempotencyKey", "OutboxMessage")


def create_missing_tables(apps: Any, schema_editor: Any) -> None:
    """CREATE TABLE (with its indexes) for each outbox table that does not exist yet."""
    existing = set(schema_editor.connection.introspection.table_names())
    for name in MODELS:
        model = apps.get_model("mailcore", name)
        if model._meta.db_table not in existing:
            schema_editor.create_model(model)


def drop_tables(apps: Any, schema_editor: Any) -> None:
    existing = set(schema_editor.connection.introspection.table_names())
    for name in reversed(MODELS):
        model = apps.get_model("mailcore", name)
        if model._meta.db_table in existing:
            schema_editor.delete_model(model)


class Migration(migrations.Migration):
    initial = True

    dependencies = ()

    operations = (
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        (
                            "key",
                            mailcore.adapters.django.models.TextColumn(
                                max_length=200, primary_key=True, serialize=False
                            ),
                        ),
                        ("outbox_id", models.TextField()),
                        ("created_at", models.FloatField()),
                    ],
                    options={
                        "verbose_name": "idempotency key",
                        "db_table": "mailcore_idempotency",
                        "indexes": [models.Index(fields=["created_at"], name="mailcore_idempotency_created")],
                    },
                ),
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        (
                            "id",
                            mailcore.adapters.django.models.TextColumn(
                                editable=False, max_length=32, primary_key=True, serialize=False
                            ),
                        ),
                        (
                            "message_id",
                            mailcore.adapters.django.models.TextColumn(max_length=900, verbose_name="Message-ID"),
                        ),
                        ("state", mailcore.adapters.django.models.TextColumn(max_length=16)),
                        ("payload", models.TextField(blank=True)),
                        ("sender", models.TextField()),
                        ("recipients", models.TextField()),
                        ("subject", models.TextField(blank=True)),
                        ("runs", models.IntegerField(db_default=0, default=0)),
                        ("created_at", models.FloatField()),
                        ("updated_at", models.FloatField()),
                        ("age_from", models.FloatField()),
                        ("due_at", models.FloatField()),
                        ("lease_owner", models.TextField(blank=True, null=True)),
                        ("last_error", models.TextField(blank=True, null=True)),
                        ("transport", models.TextField(blank=True, null=True)),
                        ("provider_message_id", models.TextField(blank=True, null=True)),
                        ("priority", models.SmallIntegerField(db_default=1, default=1)),
                        ("expires_at", models.FloatField(blank=True, null=True)),
                        ("idempotency_key", models.TextField(blank=True, null=True)),
                    ],
                    options={
                        "verbose_name": "outbox message",
                        "verbose_name_plural": "outbox",
                        "permissions": (("view_outbox_body", "Can view outbox message bodies"),),
                        "db_table": "mailcore_outbox",
                        "indexes": [
                            models.Index(
                                django.db.models.expressions.CombinedExpression(
                                    models.F("due_at"),
                                    "+",
                                    django.db.models.expressions.CombinedExpression(
                                        models.F("priority"), "*", models.Value(300.0)
                                    ),
                                ),
                                condition=models.Q(("state__in", ["queued", "sending"])),
                                name="mailcore_outbox_claim",
                            ),
                            models.Index(
                                condition=models.Q(("state__in", ["queued", "sending"])),
                                fields=["due_at"],
                                name="mailcore_outbox_due",
                            ),
                            models.Index(fields=["state", "updated_at"], name="mailcore_outbox_state"),
                            models.Index(fields=["message_id"], name="mailcore_outbox_message_id"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(create_missing_tables, drop_tables),
    )
