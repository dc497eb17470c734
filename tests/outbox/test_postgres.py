"""What only the PostgreSQL outbox has: the versioned schema and its migration, SKIP LOCKED
claims, a table made by Django's migration, reconnects, bounded waits, the masked password,
and priority, expiry and idempotency in SQL. Runs against the local server (tests skip with
a reason without it, and fail under MAILCORE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from conftest import pg_connect

from mailcore import ConfigurationError, Message
from mailcore.cli import cli
from mailcore.events import DeliveryEvent
from mailcore.outbox.events import events_for, store_events
from mailcore.outbox.postgres import SCHEMA_VERSION, PostgresOutbox, PostgresStorageError, open_postgres_outbox
from mailcore.outbox.retention import recipient_digest
from mailcore.testing.outbox_contract import OutboxStoreContract

pytestmark = pytest.mark.service


def make(n=0, **fields):
    fields.setdefault("text", "Your code is SECRET-123456")
    return Message("app@example.com", [f"user{n}@example.org"], f"subject {n}", **fields)


@pytest.fixture
def box(pg_url):
    with open_postgres_outbox(pg_url) as outbox:
        yield outbox


def backend_pid(store):
    return store._connection().info.backend_pid


def terminate(url, pid):
    with pg_connect(url) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


# -- schema ----------------------------------------------------------------------------------------


def test_migration_from_an_empty_database_then_again(pg_fresh_database):
    with pytest.raises(ConfigurationError, match="mailcore outbox migrate"):
        PostgresOutbox(pg_fresh_database, migrate=False)  # an inspecting command never creates
    with open_postgres_outbox(pg_fresh_database) as box:
        assert box.schema_version() == SCHEMA_VERSION
        assert box.migrate() == (SCHEMA_VERSION, SCHEMA_VERSION)  # a rerun changes nothing
        box.enqueue(make())
    with pg_connect(pg_fresh_database) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'mailcore_outbox'")
        }
        versions = conn.execute("SELECT version FROM mailcore_schema").fetchall()
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'mailcore_%'")}
    assert {"mailcore_outbox_claim", "mailcore_outbox_due", "mailcore_outbox_state"} <= indexes
    assert versions == [(SCHEMA_VERSION,)]
    assert tables == {
        "mailcore_outbox",
        "mailcore_idempotency",
        "mailcore_schema",
        "mailcore_delivery_events",
        "mailcore_suppressions",
    }
    with PostgresOutbox(pg_fresh_database, migrate=False) as again:
        assert again.counts()["queued"] == 1


def _version_1(url):
    """A database as mailcore with schema version 1 left it (before delivery events)."""
    from mailcore.outbox.postgres import MIGRATIONS

    with pg_connect(url) as conn:
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("CREATE TABLE mailcore_schema (version integer NOT NULL)")
        conn.execute("INSERT INTO mailcore_schema (version) VALUES (1)")


def test_a_version_1_database_upgrades_through_outbox_migrate(pg_fresh_database):
    """Rows written under version 1 stay; version 2 adds the event tables; the inspecting
    commands ask for the migration first, the event commands then work."""
    _version_1(pg_fresh_database)
    message = make(3)
    now = time.time()
    with pg_connect(pg_fresh_database) as conn:
        conn.execute(
            "INSERT INTO mailcore_outbox (id, message_id, state, payload, sender, recipients, subject, runs, "
            "created_at, updated_at, age_from, due_at, priority) "
            "VALUES ('v1row', %s, 'queued', %s, 'app@example.com', 'user3@example.org', 's', 0, %s, %s, %s, %s, 1)",
            (message.message_id, json.dumps(message.to_dict()), now, now, now, now),
        )
    runner = CliRunner()
    stale = runner.invoke(cli, ["suppressions", "list", "--outbox", pg_fresh_database])
    assert (
        stale.exit_code == 1 and "outbox schema version 1" in stale.output and "mailcore outbox migrate" in stale.output
    )
    migrated = runner.invoke(cli, ["outbox", "migrate", "--outbox", pg_fresh_database], catch_exceptions=False)
    assert migrated.exit_code == 0 and f"migrated from schema version 1 to {SCHEMA_VERSION}" in migrated.output
    with pg_connect(pg_fresh_database) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'mailcore_%'")}
        triggers = {row[0] for row in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert {"mailcore_delivery_events", "mailcore_suppressions"} <= tables
    assert triggers == {"mailcore_outbox_delete_events"}
    with PostgresOutbox(pg_fresh_database, migrate=False) as box:
        assert box.find("v1row").message_id == message.message_id
    added = runner.invoke(cli, ["suppressions", "add", "--outbox", pg_fresh_database, "gone@example.org"])
    assert added.exit_code == 0 and "1 added" in added.output


def test_workers_starting_together_migrate_once(pg_fresh_database):
    errors, stores = [], []
    barrier = threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            stores.append(open_postgres_outbox(pg_fresh_database))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(stores) == 4
    assert {store.schema_version() for store in stores} == {SCHEMA_VERSION}
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused(pg_url):
    open_postgres_outbox(pg_url).close()
    with pg_connect(pg_url) as conn:
        conn.execute("UPDATE mailcore_schema SET version = 99")
    try:
        with pytest.raises(ConfigurationError, match=r"schema version 99.*Upgrade mailcore"):
            open_postgres_outbox(pg_url)
    finally:
        with pg_connect(pg_url) as conn:
            conn.execute("UPDATE mailcore_schema SET version = %s", (SCHEMA_VERSION,))


DJANGO_TABLE = """
CREATE TABLE mailcore_outbox (
    id varchar(32) NOT NULL PRIMARY KEY, message_id varchar(998) NOT NULL, state varchar(16) NOT NULL,
    payload text NOT NULL, sender varchar(320) NOT NULL, recipients text NOT NULL, subject text NOT NULL,
    runs integer NOT NULL, created_at double precision NOT NULL, updated_at double precision NOT NULL,
    age_from double precision NOT NULL, due_at double precision NOT NULL, lease_owner varchar(200) NULL,
    last_error text NULL, transport varchar(200) NULL, provider_message_id varchar(998) NULL,
    priority smallint NOT NULL, expires_at double precision NULL, idempotency_key varchar(200) NULL
);
CREATE TABLE mailcore_idempotency (key varchar(200) NOT NULL PRIMARY KEY, outbox_id varchar(32) NOT NULL,
    created_at double precision NOT NULL);
