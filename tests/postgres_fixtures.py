"""PostgreSQL fixtures shared by the core tests and tests/outbox (imported by tests/conftest.py).

Each test session gets a database of its own (``mailcore_test_<uuid>``, dropped at the end), so
parallel runs (xdist workers, other people on the same server) never meet; ``pg_url`` empties
mailcore's tables before each test. Without psycopg or a server the tests skip with the reason,
and fail under ``CI=true`` / ``MAILCORE_REQUIRE_SERVICES=1`` (:func:`mailcore.testing.skip_or_fail`).
"""

from __future__ import annotations

import os
import uuid

import pytest

from mailcore.testing import skip_or_fail

#: The server the PostgreSQL tests use (trust auth, a role allowed to create databases).
PG_SERVER = os.environ.get("MAILCORE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
#: mailcore's tables, emptied between tests (those that exist: a test may have made an older schema).
PG_TABLES = ("mailcore_outbox", "mailcore_idempotency", "mailcore_delivery_events", "mailcore_suppressions")


def _pg_admin(dbname="postgres"):
    try:
        import psycopg
    except ImportError:
        skip_or_fail("psycopg is not installed (pip install 'steadymail[postgresql]')")
    try:
        return psycopg.connect(f"{PG_SERVER}/{dbname}", autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        skip_or_fail(f"PostgreSQL at {PG_SERVER} is not reachable ({type(error).__name__}: {error})")


def pg_connect(url):
    """A plain psycopg connection to the test database ``url`` (for looking behind the store)."""
    return _pg_admin(url.rsplit("/", 1)[1])


def _new_database():
    name = f"mailcore_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name):
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database():
    """A database of its own for this test session, dropped at the end."""
    name = _new_database()
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _drop_database(name)


@pytest.fixture
def pg_url(pg_database):
    """The session's database with mailcore's tables emptied (created by the first store opened)."""
    tables = ", ".join(f"'{table}'" for table in PG_TABLES)
    with pg_connect(pg_database) as conn:
        conn.execute(
            "DO $$ DECLARE t text; BEGIN "
            f"FOREACH t IN ARRAY ARRAY[{tables}] LOOP "
            "IF to_regclass(t) IS NOT NULL THEN EXECUTE 'TRUNCATE ' || quote_ident(t); END IF; "
            "END LOOP; END $$"
        )
    return pg_database


@pytest.fixture
def pg_fresh_database():
    """An empty database of its own for one test (schema and migration tests)."""
    name = _new_database()
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        _drop_database(name)


#: ``params`` for a fixture that runs a test once per store that keeps events (PostgreSQL: a service).
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.service)]


@pytest.fixture(params=STORES)
def store_url(request, tmp_path):
    """The URL of an empty outbox, once per store (SQLite file, PostgreSQL database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    return request.getfixturevalue("pg_url")
