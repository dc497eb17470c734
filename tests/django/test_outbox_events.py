"""Delivery events, the suppression list and the timeline in Django's database (``django://``).

Every store test runs twice (the ``database`` fixture): on SQLite and on a PostgreSQL test
database, in real transactions — the same functions the SQLite and PostgreSQL outboxes run,
through :mod:`mailcore.outbox.eventsql`. The migration tests run ``manage.py migrate`` in a
subprocess against a fresh PostgreSQL database, before and after mailcore's own schema
migration, and compare what each order leaves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from django.db import connections

from mailcore import Mailer, Message
from mailcore.adapters.django.models import DeliveryEventRecord, OutboxMessage, SuppressionEntry
from mailcore.adapters.django.outbox import DjangoOutbox
from mailcore.errors import ConfigurationError, DeliveryFailed
from mailcore.events import DeliveryEvent, EventKind
from mailcore.outbox import suppressions
from mailcore.outbox.events import Suppression, enforce_event_retention, events_for, store_events
from mailcore.outbox.eventsql import DJANGO_SQLITE, POSTGRESQL, event_db, has_events, open_event_store
from mailcore.outbox.retention import Retention
from mailcore.outbox.timeline import find_status
from mailcore.webhooks.pipeline import EventPipeline

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def message(n: int = 0) -> Message:
    return Message("shop@example.com", [f"user{n}@example.org"], f"receipt {n}", text=f"body {n}")


def event(msg: Message, kind: EventKind = EventKind.DELIVERED, **fields) -> DeliveryEvent:
    fields.setdefault("provider_event_id", f"{kind.value}-{msg.correlation_id}")
    return DeliveryEvent(kind, "sendgrid", AT, recipient=msg.to[0].email, correlation_id=msg.correlation_id, **fields)


@pytest.fixture
def store(database) -> DjangoOutbox:
    return DjangoOutbox(database)


def unknown_row(store: DjangoOutbox, msg: Message) -> str:
    """A row whose attempt timed out after hand-over (state ``unknown``), as the worker leaves it."""
    id = store.enqueue(msg)
    assert [claim.id for claim in store.claim("w1", limit=1, lease=60)] == [id]
    store.mark_unknown("w1", id, "timed out after DATA")
    return id


def state(store: DjangoOutbox, id: str) -> str:
    return OutboxMessage.objects.using(store.using).get(id=id).state


def test_the_django_store_keeps_events_in_its_dialect(store):
    assert has_events(store)
    assert event_db(store).dialect is (POSTGRESQL if store.vendor == "postgresql" else DJANGO_SQLITE)
    assert open_event_store(store.url).url == store.url


def test_an_accepted_event_settles_an_unknown_row(store):
    msg = message()
    id = unknown_row(store, msg)
    assert store_events(store, [event(msg, EventKind.ACCEPTED, provider_message_id="sg-1")]) == 1
    assert store_events(store, [event(msg, EventKind.ACCEPTED, provider_message_id="sg-1")]) == 0  # redelivery
    pipeline = EventPipeline(store)  # not started: handled in this thread
    assert pipeline.drain() == 1
    row = OutboxMessage.objects.using(store.using).get(id=id)
    assert (row.state, row.transport, row.provider_message_id) == ("sent", "sendgrid", "sg-1")
    assert "settled by a sendgrid 'accepted' event" in row.last_error
    (stored,) = events_for(store, outbox_id=id)
    assert stored.handled_at is not None and stored.message_id == msg.message_id
    (status,) = find_status(store, msg.message_id)
    assert [item.what for item in status.items][-1] == "accepted" and status.entry.state == "sent"


def test_a_hard_bounce_feeds_the_suppression_list_and_the_layer_refuses_the_address(store):
    msg = message(1)
    store.enqueue(msg)
    store_events(store, [event(msg, EventKind.BOUNCED, bounce_type="hard", reason="550 5.1.1 no such user")])
    EventPipeline(store).drain()
    (entry,) = suppressions.suppressions(store, address="user1@example.org")
    assert (entry.scope, entry.reason, entry.source) == ("*", "hard_bounce", "sendgrid event")
    rows = SuppressionEntry.objects.using(store.using).values_list("address", "reason")
    assert list(rows) == [("user1@example.org", "hard_bounce")]  # the model reads the same table
    mailer = Mailer("memory://djev", suppression={"store": store.url})
    try:
        with pytest.raises(DeliveryFailed, match="every recipient is on the suppression list"):
            mailer.send(message(1))
        mailer.send(message(2))  # not listed: sent
    finally:
        mailer.close()


def test_suppression_add_lookup_remove_and_the_cli(store):
    added = suppressions.add(
        store,
        [
            Suppression("ada@example.org", "*", "manual", "test", None, 1.0),
            Suppression("bob@example.org", "newsletter", "unsubscribe", "test", "100% sure", 2.0),
        ],
    )
    assert added == 2
    assert suppressions.add(store, [Suppression("ada@example.org", "*", "manual", "again", None, 3.0)]) == 0
    found = suppressions.lookup(store, ["Ada@Example.org", "bob@example.org", "carol@example.org"])
    assert {address: [e.scope for e in entries] for address, entries in found.items()} == {
        "ada@example.org": ["*"],
        "bob@example.org": ["newsletter"],
    }
    assert found["bob@example.org"][0].detail == "100% sure"  # a literal % survives Django's %s cursor
    runner = CliRunner()
    listed = runner.invoke(main_cli(), ["suppressions", "list", "--json", "--outbox", store.url])
    assert listed.exit_code == 0, listed.output
    assert {entry["address"] for entry in json.loads(listed.output)} == {"ada@example.org", "bob@example.org"}
    added = runner.invoke(main_cli(), ["suppressions", "add", "carol@example.org", "--outbox", store.url])
    assert added.exit_code == 0 and "1 added" in added.output, added.output
    assert suppressions.remove(store, "ada@example.org") == 1
    assert "ada@example.org" not in suppressions.lookup(store, ["ada@example.org"])


def main_cli():
    from mailcore.cli import cli

    return cli


def test_mailcore_status_reads_the_django_database(store):
    msg = message(3)
    id = store.enqueue(msg)
    store_events(store, [event(msg, EventKind.DELIVERED, reason="250 OK")])
    result = CliRunner().invoke(main_cli(), ["status", msg.message_id, "--json", "--outbox", store.url])
    assert result.exit_code == 0, result.output
    (status,) = json.loads(result.output)["messages"]
    assert status["outbox"]["id"] == id and status["recipients"] == {"user3@example.org": "delivered"}


def test_events_go_with_their_outbox_row_and_unlinked_ones_with_the_retention(store):
    kept, purged = message(4), message(5)
    kept_id, purged_id = store.enqueue(kept), store.enqueue(purged)
    stray = message(6)  # sent without the outbox: its event links to no row
    store_events(store, [event(kept), event(purged), event(stray)])
    for id in (kept_id, purged_id):
        store.claim("w", limit=2, lease=60)
        store.mark_sent(id, transport="memory://", provider_message_id=None)
    assert store.purge_rows([purged_id]) == 1
    assert events_for(store, outbox_id=purged_id) == [] and len(events_for(store, outbox_id=kept_id)) == 1
    assert len(events_for(store, message_id=purged.message_id)) == 0  # deleted, not just unlinked
    EventPipeline(store).drain()  # only handled events are subject to the retention rule
    later = AT.timestamp() + 10**10
    assert enforce_event_retention(store, Retention(failed_body=0.0, metadata=0.0), now=later) == (2, 1)
    assert events_for(store, message_id=stray.message_id) == []
    (left,) = events_for(store, outbox_id=kept_id)  # linked to a live row: kept, its raw record dropped
    assert left.raw == "" and left.recipient.startswith("sha256:")
    rows = DeliveryEventRecord.objects.using(store.using).values_list("outbox_id", flat=True)
    assert list(rows) == [kept_id]


def test_a_database_without_event_tables_is_refused_with_what_to_use(store, monkeypatch):
    monkeypatch.setattr(type(store), "vendor", property(lambda self: "mysql"))
    assert not has_events(store)
    with pytest.raises(ConfigurationError, match="a mysql database"):
        event_db(store)
    with pytest.raises(ConfigurationError, match="django://ALIAS for a Django database on SQLite or PostgreSQL"):
        EventPipeline(store)


# -- migrations on a PostgreSQL database shared with `mailcore worker --outbox postgresql://…` -----


def _django(url: str, tmp_path, code: str) -> str:
    """Run ``code`` in a Django process whose ``default`` database is ``url`` (a fresh
    PostgreSQL database); return what it printed."""
    from mailcore.outbox.pgurl import parse_postgres_url

    connect = parse_postgres_url(url).connect
    (tmp_path / "djev_settings.py").write_text(
        textwrap.dedent(
            f"""
            SECRET_KEY = "tests-only"
            INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "mailcore.adapters.django"]
            DATABASES = {{"default": {{
                "ENGINE": "django.db.backends.postgresql", "NAME": {connect["dbname"]!r},
                "HOST": {connect["host"]!r}, "PORT": {int(connect.get("port") or 5432)!r},
                "USER": {connect["user"]!r},
            }}}}
            USE_TZ = True
            """
        )
    )
    script = "import django\ndjango.setup()\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"DJANGO_SETTINGS_MODULE": "djev_settings", "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


MIGRATE = "from django.core.management import call_command\ncall_command('migrate', verbosity=0)\n"
READ_BACK = """
import json
from mailcore.adapters.django.outbox import DjangoOutbox
from mailcore.outbox.events import events_for
from mailcore.outbox.suppressions import suppressions
store = DjangoOutbox()
rows = {row.id: row.message_id for row in store.entries()}
print(json.dumps({
    "events": {id: [e.kind for e in events_for(store, outbox_id=id)] for id in rows},
    "suppressed": [e.address for e in suppressions(store)],
}))
"""


def _schema(url: str) -> dict:
    """Columns, indexes and triggers of the event tables (and the outbox's extra index)."""
    from postgres_fixtures import pg_connect

    with pg_connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_name IN ('mailcore_delivery_events', "
            "'mailcore_suppressions') ORDER BY table_name, ordinal_position"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('mailcore_delivery_events', "
            "'mailcore_suppressions') OR indexname = 'mailcore_outbox_provider_message_id' ORDER BY indexname"
        ).fetchall()
        triggers = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'mailcore_outbox'::regclass AND NOT tgisinternal"
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "triggers": triggers}


def _use_through_mailcore(url: str) -> tuple[str, str]:
    """Through the PostgreSQL outbox: two rows with an event each, both purged (their events go
    with them: the trigger), one enqueued again with an ``opened`` event, an address suppressed.
    Returns the id of the row left."""
    from mailcore.outbox.postgres import SCHEMA_VERSION, PostgresOutbox

    first, second = message(10), message(11)
    with PostgresOutbox(url) as pg:
        assert pg.schema_version() == SCHEMA_VERSION
        pg.enqueue_many([first, second])
        assert store_events(pg, [event(first), event(second)]) == 2
        for claim in pg.claim("w", limit=2, lease=60):
            pg.mark_failed("w", claim.id, "test")
        assert pg.purge(state="failed") == 2
        assert events_for(pg, message_id=first.message_id) == []
        kept_id = pg.enqueue(first)
        store_events(pg, [event(first, EventKind.OPENED)])
        suppressions.add(pg, [Suppression("user10@example.org", "*", "manual", "test", None, 1.0)])
    return kept_id


@pytest.mark.service
def test_django_migrates_a_database_mailcore_created_first(pg_fresh_database, tmp_path):
    kept_id = _use_through_mailcore(pg_fresh_database)
    mailcore_made = _schema(pg_fresh_database)
    _django(pg_fresh_database, tmp_path, MIGRATE)  # adopts the tables: nothing created twice
    assert _schema(pg_fresh_database) == mailcore_made
    seen = json.loads(_django(pg_fresh_database, tmp_path, READ_BACK))
    assert seen == {"events": {kept_id: ["opened"]}, "suppressed": ["user10@example.org"]}


@pytest.mark.service
def test_mailcore_adopts_a_database_django_migrated_first(pg_fresh_database, pg_database, tmp_path):
    _django(pg_fresh_database, tmp_path, MIGRATE)
    django_made = _schema(pg_fresh_database)
    kept_id = _use_through_mailcore(pg_fresh_database)  # migrates to schema 2 over Django's tables
    assert _schema(pg_fresh_database) == django_made
    seen = json.loads(_django(pg_fresh_database, tmp_path, READ_BACK))
    assert seen == {"events": {kept_id: ["opened"]}, "suppressed": ["user10@example.org"]}
    # and the same schema as the other order: compare with a database mailcore alone migrated
    from mailcore.outbox.postgres import PostgresOutbox

    PostgresOutbox(pg_database).close()
    assert _schema(pg_database) == django_made


@pytest.mark.django_db
def test_the_sqlite_migration_creates_the_trigger_and_the_indexes():
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT type, name FROM sqlite_master WHERE tbl_name IN "
            "('mailcore_delivery_events', 'mailcore_suppressions', 'mailcore_outbox') AND name LIKE 'mailcore_%%'"
        )
        names = {name for _, name in cursor.fetchall()}
    assert {
        "mailcore_delivery_events",
        "mailcore_suppressions",
        "mailcore_outbox_delete_events",
        "mailcore_delivery_events_pending",
        "mailcore_outbox_provider_message_id",
        "mailcore_suppressions_created",
    } <= names


