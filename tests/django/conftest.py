"""Django test settings, configured in-process so `pytest tests/django` needs nothing else.

Run by the nox ``django`` session only (the core sessions do not install Django):

    pytest tests/django -p pytest_django
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import django
import pytest
from django.conf import settings

from mailcore.policy.state import clear_shared_stores
from mailcore.testing import clear_outboxes, outbox, skip_or_fail

HAS_MAILERS = django.VERSION >= (6, 1)
BACKEND = "mailcore.adapters.django.EmailBackend"
ADMINS = ["admin@example.com"] if django.VERSION >= (6, 0) else [("Admin", "admin@example.com")]

needs_mailers = pytest.mark.skipif(not HAS_MAILERS, reason="MAILERS exists from Django 6.1 on")

# -- databases: SQLite always, PostgreSQL (127.0.0.1:5432, trust auth) when it answers ----------

PG_HOST = os.environ.get("MAILCORE_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MAILCORE_PG_PORT", "5432"))
PG_USER = os.environ.get("MAILCORE_PG_USER", "postgres")
#: Why PostgreSQL cannot be used here (None: it can). Checked once, at import.
PG_MISSING: str | None = None


def _probe_postgres() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    try:
        psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as {PG_USER}: {error}"
    return None


PG_MISSING = _probe_postgres()


def pg_settings(name: str = "postgres") -> dict:
    """A DATABASES entry for the local PostgreSQL; tests run in a uniquely named database."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "HOST": PG_HOST,
        "PORT": PG_PORT,
        "USER": PG_USER,
        "TEST": {"NAME": f"mailcore_django_test_{uuid.uuid4().hex[:12]}", "DEPENDENCIES": []},
    }


def database_params() -> list:
    """``sqlite`` and ``postgresql`` params: a test taking the ``database`` fixture runs on both,
    in real transactions (``transaction=True``), and the PostgreSQL run skips (fails under
    MAILCORE_REQUIRE_SERVICES=1) when the server is down."""
    pg_marks = [] if PG_MISSING else [pytest.mark.django_db(databases=["pg"], transaction=True)]
    return [
        pytest.param("default", marks=pytest.mark.django_db(transaction=True), id="sqlite"),
        pytest.param("pg", marks=pg_marks, id="postgresql"),
    ]


@pytest.fixture(params=database_params())
def database(request) -> str:
    """The DATABASES alias a test runs on (see :func:`database_params`)."""
    if request.param == "pg" and PG_MISSING:
        skip_or_fail(PG_MISSING)
    return request.param


def pytest_configure(config: pytest.Config) -> None:
    # Django 6.1 deprecates EMAIL_* settings; these tests use them on purpose (the fallback).
    config.addinivalue_line("filterwarnings", r"ignore:The EMAIL_\w+ setting is deprecated")
    config.addinivalue_line("filterwarnings", r"ignore:The 'fail_silently' argument is deprecated")
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="tests-only-not-secret",
            INSTALLED_APPS=[
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
                "django.contrib.staticfiles",
                "mailcore.adapters.django",
            ],
            # Tests that touch the database ask for it (pytest-django's django_db / live_server).
            DATABASES={
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
                **({} if PG_MISSING else {"pg": pg_settings()}),
            },
            # The admin (tests/django/test_admin*.py): its site, sessions and templates.
            ROOT_URLCONF="admin_urls",
            MIDDLEWARE=[
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
            ],
            TEMPLATES=[
                {
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True,
                    "OPTIONS": {
                        "context_processors": [
                            "django.template.context_processors.request",
                            "django.contrib.auth.context_processors.auth",
                            "django.contrib.messages.context_processors.messages",
                        ]
                    },
                }
            ],
            STATIC_URL="/static/",
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast logins in tests
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
            DEFAULT_FROM_EMAIL="webmaster@example.com",
            SERVER_EMAIL="server@example.com",
            ADMINS=ADMINS,
            MANAGERS=ADMINS,
            USE_TZ=True,
        )
        django.setup()


@pytest.fixture
def mailcore_settings(settings):
    """EMAIL_BACKEND = mailcore (Django's test setup swaps in locmem), MAILCORE → memory://django."""
    clear_outboxes()
    clear_shared_stores()  # breakers live across requests (and tests) in memory://django.<alias>
    settings.EMAIL_BACKEND = BACKEND
    settings.MAILCORE = {"URL": "memory://django"}
    yield settings
    clear_outboxes()
    clear_shared_stores()


@pytest.fixture
def sent() -> list:
    """What memory://django received."""
    return outbox("django")


# -- a real SMTP peer --------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SMTPSink:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    peers: list[object] = field(default_factory=list)  # the client (host, port) of each message

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self.lock:
            self.peers.append(session.peer)
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    """aiosmtpd on 127.0.0.1, plaintext, no AUTH: what Django's default EMAIL_* settings talk to."""
    from aiosmtpd.controller import Controller

    sink = SMTPSink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_plugin() -> None:
    """The real path needs mailcore-smtp, which the django nox sessions install with every plugin:
    a missing or broken plugin fails the test (UnknownTransport names the pip install)."""
    from mailcore.plugins import get_registry

    get_registry().get("smtp").load()


# -- a real browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium under Selenium (tests/django/browser.py), one per test module;
    cookies are cleared between tests. Skips without chromium, fails so under CI."""
    from browser import chromium

    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def page(browser):
    """The module's browser with no cookies: every test starts logged out."""
    browser.delete_all_cookies()
    yield browser
    browser.delete_all_cookies()
