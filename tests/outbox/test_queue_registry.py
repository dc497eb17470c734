"""Queue backends as plugins: URL-scheme dispatch, lazy factories, clear errors."""

from __future__ import annotations

import pytest

from mailcore import Mailer, Message
from mailcore.errors import ConfigurationError
from mailcore.outbox import MessageQueue, OutboxStore, SQLiteOutbox, open_queue, open_store
from mailcore.outbox.queue import queue_scheme
from mailcore.plugins import get_queue_registry, reset
from mailcore.registry import QueueRegistry


@pytest.fixture
def registry():
    reset()
    yield get_queue_registry()
    reset()


def test_the_core_backends_are_registered_as_lazy_strings(registry):
    specs = {spec.scheme: spec for spec in registry.specs()}
    assert {"sqlite", "postgresql", "postgres", "django", "celery"} <= set(specs)
    assert specs["celery"].factory == "mailcore.adapters.celery:open_celery_queue"
    assert specs["postgresql"].factory == "mailcore.outbox.postgres:open_postgres_outbox"
    assert specs["django"].factory == "mailcore.adapters.django.outbox:open_django_outbox"
    assert all(spec.plugin == "mailcore" for spec in specs.values())


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        ("sqlite:///x.sqlite3", "sqlite"),
        ("/var/lib/outbox.sqlite3", "sqlite"),
        ("outbox.sqlite3", "sqlite"),
        ("postgresql://app@127.0.0.1/mail", "postgresql"),
        ("postgresql+psycopg://app@127.0.0.1/mail", "postgresql"),
        ("celery", "celery"),
        ("db", "django"),
        ("django://default", "django"),
    ],
)
def test_scheme_dispatch(registry, target, scheme):
    assert queue_scheme(target) == scheme


@pytest.mark.parametrize("target", ["bogus://x", "rabbit"])
def test_an_unknown_queue_lists_the_known_ones(registry, target):
    with pytest.raises(ConfigurationError) as err:
        queue_scheme(target)
    assert "known: celery, django" in str(err.value)


def test_sqlite_is_the_default_and_a_store(registry, outbox_url, tmp_path):
    queue = open_queue(None, outbox_url)
    assert isinstance(queue, SQLiteOutbox)
    assert isinstance(queue, OutboxStore)
    queue.close()
    path_queue = open_queue(str(tmp_path / "other.sqlite3"), None)
    assert isinstance(path_queue, SQLiteOutbox)
    path_queue.close()
    store = open_store(outbox_url, worker=True)
    assert isinstance(store, OutboxStore)
    assert store.url == outbox_url
    store.close()


def test_the_celery_queue_is_opened_through_the_registry_but_is_not_a_store(registry):
    pytest.importorskip("celery")
    queue = open_queue("celery", None)
    assert type(queue).__name__ == "CeleryQueue"
    assert isinstance(queue, MessageQueue) and not isinstance(queue, OutboxStore)
    assert type(open_queue(None, "celery")).__name__ == "CeleryQueue"  # Django's QUEUE="celery"
    with pytest.raises(ConfigurationError, match="not an outbox store"):
        open_store("celery")


def test_a_backend_whose_module_is_missing_is_a_clear_configuration_error(registry):
    registry.current_plugin = "someplugin"
    registry.add("nowhere", "mailcore_no_such_module.store:open")
    registry.current_plugin = "mailcore"
    with pytest.raises(ConfigurationError) as err:
        open_queue("nowhere://x", None)
    assert "'nowhere' queue backend" in str(err.value)
    assert "mailcore_no_such_module.store is not installed" in str(err.value)


def test_a_plugin_factory_gets_the_url_and_the_mailer_uses_its_queue(registry, tmp_path):
    seen = []

    class ListQueue:
        def __init__(self, url):
            seen.append(url)
            self.items = []

        def enqueue(self, message, *, delay=0.0, last_error=None):
            self.items.append(message)
            return f"id-{len(self.items)}"

        def close(self):
            pass

    registry.current_plugin = "listplugin"
    registry.add("listq", ListQueue, description="a list")
    registry.current_plugin = "mailcore"
    mailer = Mailer("memory://", outbox="listq://somewhere?x=1")
    assert mailer.enqueue(Message("a@example.com", ["b@example.org"], "s", text="t")) == "id-1"
    assert seen == ["listq://somewhere?x=1"]
    queue = open_queue("listq", "listq://other")  # a bare name takes the outbox URL of its scheme
    assert seen[-1] == "listq://other"
    assert isinstance(queue, MessageQueue)


def test_a_factory_returning_no_queue_is_refused(registry):
    registry.add("broken", lambda url: object())
    with pytest.raises(ConfigurationError, match="not a MessageQueue"):
        open_queue("broken://x", None)


def test_two_plugins_cannot_register_one_scheme():
    queues = QueueRegistry()
    queues.current_plugin = "a"
    queues.add("x", "a.mod:f")
    queues.current_plugin = "b"
    with pytest.raises(ConfigurationError, match="registered by both 'a' and 'b'"):
        queues.add("x", "b.mod:f")
    with pytest.raises(ConfigurationError, match="not a URL scheme"):
        queues.add("bad scheme", "b.mod:f")
    with pytest.raises(ConfigurationError, match="callable or 'module:attr'"):
        queues.add("y", "no-colon")


def test_a_non_queue_object_is_refused():
    with pytest.raises(ConfigurationError, match="enqueue"):
        open_queue(42, None)  # type: ignore[arg-type]
