"""DjangoOutbox (``django://``): the outbox store on Django's database, on SQLite and PostgreSQL.

Every test runs twice (the ``database`` fixture): on SQLite and on a uniquely named PostgreSQL
test database, in real transactions. Lifetimes (priority with aging, expiry, idempotency) follow
issue 18's contract, as the SQLite and PostgreSQL stores do.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import PG_HOST, PG_PORT, PG_USER, database_params
from django.db import connections, transaction

from mailcore import Message
from mailcore.adapters.django.models import IdempotencyKey, OutboxMessage
from mailcore.adapters.django.outbox import DjangoOutbox, DjangoStorageError, open_django_outbox
from mailcore.errors import ConfigurationError
from mailcore.outbox.retention import Retention, recipient_digest


def message(n: int = 0, **fields) -> Message:
    return Message(
        from_email="shop@example.com", to=[f"user{n}@example.com"], subject=f"receipt {n}", text=f"body {n}", **fields
    )


@pytest.fixture
def store(database) -> DjangoOutbox:
    return DjangoOutbox(database)


def row(store: DjangoOutbox, id: str) -> OutboxMessage:
    return OutboxMessage.objects.using(store.using).get(id=id)


def test_enqueue_claim_and_mark_sent_drop_the_content(store):
    id = store.enqueue(message(1))
    assert store.counts()["queued"] == 1
    (claim,) = store.claim("w1", limit=10, lease=60)
    assert claim.id == id and claim.runs == 1
    assert claim.message().subject == "receipt 1"
    assert store.claim("w2", limit=10, lease=60) == []  # leased
    store.mark_sent(id, transport="smtp", provider_message_id="p-1")
    stored = row(store, id)
    assert (stored.state, stored.transport, stored.provider_message_id) == ("sent", "smtp", "p-1")
    assert stored.payload == "" and stored.subject == ""
    assert stored.recipients == recipient_digest("user1@example.com")
    entry = store.find(id[:8])
    assert entry.state == "sent" and not entry.has_body


def test_columns_match_the_shared_table(store):
    """The contract's columns, so mailcore's PostgreSQL store can drain the same table."""
    with connections[store.using].cursor() as cursor:
        columns = [
            c.name for c in connections[store.using].introspection.get_table_description(cursor, "mailcore_outbox")
        ]
        keys = [
            c.name for c in connections[store.using].introspection.get_table_description(cursor, "mailcore_idempotency")
        ]
    assert columns == [
        "id", "message_id", "state", "payload", "sender", "recipients", "subject", "runs", "created_at",
        "updated_at", "age_from", "due_at", "lease_owner", "last_error", "transport", "provider_message_id",
        "priority", "expires_at", "idempotency_key",
    ]  # fmt: skip
    assert keys == ["key", "outbox_id", "created_at"]


def test_enqueue_rolls_back_with_the_callers_transaction(store):
    with pytest.raises(RuntimeError), transaction.atomic(using=store.using):
        store.enqueue(message(1))
        raise RuntimeError("payment failed")
    with transaction.atomic(using=store.using):
        kept = store.enqueue(message(2))
    assert [e.id for e in store.entries()] == [kept]


def test_lease_renew_release_and_reschedule(store):
    id = store.enqueue(message())
    assert [c.id for c in store.claim("w1", limit=1, lease=0.2)] == [id]
    assert store.renew("w1", [id], 60) == [id]
    assert store.renew("w2", [id], 60) == []
    store.release("w1", [id])
    stored = row(store, id)
    assert (stored.state, stored.runs, stored.lease_owner) == ("queued", 0, None)
    assert [c.id for c in store.claim("w1", limit=1, lease=60)] == [id]
    store.reschedule("w2", id, 0, "not mine")  # another worker's write is ignored
    assert row(store, id).state == "sending"
    store.reschedule("w1", id, 3600, "421 try later")
    stored = row(store, id)
    assert stored.state == "queued" and stored.last_error == "421 try later" and stored.due_at > time.time() + 3000
    assert store.claim("w1", limit=1, lease=60) == []
    assert store.next_due() == pytest.approx(stored.due_at)


def test_expired_lease_is_claimed_again(store):
    id = store.enqueue(message())
    store.claim("dead", limit=1, lease=0.1)
    time.sleep(0.2)
    (claim,) = store.claim("w2", limit=1, lease=60)
    assert claim.id == id and claim.runs == 2
    store.mark_failed("dead", id, "late")  # the dead worker lost its lease: ignored
    assert row(store, id).state == "sending"
    store.mark_failed("w2", id, "550 no such user")
    assert row(store, id).state == "failed"


def test_priority_order_with_aging(store):
    low_old = store.enqueue(message(1, priority="low"))
    normal = store.enqueue(message(2))
    high = store.enqueue(message(3, priority="high"))
    low_new = store.enqueue(message(4, priority="low"))
    # the old low message has waited 11 minutes: more than two priority steps of 300 s
    OutboxMessage.objects.using(store.using).filter(id=low_old).update(due_at=time.time() - 660)
    order = [c.id for c in store.claim("w", limit=10, lease=60)]
    assert order == [low_old, high, normal, low_new]


def test_aging_from_the_url(database):
    """``?aging=0``: the priority no longer outweighs waiting time, the due time alone orders."""
    high = DjangoOutbox(database).enqueue(message(1, priority="high"))
    low = DjangoOutbox(database).enqueue(message(2, priority="low"))
    OutboxMessage.objects.using(database).filter(id=low).update(due_at=time.time() - 1)
    assert [c.id for c in open_django_outbox(f"django://{database}?aging=0").claim("w", limit=9, lease=60)] == [
        low,
        high,
    ]
    OutboxMessage.objects.using(database).update(state="queued", due_at=time.time() - 1)
    OutboxMessage.objects.using(database).filter(id=low).update(due_at=time.time() - 2)
    assert [c.id for c in DjangoOutbox(database).claim("w", limit=9, lease=60)] == [high, low]


def test_expired_message_is_never_claimed(store):
    fresh = store.enqueue(message(1, expires=timedelta(minutes=10)))
    stale = store.enqueue(message(2, expires=timedelta(seconds=1)))
    when = datetime.now(UTC) - timedelta(seconds=5)
    OutboxMessage.objects.using(store.using).filter(id=stale).update(expires_at=when.timestamp())
    assert [c.id for c in store.claim("w", limit=10, lease=60)] == [fresh]
    stored = row(store, stale)
    assert stored.state == "expired" and stored.last_error.startswith("expired at ")
    assert stored.last_error.endswith("before delivery")
    assert store.counts()["expired"] == 1
    assert store.retry(ids=[stale]) == 0  # an expired OTP is not sent late
    assert store.purge(state="expired") == 1


def test_idempotency_key_returns_the_first_id(store):
    first = store.enqueue(message(1, idempotency_key="order-42"))
    again = store.enqueue(message(2, idempotency_key="order-42"))
    other = store.enqueue(message(3, idempotency_key="order-43"))
    assert again == first and other != first
    assert OutboxMessage.objects.using(store.using).count() == 2
    a, b = store.enqueue_many([message(4, idempotency_key="k"), message(5, idempotency_key="k")])
    assert a == b and store.enqueue(message(6, idempotency_key="k")) == a
    assert OutboxMessage.objects.using(store.using).count() == 3


def test_idempotency_key_of_a_rolled_back_message_is_free_again(store):
    with pytest.raises(RuntimeError), transaction.atomic(using=store.using):
        store.enqueue(message(1, idempotency_key="pay-7"))
        raise RuntimeError
    assert not IdempotencyKey.objects.using(store.using).exists()
    id = store.enqueue(message(2, idempotency_key="pay-7"))
    assert row(store, id).subject == "receipt 2"


def test_idempotency_window(database):
    store = DjangoOutbox(database, idempotency_window=60)
    first = store.enqueue(message(1, idempotency_key="k"))
    IdempotencyKey.objects.using(database).filter(key="k").update(created_at=time.time() - 61)
    second = store.enqueue(message(2, idempotency_key="k"))
    assert second != first
    assert store.enqueue(message(3, idempotency_key="k")) == second
    IdempotencyKey.objects.using(database).filter(key="k").update(created_at=time.time() - 61)
    store.enforce_retention()
    assert not IdempotencyKey.objects.using(database).exists()


def test_retry_purge_and_message(store):
    id = store.enqueue(message())
    store.claim("w", limit=1, lease=60)
    store.mark_unknown("w", id, "timeout after DATA")
    assert store.message(id).subject == "receipt 0"
    with pytest.raises(ValueError, match="only queued, failed, unknown"):
        store.retry(state="sent")
    assert store.retry(state="unknown") == 1
    entry = store.find(id)
    assert entry.state == "queued" and entry.has_body
    assert store.purge(state="queued") == 1
    with pytest.raises(KeyError):
        store.find(id)
    with pytest.raises(ValueError, match="unknown state"):
        store.purge(state="gone")


def test_retention_drops_content_and_deletes_rows(database):
    store = DjangoOutbox(database, retention=Retention(sent_body=None, failed_body=3600, metadata=7200))
    sent, failed = store.enqueue(message(1)), store.enqueue(message(2))
    store.claim("w", limit=2, lease=60)
    store.mark_sent(sent, transport="smtp", provider_message_id=None)
    store.mark_failed("w", failed, "550")
    assert row(store, sent).payload  # sent_body=None: kept
    now = time.time()
    assert store.enforce_retention(now=now + 3601) == (1, 0)
    assert row(store, failed).recipients == recipient_digest("user2@example.com")
    assert store.enforce_retention(now=now + 7201) == (0, 2)
    assert store.counts() == dict.fromkeys(store.counts(), 0)


def test_find_by_message_id_and_entries_by_state(store):
    m = message(1)
    id = store.enqueue(m)
    store.enqueue(message(2))
    assert store.find(m.message_id).id == id
    assert store.find(m.message_id.strip("<>")).id == id
    assert len(store.entries()) == 2 and len(store.entries(state="sent")) == 0
    assert store.oldest_due() is not None


def test_concurrent_workers_claim_disjoint_rows(store):
    """PostgreSQL: SKIP LOCKED; SQLite: conditional updates under its write lock."""
    ids = set(store.enqueue_many([message(n) for n in range(40)]))
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(name: str) -> None:
        try:
            start.wait()
            mine = claimed.setdefault(name, [])
            while batch := _claim_retrying(store, name):
                mine.extend(c.id for c in batch)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every = [id for mine in claimed.values() for id in mine]
    assert sorted(every) == sorted(ids)  # each row claimed exactly once


def _claim_retrying(store: DjangoOutbox, owner: str):
    """A claim, retried as the worker retries storage errors (SQLite: "database table is
    locked" under four writers), for up to a generous minute on a loaded machine."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return store.claim(owner, limit=3, lease=60)
        except DjangoStorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_open_django_outbox_urls(database):
    assert open_django_outbox(f"django://{database}").using == database
    assert open_django_outbox("db").using == "default"
    assert open_django_outbox("django://?keep_metadata=90d").retention.metadata == 90 * 86400
    with pytest.raises(ConfigurationError, match="no DATABASES alias 'nope'"):
        open_django_outbox("django://nope")
    with pytest.raises(ConfigurationError, match="unknown outbox URL parameter 'keep_forever'"):
        open_django_outbox("django://?keep_forever=1")
    with pytest.raises(ConfigurationError, match="alias in the host part"):
        open_django_outbox("django:///var/db")


@pytest.mark.parametrize("database", [p for p in database_params() if p.id == "postgresql"], indirect=True)
def test_a_dropped_connection_is_a_storage_error_then_reconnected(database):
    """The worker retries OSErrors: a database restart costs one failed call, not the worker."""
    store = DjangoOutbox(database)
    store.enqueue(message())
    connection = connections[database]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,))  # waits until it is gone
        gone = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        assert gone == (0,)
    with pytest.raises(DjangoStorageError, match="the outbox database django://pg") as raised:
        store.claim("w", limit=1, lease=60)
    assert isinstance(raised.value, OSError)
    assert [c.runs for c in store.claim("w", limit=1, lease=60)] == [1]  # reconnected