"""


def test_a_table_made_by_djangos_migration_is_adopted_and_drained(pg_fresh_database):
    """Columns as the contract names them, types as Django writes them (varchar, no defaults);
    the event tables are added beside it and follow its rows."""
    message = make(7, priority="high")
    now = time.time()
    with pg_connect(pg_fresh_database) as conn:
        conn.execute(DJANGO_TABLE)
        conn.execute(
            "INSERT INTO mailcore_outbox VALUES (%s, %s, 'queued', %s, %s, %s, %s, 0, %s, %s, %s, %s, "
            "NULL, NULL, NULL, NULL, 0, NULL, NULL)",
            ("d" * 32, message.message_id, json.dumps(message.to_dict()), "app@example.com", "user7@example.org",
             message.subject, now, now, now, now),
        )  # fmt: skip
    with open_postgres_outbox(pg_fresh_database) as box:
        assert box.schema_version() == SCHEMA_VERSION
        [claim] = box.claim("w", limit=5, lease=60)
        assert claim.id == "d" * 32 and claim.message() == message
        box.mark_sent(claim.id, transport="t", provider_message_id=None)
        assert box.find(claim.id).state == "sent"
        second = box.enqueue(make(8, idempotency_key="order-8"))  # defaults the table lacks are given
        assert box.enqueue(make(9, idempotency_key="order-8")) == second
        event = DeliveryEvent("delivered", "acme", datetime.now(UTC), correlation_id=message.correlation_id)
        assert store_events(box, [event]) == 1
        assert [e.outbox_id for e in events_for(box, message_id=message.message_id)] == ["d" * 32]
        assert box.purge(state="sent") == 1
        assert events_for(box, message_id=message.message_id) == []
    with pg_connect(pg_fresh_database) as conn:  # Django's test flush empties the table with TRUNCATE
        conn.execute("TRUNCATE mailcore_outbox")


def test_the_claim_query_can_use_its_index(box, pg_url):
    box.enqueue_many([make(i) for i in range(50)])
    with pg_connect(pg_url) as conn:
        conn.execute("ANALYZE mailcore_outbox")
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT id FROM mailcore_outbox WHERE state IN ('queued', 'sending') AND due_at <= 1e12 "
                "ORDER BY (due_at + priority * 300.0) LIMIT 20 FOR UPDATE SKIP LOCKED"
            )
        )
    assert "mailcore_outbox_claim" in plan, plan


# -- claims ----------------------------------------------------------------------------------------


def test_claim_skips_rows_another_transaction_holds(box, pg_url):
    """FOR UPDATE SKIP LOCKED: a worker never waits for rows another worker is claiming."""
    ids = box.enqueue_many([make(i) for i in range(6)])
    with pg_connect(pg_url) as other:
        other.autocommit = False
        other.execute("SELECT id FROM mailcore_outbox WHERE id = ANY(%s) FOR UPDATE", (ids[:3],))
        claimed = [c.id for c in box.claim("w1", limit=10, lease=60)]  # lock_timeout would fail a wait
        other.rollback()
    assert claimed == ids[3:]
    assert [c.id for c in box.claim("w2", limit=10, lease=60)] == ids[:3]


def test_four_workers_claiming_at_once_never_share_a_row(box, pg_url):
    ids = set(box.enqueue_many([make(i) for i in range(1200)]))
    claimed = {f"w{n}": [] for n in range(4)}
    barrier = threading.Barrier(4)

    def work(owner):
        with open_postgres_outbox(pg_url, synchronous="NORMAL") as own:
            barrier.wait()
            while batch := own.claim(owner, limit=25, lease=60):
                claimed[owner] += [c.id for c in batch]

    threads = [threading.Thread(target=work, args=(owner,)) for owner in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    every = [row for rows in claimed.values() for row in rows]
    assert len(every) == len(ids) and set(every) == ids
    assert sum(1 for rows in claimed.values() if rows) >= 2


def test_priority_order_with_aging(box):
    low_waiting = box.enqueue(make(1, priority="low"), delay=-700)  # due 700 s ago: aged past high
    normal = box.enqueue(make(2))
    high = box.enqueue(make(3, priority="high"))
    low = box.enqueue(make(4, priority="low"))
    assert [c.id for c in box.claim("w", limit=10, lease=60)] == [low_waiting, high, normal, low]


def test_a_message_claimed_after_it_expired_is_never_handed_out(box):
    gone = box.enqueue(make(1, expires=datetime.now(UTC) - timedelta(seconds=1)))
    alive = box.enqueue(make(2, expires=timedelta(minutes=10)))
    assert [c.id for c in box.claim("w", limit=10, lease=60)] == [alive]
    entry = box.find(gone)
    assert entry.state == "expired" and entry.lease_owner is None
    assert entry.last_error.startswith("expired at ") and entry.last_error.endswith("before delivery")
    assert box.counts()["expired"] == 1
    assert box.retry(ids=[gone]) == 0  # expired is finished, not retried by default


def test_idempotency_key_returns_the_first_id_within_the_window(box, pg_url):
    first = box.enqueue(make(1, idempotency_key="receipt-42"))
    assert box.enqueue(make(2, idempotency_key="receipt-42")) == first
    pair = box.enqueue_many([make(3, idempotency_key="receipt-43"), make(4, idempotency_key="receipt-43")])
    assert pair[0] == pair[1] and pair[0] != first
    assert box.counts()["queued"] == 2
    with pg_connect(pg_url) as conn:  # the window (24 h) passes
        conn.execute("UPDATE mailcore_idempotency SET created_at = created_at - 86401 WHERE key = 'receipt-42'")
    assert box.enqueue(make(5, idempotency_key="receipt-42")) != first
    assert box.enforce_retention() == (0, 0)
    with pg_connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM mailcore_idempotency").fetchone()[0] == 2  # 43 and the new 42


def test_concurrent_enqueues_of_one_key_store_one_message(box, pg_url):
    ids, barrier = [], threading.Barrier(4)

    def produce(n):
        with open_postgres_outbox(pg_url) as own:
            barrier.wait()
            ids.append(own.enqueue(make(n, idempotency_key="web-request-7")))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(ids) == 4 and len(set(ids)) == 1
    assert box.counts()["queued"] == 1


@pytest.mark.parametrize(
    "recipients",
    [["User1@Example.org", "cc@example.org"], ["jörg@example.org", "Ærø@bücher.example"]],
    ids=["ascii", "international"],
)
def test_sent_content_is_dropped_in_the_same_statement(box, pg_url, recipients):
    """Digests as recipient_digest() computes them: in SQL for ASCII, in Python otherwise."""
    message = Message("app@example.com", recipients, "code", text="SECRET-123456")
    entry_id = box.enqueue(message)
    box.claim("w", limit=1, lease=60)
    box.mark_sent(entry_id, transport="t", provider_message_id="p")
    box.mark_sent(entry_id, transport="t", provider_message_id="p")  # again: nothing changes
    with pg_connect(pg_url) as conn:
        payload, subject, stored, state = conn.execute(
            "SELECT payload, subject, recipients, state FROM mailcore_outbox WHERE id = %s", (entry_id,)
        ).fetchone()
    assert (payload, subject, state) == ("", "", "sent")
    assert stored == ",".join(recipient_digest(address.email) for address in message.recipients)


# -- connections, waits, secrets -------------------------------------------------------------------


def test_a_terminated_connection_is_replaced_without_an_error(box, pg_url):
    box.enqueue(make(1))
    terminate(pg_url, backend_pid(box))
    assert box.counts()["queued"] == 1  # a read: run again on a new connection
    terminate(pg_url, backend_pid(box))
    second = box.enqueue(make(2))  # a write that failed before its COMMIT: run again
    assert box.find(second).state == "queued"
    assert box.counts()["queued"] == 2  # stored once


def test_a_lock_wait_is_bounded_by_lock_timeout(pg_url):
    with open_postgres_outbox(pg_url + "?lock_timeout=1") as box:
        entry_id = box.enqueue(make())
        with pg_connect(pg_url) as other:
            other.autocommit = False
            other.execute("SELECT id FROM mailcore_outbox WHERE id = %s FOR UPDATE", (entry_id,))
            with pytest.raises(PostgresStorageError, match="lock timeout"):
                box.mark_sent(entry_id, transport="t", provider_message_id=None)
            other.rollback()
        assert isinstance(PostgresStorageError("x"), OSError)  # the worker retries it like a locked file
        box.mark_sent(entry_id, transport="t", provider_message_id=None)


def test_a_statement_is_bounded_by_statement_timeout(pg_url):
    with open_postgres_outbox(pg_url + "?statement_timeout=1") as box:
        with pytest.raises(PostgresStorageError, match="statement timeout"):
            box._run(lambda cur: cur.execute("SELECT pg_sleep(5)"), write=False)
        assert box.counts()["queued"] == 0  # the connection is still usable


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_is_bounded_by_connect_timeout():
    """A socket that accepts TCP connections and never speaks: libpq gives up after connect_timeout."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        with pytest.raises(PostgresStorageError, match="cannot connect") as caught:
            PostgresOutbox(f"postgresql://mailcore:hunter2-Secret@127.0.0.1:{port}/app?connect_timeout=2")
        assert "hunter2" not in str(caught.value)
    finally:
        silent.close()


