"""configure_broker and enqueue_failure: what mailcore sets per broker and how publish errors read."""

from __future__ import annotations

import pytest
from amqp.exceptions import MessageNacked
from celery import Celery
from hypothesis import given
from hypothesis import strategies as st
from kombu.exceptions import OperationalError

from mailcore.adapters.celery.broker import (
    DEFAULT_CONFIRM_TIMEOUT,
    broker_kind,
    broker_settings,
    configure_broker,
    enqueue_failure,
)
from mailcore.errors import ConfigurationError, EnqueueFailed


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("amqp://guest:guest@127.0.0.1:5672//", "rabbitmq"),
        ("amqps://u:p@rabbit.internal/mail", "rabbitmq"),
        ("pyamqp://127.0.0.1//", "rabbitmq"),
        ("amqp://a//;amqp://b//", "rabbitmq"),
        (None, "rabbitmq"),  # Celery's default broker
        ("redis://127.0.0.1:6379/0", "redis"),
        ("rediss://:secret@redis.internal:6380/1", "redis"),
        ("sqs://", "other"),
        ("memory://", "other"),
    ],
)
def test_broker_kind(url, kind):
    assert broker_kind(url) == kind


def test_rabbitmq_gets_confirms_persistence_acks_late_and_prefetch_1():
    settings = broker_settings("amqp://guest:guest@127.0.0.1:5672//")
    assert settings["broker_transport_options"]["confirm_publish"] is True
    assert settings["task_default_delivery_mode"] == "persistent"
    assert settings["task_acks_late"] is True and settings["task_reject_on_worker_lost"] is True
    assert settings["worker_prefetch_multiplier"] == 1
    assert settings["mailcore_confirm_timeout"] == DEFAULT_CONFIRM_TIMEOUT
    assert "task_default_queue_type" not in settings


def test_quorum_makes_every_declared_queue_a_quorum_queue_on_a_topic_exchange():
    settings = broker_settings("amqp://127.0.0.1//", quorum=True)
    assert settings["task_default_queue_type"] == settings["task_create_missing_queue_type"] == "quorum"
    assert settings["task_create_missing_queue_exchange_type"] == "topic"


def test_quorum_on_redis_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="quorum queues are a RabbitMQ feature"):
        broker_settings("redis://127.0.0.1:6379/0", quorum=True)


def test_redis_keeps_the_settings_the_ready_made_app_always_had():
    assert broker_settings("redis://127.0.0.1:6379/0") == {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": 3600},
    }


def test_configure_broker_keeps_what_the_app_set_and_merges_transport_options():
    app = Celery("mine", broker="amqp://127.0.0.1//")
    app.conf.update(worker_prefetch_multiplier=4, broker_transport_options={"confirm_publish": False, "x": 1})
    applied = configure_broker(app)
    assert app.conf.worker_prefetch_multiplier == 4 and "worker_prefetch_multiplier" not in applied
    assert app.conf.broker_transport_options["confirm_publish"] is False  # the user's choice wins
    assert app.conf.broker_transport_options["x"] == 1
    assert app.conf.broker_transport_options["read_timeout"] == DEFAULT_CONFIRM_TIMEOUT
    assert app.conf.task_acks_late is True


def test_configure_broker_on_a_redis_app():
    app = Celery("mine", broker="redis://127.0.0.1:6379/3")
    configure_broker(app)
    assert app.conf.broker_transport_options == {"visibility_timeout": 3600}
    assert app.conf.get("mailcore_confirm_timeout") is None


def _raised(outer, cause):
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as error:
        return error


@pytest.mark.parametrize(
    ("cause", "maybe_stored", "text"),
    [
        (MessageNacked(), False, "refused the task"),
        (ConnectionRefusedError(111, "Connection refused"), False, "refused the connection"),
        (TimeoutError("timed out"), True, "did not confirm the task in time"),
        (ConnectionResetError(104, "Connection reset by peer"), True, "Connection reset by peer"),
    ],
)
def test_enqueue_failure_classifies_the_cause(cause, maybe_stored, text):
    error = _raised(OperationalError("amqp://guest:s3cret@rabbit.internal//"), cause)
    failure = enqueue_failure(error, "mail")
    assert isinstance(failure, EnqueueFailed)
    assert failure.maybe_stored is maybe_stored and failure.queue == "mail"
    assert text in str(failure) and "Celery queue 'mail'" in str(failure)
    assert ("NOT stored" in str(failure)) is (not maybe_stored)
    assert "s3cret" not in str(failure)  # the broker URL (and its password) never reaches the text


def test_quorum_makes_the_mail_queue_the_default_queue_unless_the_app_chose_one():
    app = Celery("q", broker="amqp://127.0.0.1//")
    app.conf.mailcore_queue = "mail"
    configure_broker(app, quorum=True)
    assert app.conf.task_default_queue == "mail"
    chosen = Celery("q2", broker="amqp://127.0.0.1//")
    chosen.conf.task_default_queue = "default"
    configure_broker(chosen, quorum=True)
    assert chosen.conf.task_default_queue == "default"


@given(st.text(max_size=80))
def test_broker_kind_classifies_any_text_without_raising(url):
    assert broker_kind(url) in {"rabbitmq", "redis", "other"}


@given(st.sampled_from(["amqp", "AMQP", "amqps", "pyamqp", "redis", "rediss", "sqs"]), st.text(max_size=40))
def test_broker_kind_follows_the_scheme(scheme, rest):
    url = f"{scheme}://{rest}"
    expected = {"amqp": "rabbitmq", "amqps": "rabbitmq", "pyamqp": "rabbitmq", "redis": "redis", "rediss": "redis"}
    assert broker_kind(url) == expected.get(scheme.lower(), "other")
