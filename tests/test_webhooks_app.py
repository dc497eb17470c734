"""The WSGI webhook receiver: routing, limits, answers, logging and the delivery-event hook."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults

import pytest

from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import DeliveryEvent, EventKind, from_unix
from mailcore.plugins import get_plugin_manager, hookimpl
from mailcore.testing.webhooks import post
from mailcore.webhooks import WebhookRegistry, check_fresh, get_header
from mailcore.webhooks.app import WebhookApp, make_app
from mailcore.webhooks.pipeline import default_pipeline, reset_default_pipeline

KEY = b"test-key"
SECRET_BODY = b'[{"to": "otp-user@example.org", "code": "123456"}]'


class HmacVerifier:
    """A stand-in provider: HMAC of timestamp + body in two headers (what real plugins do, simplified)."""

    provider = "acme"

    def __init__(self, settings=None):
        self.key = (settings or {}).get("key", KEY.decode()).encode()

    def verify_and_parse(self, headers, body):
        stamp = get_header(headers, "X-Acme-Timestamp")
        check_fresh(self.provider, stamp, 60)
        expected = hmac.new(self.key, stamp.encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, get_header(headers, "X-Acme-Signature") or ""):
            raise WebhookRejected(self.provider, "bad_signature", "no match", status=403)
        return [
            DeliveryEvent(EventKind.DELIVERED, self.provider, from_unix(stamp), recipient=r["to"], raw=r)
            for r in json.loads(body)
        ]


def signed_headers(body: bytes, key: bytes = KEY) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "X-Acme-Timestamp": stamp,
        "X-Acme-Signature": hmac.new(key, stamp.encode() + body, hashlib.sha256).hexdigest(),
    }


def call(app, path="/acme", body=SECRET_BODY, headers=None, method="POST", length=True):
    return post(app, path, body, headers, method=method, send_length=length)


@pytest.fixture(autouse=True)
def _event_store(tmp_path, monkeypatch):
    """Events go to a throwaway outbox file (the default dispatch stores them there)."""
    monkeypatch.setenv("MAILCORE_OUTBOX", f"sqlite:///{tmp_path / 'events.sqlite3'}")
    reset_default_pipeline()
    yield
    reset_default_pipeline()


def handled() -> None:
    """Wait for the background handler to have run the hook for everything stored."""
    assert default_pipeline().wait_idle(30)


@pytest.fixture
def received():
    """Events reaching the mailcore_delivery_event hook, through a registered observer."""
    events: list[DeliveryEvent] = []

    class Observer:
        @hookimpl
        def mailcore_delivery_event(self, event):
            events.append(event)

    get_plugin_manager().register(Observer(), name="test-delivery-observer")
    yield events
    get_plugin_manager().unregister(name="test-delivery-observer")


def test_valid_request_is_dispatched_to_the_hook(received) -> None:
    status, answer, _ = call(WebhookApp({"acme": HmacVerifier()}), headers=signed_headers(SECRET_BODY))
    assert (status, answer) == (200, b"ok\n")
    handled()
    assert [e.recipient for e in received] == ["otp-user@example.org"]


def test_forged_request_gets_403_and_is_logged_without_the_body(received, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="mailcore")
    headers = signed_headers(SECRET_BODY, key=b"attacker")
    status, answer, _ = call(WebhookApp({"acme": HmacVerifier()}), headers=headers)
    assert (status, answer) == (403, b"rejected: bad_signature\n")
    assert received == []
    assert "acme webhook refused (bad_signature) from 127.0.0.1" in caplog.text
    for secret in ("otp-user", "123456", headers["X-Acme-Signature"]):
        assert secret not in caplog.text


def test_stale_request_gets_401(received) -> None:
    body = SECRET_BODY
    stamp = str(int(time.time()) - 3600)
    headers = {
        "X-Acme-Timestamp": stamp,
        "X-Acme-Signature": hmac.new(KEY, stamp.encode() + body, hashlib.sha256).hexdigest(),
    }
    assert call(WebhookApp({"acme": HmacVerifier()}), headers=headers)[0] == 401
    assert received == []


def test_routing_method_and_size_limits() -> None:
    app = WebhookApp({"acme": HmacVerifier()}, max_body=10)
    assert call(app, path="/other")[0] == 404
    status, _, headers = call(WebhookApp({"acme": HmacVerifier()}), method="GET")
    assert (status, headers["Allow"]) == (405, "POST")
    assert call(app)[0] == 413
    assert call(app, body=b"[]", length=False)[0] == 411


def test_oversized_body_is_refused_without_reading_it() -> None:
    class Unreadable(io.RawIOBase):
        def read(self, size=-1):
            raise AssertionError("the body was read")

    app = WebhookApp({"acme": HmacVerifier()}, max_body=10)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/acme", "CONTENT_LENGTH": "1000000", "wsgi.input": Unreadable()}
    setup_testing_defaults(environ)
    statuses = []
    app(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["413 Content Too Large"]


def test_verifier_crash_and_dispatch_failure_get_500_so_the_provider_redelivers(caplog) -> None:
    class Broken:
        provider = "broken"

        def verify_and_parse(self, headers, body):
            raise KeyError("otp-user@example.org")

    assert call(WebhookApp({"broken": Broken()}), path="/broken")[0] == 500
    assert "otp-user" not in caplog.text

    def failing_store(event):
        raise OSError("database down")

    app = WebhookApp({"acme": HmacVerifier()}, dispatch=failing_store)
    assert call(app, headers=signed_headers(SECRET_BODY))[0] == 500


def test_a_raising_observer_does_not_fail_the_request(received) -> None:
    class Raising:
        @hookimpl
        def mailcore_delivery_event(self, event):
            raise RuntimeError("observer bug")

    get_plugin_manager().register(Raising(), name="test-raising-observer")
    try:
        assert call(WebhookApp({"acme": HmacVerifier()}), headers=signed_headers(SECRET_BODY))[0] == 200
        handled()
    finally:
        get_plugin_manager().unregister(name="test-raising-observer")
    assert len(received) == 1


def test_make_app_from_config_and_environment() -> None:
    registry = WebhookRegistry()
    registry.add("acme", HmacVerifier)
    app = make_app({"acme": {"key": "k2"}}, registry=registry)
    assert call(app, headers=signed_headers(SECRET_BODY, key=b"k2"))[0] == 200
    app = make_app(registry=registry, environ={"MAILCORE_WEBHOOK_ACME_KEY": "k3"})
    assert call(app, headers=signed_headers(SECRET_BODY, key=b"k3"))[0] == 200
    with pytest.raises(ConfigurationError, match="no webhook configured"):
        make_app(registry=registry, environ={})
    with pytest.raises(ConfigurationError, match="at least one provider"):
        WebhookApp({})


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_over_http_on_loopback(received) -> None:
    """A real HTTP POST to the app served by wsgiref on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, WebhookApp({"acme": HmacVerifier()}), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/acme"
    try:
        request = urllib.request.Request(url, data=SECRET_BODY, headers=signed_headers(SECRET_BODY), method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        forged = urllib.request.Request(url, data=SECRET_BODY, headers=signed_headers(b"other"), method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(forged, timeout=10)
        assert caught.value.code == 403
    finally:
        server.shutdown()
        server.server_close()
    handled()
    assert [e.recipient for e in received] == ["otp-user@example.org"]


def test_events_are_stored_before_the_answer_and_a_refusing_store_gets_500(tmp_path) -> None:
    from mailcore.outbox import events as stored_events
    from mailcore.webhooks.pipeline import EventPipeline

    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    broken = EventPipeline(url)
    broken.outbox.close()  # the database refuses every write
    assert call(WebhookApp({"acme": HmacVerifier()}, pipeline=broken), headers=signed_headers(SECRET_BODY))[0] == 500
    pipeline = EventPipeline(url)  # not started: the answer must not depend on handling
    app = WebhookApp({"acme": HmacVerifier()}, pipeline=pipeline)
    headers = signed_headers(SECRET_BODY)
    assert call(app, headers=headers)[0] == 200
    assert stored_events.pending_count(pipeline.outbox) == 1
    assert call(app, headers=headers)[0] == 200  # redelivered as it was: stored once
    assert stored_events.pending_count(pipeline.outbox) == 1
    pipeline.close()


def test_event_store_helper_routes_the_default_dispatch(tmp_path, received) -> None:
    from mailcore.outbox import events as stored_events
    from mailcore.testing.webhooks import event_store
    from mailcore.webhooks.app import hook_dispatch

    with event_store(tmp_path / "helper.sqlite3") as pipeline:
        hook_dispatch(DeliveryEvent(EventKind.COMPLAINED, "acme", from_unix(1796040000), recipient="a@example.org"))
        assert pipeline.wait_idle(30)
        assert [e.kind for e in stored_events.events_for(pipeline.outbox, recipient="a@example.org")] == ["complained"]
    assert [e.kind for e in received] == [EventKind.COMPLAINED]


def test_the_default_dispatch_stores_into_the_outbox_url_once_on_every_store(store_url, monkeypatch, received) -> None:
    """``MAILCORE_OUTBOX`` names a SQLite file or a PostgreSQL database: the receiver stores the
    event there before its 2xx (a redelivery stored once) and the background handler runs the hook."""
    from mailcore.outbox import events as stored_events

    monkeypatch.setenv("MAILCORE_OUTBOX", store_url)
    reset_default_pipeline()
    app = WebhookApp({"acme": HmacVerifier()})
    headers = signed_headers(SECRET_BODY)
    assert call(app, headers=headers)[0] == 200
    assert call(app, headers=headers)[0] == 200  # redelivered as it was
    handled()
    outbox = default_pipeline().outbox
    assert outbox.url.split(":", 1)[0] == store_url.split(":", 1)[0]
    [event] = stored_events.events_for(outbox, recipient="otp-user@example.org")
    assert event.handled_at is not None and json.loads(event.raw) == json.loads(SECRET_BODY)[0]
    assert [e.recipient for e in received] == ["otp-user@example.org"]