def test_the_password_never_shows(pg_url):
    url = "postgresql://mailcore:hunter2-Secret@127.0.0.1:1/app?connect_timeout=2"
    with pytest.raises(PostgresStorageError) as caught:
        PostgresOutbox(url)
    assert "hunter2" not in str(caught.value) and "mailcore:***@127.0.0.1:1/app" in str(caught.value)
    with open_postgres_outbox(pg_url.replace("postgres@", "postgres:hunter2-Secret@")) as box:  # trust auth
        assert "hunter2" not in repr(box) + box.url
        assert "postgres:***@" in box.url


def test_bad_urls_are_configuration_errors(pg_url):
    with pytest.raises(ConfigurationError, match="unknown PostgreSQL outbox URL parameter 'sslmod'"):
        PostgresOutbox(pg_url + "?sslmod=require")
    with pytest.raises(ConfigurationError, match="statement_timeout"):
        PostgresOutbox(pg_url + "?statement_timeout=0")
    with pytest.raises(ConfigurationError, match="keep_metadata"):
        PostgresOutbox(pg_url + "?keep_metadata=soon")


def test_psycopg_missing_is_a_clear_configuration_error(monkeypatch, pg_url):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r"steadymail\[postgresql\]"):
        PostgresOutbox(pg_url)


