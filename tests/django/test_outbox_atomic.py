"""``MAILCORE["QUEUE"] = "db"``: send_mail() writes the message in the caller's transaction.

In-process, on SQLite and PostgreSQL (the ``database`` fixture), with a business table next to
the outbox. The same through a real web server killed after the commit is in
test_outbox_project.py.
"""

from __future__ import annotations

import pytest
from conftest import BACKEND, needs_mailers
from django.core import checks
from django.core.mail import send_mail
from django.db import connections, transaction

from mailcore.adapters.django.models import OutboxMessage


@pytest.fixture
def payments(database):
    """A ``payment`` table in the same database as the outbox (dropped afterwards)."""
    connection = connections[database]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_payment (id integer PRIMARY KEY, amount integer NOT NULL)")
    yield database
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE test_payment")


@pytest.fixture
def db_queue(mailcore_settings, database):
    """EMAIL_BACKEND = mailcore with QUEUE "db" (the default database) or django://pg."""
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "db" if database == "default" else "django://pg"}
    return database


def pay(database: str, id: int, *, fail: bool) -> None:
    with transaction.atomic(using=database):
        with connections[database].cursor() as cursor:
            cursor.execute("INSERT INTO test_payment (id, amount) VALUES (%s, %s)", [id, 100])
        assert send_mail(f"Receipt {id}", "Thank you.", None, [f"buyer{id}@example.com"]) == 1
        if fail:
            raise RuntimeError("card declined")


def business_rows(database: str) -> list[int]:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT id FROM test_payment ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def outbox_subjects(database: str) -> list[str]:
    return sorted(OutboxMessage.objects.using(database).values_list("subject", flat=True))


def test_rolled_back_payment_leaves_no_mail(payments, db_queue, sent):
    with pytest.raises(RuntimeError, match="card declined"):
        pay(db_queue, 1, fail=True)
    assert business_rows(db_queue) == []
    assert outbox_subjects(db_queue) == []
    assert sent == []  # queued, not sent: nothing left the process either


def test_committed_payment_commits_its_mail(payments, db_queue, sent):
    pay(db_queue, 2, fail=False)
    assert business_rows(db_queue) == [2]
    assert outbox_subjects(db_queue) == ["Receipt 2"]
    (row,) = OutboxMessage.objects.using(db_queue).all()
    assert row.state == "queued" and row.recipients == "buyer2@example.com"
    assert sent == []


def test_an_inner_failure_rolls_back_only_its_savepoint(payments, db_queue):
    with transaction.atomic(using=db_queue):
        pay(db_queue, 3, fail=False)
        with pytest.raises(RuntimeError), transaction.atomic(using=db_queue):
            pay(db_queue, 4, fail=True)
    assert business_rows(db_queue) == [3]
    assert outbox_subjects(db_queue) == ["Receipt 3"]


def test_without_a_transaction_the_row_is_committed_at_once(db_queue):
    send_mail("Hello", "Body", None, ["a@example.com"])
    with transaction.atomic(using=db_queue):  # a new transaction sees it: it was committed
        assert outbox_subjects(db_queue) == ["Hello"]


def test_the_system_check_accepts_db(db_queue):
    assert [e for e in checks.run_checks() if e.id.startswith("mailcore.")] == []


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("django://nope", "names the database alias 'nope', which is not in DATABASES"),
        ("django://?keep=1", "unknown outbox URL parameter 'keep'"),
        ("django:///var/db", "alias in the host part"),
    ],
)
def test_the_system_check_names_a_bad_django_queue(mailcore_settings, queue, expected):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": queue}
    (error,) = [e for e in checks.run_checks() if e.id.startswith("mailcore.")]
    assert error.id == "mailcore.E005"
    assert error.msg.startswith("settings.MAILCORE['QUEUE']: ") and expected in error.msg


def test_db_queue_needs_the_mailcore_app(mailcore_settings):
    from django.test.utils import override_settings

    from mailcore.adapters.django.outbox import open_django_outbox
    from mailcore.errors import ConfigurationError

    with (
        override_settings(INSTALLED_APPS=[]),
        pytest.raises(ConfigurationError, match=r"add 'mailcore.adapters.django' to INSTALLED_APPS"),
    ):
        open_django_outbox("db")


def test_mailcore_worker_command_delivers_the_committed_mail(payments, db_queue, sent):
    from django.core.management import call_command

    pay(db_queue, 5, fail=False)
    with pytest.raises(RuntimeError):
        pay(db_queue, 6, fail=True)
    call_command("mailcore_worker", "--drain", "--status-interval", "0")
    assert [m.subject for m in sent] == ["Receipt 5"]
    assert list(OutboxMessage.objects.using(db_queue).values_list("state", flat=True)) == ["sent"]


def test_mailcore_worker_command_refuses_to_start_before_migrate(db_queue):
    from django.core.management import CommandError, call_command

    connection = connections[db_queue]
    with connection.schema_editor() as editor:
        editor.delete_model(OutboxMessage)
    try:
        with pytest.raises(CommandError, match=r"has no mailcore_outbox table: run `python manage.py migrate"):
            call_command("mailcore_worker", "--drain")
    finally:
        from importlib import import_module

        events = import_module("mailcore.adapters.django.migrations.0002_delivery_events")
        with connection.schema_editor() as editor:
            editor.create_model(OutboxMessage)
            events.create_missing(None, editor)  # the trigger and index went with the dropped table


@needs_mailers
def test_mailers_queue_option(settings, database, sent):
    from django.core.management import call_command

    from mailcore.testing import clear_outboxes

    clear_outboxes()
    queue = "db" if database == "default" else f"django://{database}"
    settings.MAILERS = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://django", "queue": queue}},
    }
    with pytest.raises(RuntimeError), transaction.atomic(using=database):
        send_mail("rolled back", "x", None, ["a@example.com"])
        raise RuntimeError
    with transaction.atomic(using=database):
        send_mail("committed", "x", None, ["a@example.com"])
    assert outbox_subjects(database) == ["committed"]
    call_command("mailcore_worker", "--using", "default", "--drain", "--status-interval", "0")
    assert [m.subject for m in sent] == ["committed"]