# -- the Django receiver with QUEUE = "db": events in Django's database, then in the admin -------

BODY_TEXT = "Your code is 493817."
RAW_ONLY = "RawOnlyAgent/1.0"  # in the provider's record only: never shown in the admin


@pytest.fixture
def db_queue_project(settings, monkeypatch, tmp_path):
    """A project with ``QUEUE = "db"``, the admin and the webhook views, SendGrid configured with
    a fresh key; the ``django://`` pipeline is installed here (handling in its thread, no polling
    while the test reads). ``MAILCORE_OUTBOX`` points at a file that must stay uncreated."""
    import types
    import uuid

    from django.contrib import admin
    from django.urls import clear_url_caches, include, path

    from mailcore.webhooks.pipeline import reset_default_pipeline, use_default_pipeline
    from mailcore_sendgrid.testing import key_pair

    private, public = key_pair()
    settings.MAILCORE = {"URL": "memory://django", "QUEUE": "db"}
    settings.MAILCORE_WEBHOOKS = {"sendgrid": {"public_key": public}}
    elsewhere = tmp_path / "not-used.sqlite3"
    monkeypatch.setenv("MAILCORE_OUTBOX", f"sqlite:///{elsewhere}")
    sys.modules.pop("mailcore.adapters.django.urls", None)  # built from the settings on import
    name = f"mailcore_test_urls_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.urlpatterns = [
        path("admin/", admin.site.urls),
        path("mailcore/webhooks/", include("mailcore.adapters.django.urls")),
    ]
    sys.modules[name] = module
    settings.ROOT_URLCONF = name
    clear_url_caches()
    pipeline = use_default_pipeline(EventPipeline(DjangoOutbox("default"), poll_interval=3600), outbox="django://")
    # its first look for leftovers is over before the test writes: SQLite's shared-cache test
    # database locks whole tables between connections, so the two threads must take turns
    assert pipeline.wait_idle(60)
    try:
        yield private, pipeline
    finally:
        reset_default_pipeline()
        sys.modules.pop(name, None)
        sys.modules.pop("mailcore.adapters.django.urls", None)
        clear_url_caches()
    assert not elsewhere.exists()  # nothing went to MAILCORE_OUTBOX