# -- command line ----------------------------------------------------------------------------------


def test_outbox_migrate_creates_then_reports_up_to_date(pg_fresh_database, tmp_path):
    runner = CliRunner()
    url = pg_fresh_database.replace("postgres@", "postgres:hunter2-Secret@")  # trust auth ignores it
    missing = runner.invoke(cli, ["outbox", "stats", "--outbox", url])
    assert missing.exit_code == 1 and "mailcore outbox migrate" in missing.output
    assert "hunter2" not in missing.output
    first = runner.invoke(cli, ["outbox", "migrate", "--outbox", url], catch_exceptions=False)
    assert first.exit_code == 0 and f"created, schema version {SCHEMA_VERSION}" in first.output
    again = runner.invoke(cli, ["outbox", "migrate", "--outbox", url], catch_exceptions=False)
    assert again.exit_code == 0 and "up to date" in again.output and "hunter2" not in again.output
    stats = runner.invoke(cli, ["outbox", "stats", "--outbox", url, "--json"], catch_exceptions=False)
    assert json.loads(stats.output)["counts"]["queued"] == 0
    sqlite_url = f"sqlite:///{tmp_path / 'o.sqlite3'}"
    created = runner.invoke(cli, ["outbox", "migrate", "--outbox", sqlite_url], catch_exceptions=False)
    assert created.exit_code == 0 and "created, schema version" in created.output
    assert "up to date" in runner.invoke(cli, ["outbox", "migrate", "--outbox", sqlite_url]).output