def test_the_queue_registry_opens_it(database):
    """``django`` is a registered queue scheme; ``db`` its alias (MAILCORE["QUEUE"] = "db")."""
    from mailcore.outbox.api import OutboxStore
    from mailcore.outbox.queue import open_queue, open_store

    assert isinstance(open_queue("db"), DjangoOutbox) and open_queue("db").using == "default"
    store = open_store(f"django://{database}", worker=True)
    assert isinstance(store, DjangoOutbox) and isinstance(store, OutboxStore)
    assert store.using == database
    assert open_queue(None, f"django://{database}").using == database


def test_entries_carry_priority_and_expiry(store):
    store.enqueue(message(1, priority="low", expires=timedelta(minutes=5)))
    (entry,) = store.entries()
    assert entry.priority == "low" and entry.expires_at == pytest.approx(time.time() + 300, abs=30)


@pytest.mark.parametrize("database", [p for p in database_params() if p.id == "postgresql"], indirect=True)
def test_concurrent_enqueues_with_one_key_store_one_row(database):
    """Two requests with one key in overlapping transactions: the second waits for the first's
    commit on the key's row, then returns the first id and stores nothing."""
    store = DjangoOutbox(database)
    first_inserted = threading.Event()
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic(using=database):
                results["first"] = store.enqueue(message(1, idempotency_key="pay-9"))
                first_inserted.set()
                time.sleep(0.5)  # the second request now waits on this transaction's key
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_inserted.wait(30)
            results["second"] = store.enqueue(message(2, idempotency_key="pay-9"))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert results["second"] == results["first"]
    assert list(OutboxMessage.objects.using(database).values_list("subject", flat=True)) == ["receipt 1"]


def test_the_migration_matches_the_models():
    """A model change without its migration fails here, not in a user's `migrate`."""
    from django.apps import apps
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(graph=loader.graph)
    assert changes == {}