def sendgrid_body(msg: Message) -> bytes:
    from mailcore_sendgrid.payload import build_payload

    custom_args = build_payload(msg)["personalizations"][0]["custom_args"]
    common = {"email": msg.to[0].email, "timestamp": int(AT.timestamp()), "sg_message_id": "14c5d75ce93.filter0001.1"}
    return json.dumps(
        [
            {**common, **custom_args, "event": "delivered", "sg_event_id": "d1", "response": "250 2.0.0 OK"},
            {**common, **custom_args, "event": "open", "sg_event_id": "o1", "useragent": RAW_ONLY},
        ]
    ).encode()


@pytest.mark.django_db(transaction=True)
def test_a_signed_webhook_with_queue_db_settles_the_row_and_shows_in_the_admin_timeline(
    db_queue_project, django_user_model
):
    from django.contrib.auth.models import Permission
    from django.test import Client

    from mailcore.adapters.django.signals import delivery_event
    from mailcore_sendgrid.testing import signed

    private, pipeline = db_queue_project
    msg = Message("app@example.com", ["user@example.org"], "Your code", text=BODY_TEXT)
    store = DjangoOutbox("default")
    id = unknown_row(store, msg)
    signalled: list = []
    receiver = lambda sender, event, **kwargs: signalled.append(event.kind)  # noqa: E731
    delivery_event.connect(receiver, weak=False)
    try:
        body = sendgrid_body(msg)
        response = Client().post("/mailcore/webhooks/sendgrid", body, "application/json", headers=signed(private, body))
        assert response.status_code == 200, response.content
        # (no reads here while the pipeline's thread handles: SQLite's shared-cache test database
        # locks whole tables between connections)
        assert pipeline.wait_idle(60), "the event pipeline did not finish handling"
    finally:
        delivery_event.disconnect(receiver)
    assert signalled == [EventKind.DELIVERED, EventKind.OPENED]
    stored = DeliveryEventRecord.objects.filter(outbox_id=id).order_by("seq")
    assert [(e.kind, e.handled_at is not None) for e in stored] == [("delivered", True), ("opened", True)]
    row = OutboxMessage.objects.get(id=id)
    assert (row.state, row.transport, row.provider_message_id) == ("sent", "sendgrid", "14c5d75ce93")

    staff = django_user_model.objects.create_user("operator", "op@example.com", "pw", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="mailcore", codename="view_outboxmessage")
    )
    operator = Client()
    operator.force_login(staff)
    page = operator.get(f"/admin/mailcore/outboxmessage/{id}/change/").content.decode()
    timeline = page[page.index('class="mailcore-timeline"') :]
    timeline = timeline[: timeline.index("</table>")]
    assert "delivered" in timeline and "by sendgrid for user@example.org: 250 2.0.0 OK" in timeline
    assert ">opened<" in timeline and ">enqueued<" in timeline and ">sent<" in timeline  # beside the runs
    assert "via sendgrid" in timeline  # the provider that settled it, not a masked "***"
    assert BODY_TEXT not in page and RAW_ONLY not in page  # no body without the permission, no raw record

    staff.user_permissions.add(Permission.objects.get(content_type__app_label="mailcore", codename="view_outbox_body"))
    page = operator.get(f"/admin/mailcore/outboxmessage/{id}/change/").content.decode()
    assert "by sendgrid for user@example.org" in page and RAW_ONLY not in page  # the raw record never