def test_outbox_commands_on_postgresql(box, pg_url):
    entry_id = box.enqueue(make(1))
    runner = CliRunner()
    listed = runner.invoke(cli, ["outbox", "list", "--outbox", pg_url, "--json"], catch_exceptions=False)
    assert [row["id"] for row in json.loads(listed.output)] == [entry_id]
    shown = runner.invoke(cli, ["outbox", "show", "--outbox", pg_url, entry_id[:10]], catch_exceptions=False)
    assert "user1@example.org" in shown.output and "SECRET-123456" not in shown.output


def test_worker_state_changes_do_not_wait_for_the_wal_flush_unless_asked(pg_url, monkeypatch):
    """synchronous=normal (default): the session commits asynchronously, and producer and
    operator writes open their transaction with SET LOCAL synchronous_commit = on;
    ?synchronous=full makes every commit wait."""
    show = "SHOW synchronous_commit"
    with open_postgres_outbox(pg_url) as box:
        assert box._run(lambda cur: cur.execute(show).fetchone(), write=False) == ("off",)
        assert box._run(lambda cur: cur.execute(show).fetchone(), durable=True) == ("on",)
        assert box._run(lambda cur: cur.execute(show).fetchone()) == ("off",)  # LOCAL: that transaction only
        durable = []
        run = box._run
        monkeypatch.setattr(
            box, "_run", lambda work, **kw: (durable.append(kw.get("durable", False)), run(work, **kw))[1]
        )
        entry_id = box.enqueue(make())
        box.retry(ids=[entry_id])
        box.purge(state="sent")
        [claim] = box.claim("w", limit=1, lease=60)
        box.mark_failed("w", claim.id, "no")
        assert durable == [True, True, True, False, False]
    with open_postgres_outbox(pg_url + "?synchronous=full") as box:
        assert box._run(lambda cur: cur.execute(show).fetchone(), write=False) == ("on",)
    with pytest.raises(ConfigurationError, match="synchronous"):
        PostgresOutbox(pg_url + "?synchronous=extra")


# -- the shared store contract (mailcore.testing.outbox_contract) ------------------------------------


class TestPostgresStoreContract(OutboxStoreContract):
    """Every inherited test of the contract, on the PostgreSQL store."""

    @pytest.fixture
    def store(self, pg_url):
        with open_postgres_outbox(pg_url) as store:
            yield store