# -- where a project's events go, and the suppression layer reading the same list ----------------


def test_events_go_where_the_queue_is(settings):
    from django.core.exceptions import ImproperlyConfigured

    from mailcore.adapters.django.events import check_events_outbox, events_outbox_url

    settings.MAILCORE = {"URL": "memory://", "QUEUE": "db"}
    assert events_outbox_url() == "django://"
    settings.MAILCORE = {"URL": "memory://", "QUEUE": "django://pg"}
    assert events_outbox_url() == "django://pg"
    settings.MAILCORE = {"URL": "memory://", "QUEUE": "sqlite:////var/lib/app/outbox.sqlite3"}
    assert events_outbox_url() is None  # MAILCORE_OUTBOX, as outside Django
    settings.MAILCORE_EVENTS_OUTBOX = "db"
    assert check_events_outbox() == "django://"
    settings.MAILCORE_EVENTS_OUTBOX = "postgresql://mailcore@db.internal/app"
    assert check_events_outbox() == "postgresql://mailcore@db.internal/app"
    for wrong in ("celery", 42):
        settings.MAILCORE_EVENTS_OUTBOX = wrong
        with pytest.raises(ImproperlyConfigured, match="MAILCORE_EVENTS_OUTBOX"):
            check_events_outbox()


def test_the_suppression_layer_reads_the_list_the_receivers_feed():
    from mailcore.adapters.django.options import with_suppression_store

    assert with_suppression_store({"suppression": True}, "django://") == {"suppression": {"store": "django://"}}
    bypass = {"suppression": {"bypass": ["otp"]}}
    assert with_suppression_store(bypass, "django://") == {"suppression": {"bypass": ["otp"], "store": "django://"}}
    for chosen in ({"suppression": "sqlite:////x.db"}, {"suppression": {"store": "sqlite:////x.db"}}, {}):
        assert with_suppression_store(chosen, "django://") == chosen  # named elsewhere, or off
    assert with_suppression_store({"suppression": "env"}, "django://") == {"suppression": "env"}


@pytest.mark.django_db
def test_the_backend_with_queue_db_checks_the_list_in_djangos_database(settings):
    from mailcore.adapters.django import EmailBackend

    settings.MAILCORE = {"URL": "memory://django", "QUEUE": "db", "POLICY": {"suppression": True}}
    backend = EmailBackend()
    try:
        assert "suppression list (django://" in backend.mailer.transport.describe()
    finally:
        backend.close()
