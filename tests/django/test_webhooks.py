"""Django webhook include and the delivery_event signal, with real signatures made here.

``path("mailcore/webhooks/", include("mailcore.adapters.django.urls"))`` served by Django's test
client: SendGrid requests signed with a fresh ECDSA P-256 key, Mailgun requests with an HMAC key;
forged, altered, stale, replayed and oversized requests refused with 4xx; every accepted event
sent once as the ``delivery_event`` signal.
"""

from __future__ import annotations

import json
import sys
import time
import types
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import clear_url_caches, include, path

from mailcore import Message
from mailcore.adapters.django import signals
from mailcore.adapters.django.signals import connect_bridge, delivery_event
from mailcore.dsn import parse_dsn
from mailcore.events import EventKind
from mailcore.render import render
from mailcore.testing.dsn import Recipient, build_dsn
from mailcore.verp import verp_for
from mailcore_mailgun.payload import CORRELATION_VAR, build_form
from mailcore_mailgun.testing import signed_body
from mailcore_sendgrid.payload import build_payload
from mailcore_sendgrid.testing import key_pair, signed

MESSAGE = Message("app@example.com", ["user@example.org"], "Your code", text="123456")
MAILGUN_KEY = "key-test-" + "1" * 24
PREFIX = "/mailcore/webhooks"


@pytest.fixture(scope="module")
def sendgrid_keys():
    return key_pair()


@pytest.fixture
def webhook_urls(settings, sendgrid_keys):
    """Project URLs including mailcore's, configured for SendGrid and Mailgun with test keys."""
    _, public = sendgrid_keys
    settings.MAILCORE_WEBHOOKS = {"sendgrid": {"public_key": public}, "mailgun": {"signing_key": MAILGUN_KEY}}
    settings.MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]

    def install() -> str:
        sys.modules.pop("mailcore.adapters.django.urls", None)  # built from the settings on import
        name = f"mailcore_test_urls_{uuid.uuid4().hex}"
        module = types.ModuleType(name)
        module.urlpatterns = [path("mailcore/webhooks/", include("mailcore.adapters.django.urls"))]
        sys.modules[name] = module
        settings.ROOT_URLCONF = name
        clear_url_caches()
        return name

    name = install()
    yield install
    sys.modules.pop(name, None)
    sys.modules.pop("mailcore.adapters.django.urls", None)
    clear_url_caches()


class SignalLog:
    """The (sender, event) pairs the delivery_event signal carried; the hook runs in the event
    pipeline's background handler, so :meth:`seen` waits until it has handled what was stored."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.pairs: list = []

    def __call__(self, sender, event, **kwargs):
        self.pairs.append((sender, event))

    def seen(self) -> list:
        assert self.pipeline.wait_idle(30), "the event pipeline did not finish handling within 30 s"
        return list(self.pairs)


@pytest.fixture
def received(tmp_path):
    """Events go to a store of the test's own; the signal's receiver records what it carried."""
    from mailcore.testing.webhooks import event_store

    with event_store(tmp_path / "events.sqlite3") as pipeline:
        log = SignalLog(pipeline)
        delivery_event.connect(log, weak=False)
        yield log
        delivery_event.disconnect(log)


def client() -> Client:
    return Client(enforce_csrf_checks=True)  # no CSRF token: the views must be exempt


def sendgrid_batch() -> bytes:
    custom_args = build_payload(MESSAGE)["personalizations"][0]["custom_args"]
    common = {"email": "user@example.org", "timestamp": 1796040000, "sg_message_id": "14c5d75ce93.filter0001.1"}
    return json.dumps(
        [
            {**common, **custom_args, "event": "delivered", "sg_event_id": "e1", "response": "250 OK"},
            {**common, **custom_args, "event": "bounce", "type": "bounce", "sg_event_id": "e2", "status": "5.1.1"},
        ]
    ).encode()


def mailgun_record(event: str = "delivered", **extra) -> dict:
    sent = dict(build_form(MESSAGE).fields)
    return {
        "event": event,
        "id": uuid.uuid4().hex,
        "timestamp": 1796040000.25,
        "recipient": "user@example.org",
        "message": {"headers": {"message-id": "20261130120000.1.ABC@mg.example.com"}},
        "user-variables": {CORRELATION_VAR: sent[f"v:{CORRELATION_VAR}"]},
        **extra,
    }


def post(url: str, body: bytes, headers: dict[str, str] | None = None):
    return client().post(url, data=body, content_type="application/json", headers=headers or {})


def test_signed_sendgrid_batch_is_accepted_and_each_event_signalled_once(webhook_urls, sendgrid_keys, received):
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    response = post(f"{PREFIX}/sendgrid", body, signed(private, body))
    assert response.status_code == 200, response.content
    kinds = [(sender, event.kind, event.correlation_id) for sender, event in received.seen()]
    assert [k for _, k, _ in kinds] == [EventKind.DELIVERED, EventKind.BOUNCED]
    assert {c for _, _, c in kinds} == {MESSAGE.correlation_id}
    assert all(sender is signals.DeliveryEvent for sender, _, _ in kinds)


def test_trailing_slash_is_served_too(webhook_urls, sendgrid_keys, received):
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    assert post(f"{PREFIX}/sendgrid/", body, signed(private, body)).status_code == 200
    assert len(received.seen()) == 2


def test_bridge_registered_twice_still_signals_once(webhook_urls, sendgrid_keys, received):
    connect_bridge()
    connect_bridge()
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    assert post(f"{PREFIX}/sendgrid", body, signed(private, body)).status_code == 200
    assert len(received.seen()) == 2


@pytest.mark.parametrize("case", ["forged", "altered", "wrong_key", "stale", "unsigned"])
def test_refused_sendgrid_requests_get_4xx_and_no_signal(webhook_urls, sendgrid_keys, received, case, caplog):
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    headers = signed(private, body)
    if case == "forged":
        headers = signed(key_pair()[0], body)  # someone else's key
    elif case == "altered":
        body = body.replace(b"delivered", b"dropped__")
    elif case == "wrong_key":
        headers = signed(key_pair()[0], body, headers[next(h for h in headers if "Timestamp" in h)])
    elif case == "stale":
        headers = signed(private, body, str(int(time.time()) - 3600))
    elif case == "unsigned":
        headers = {}
    response = post(f"{PREFIX}/sendgrid", body, headers)
    assert response.status_code == (401 if case in ("stale", "unsigned") else 403)
    assert received.seen() == []
    assert "user@example.org" not in caplog.text  # refusals are logged without the body


def test_mailgun_valid_then_replayed_and_wrong_key(webhook_urls, received):
    body = signed_body(mailgun_record("failed", severity="permanent", reason="bounce"), MAILGUN_KEY)
    assert post(f"{PREFIX}/mailgun", body).status_code == 200
    assert [(e.kind, e.bounce_type) for _, e in received.seen()] == [(EventKind.BOUNCED, "hard")]
    assert post(f"{PREFIX}/mailgun", body).status_code == 403  # the same token again: a replay
    forged = signed_body(mailgun_record(), "key-not-the-right-one")
    assert post(f"{PREFIX}/mailgun", forged).status_code == 403
    stale = signed_body(mailgun_record(), MAILGUN_KEY, timestamp=str(int(time.time()) - 3600))
    assert post(f"{PREFIX}/mailgun", stale).status_code == 401
    assert len(received.seen()) == 1


def test_body_limit_method_and_unknown_provider(webhook_urls, settings, sendgrid_keys, received):
    settings.MAILCORE_WEBHOOK_MAX_BODY = 64
    webhook_urls()  # rebuild the URLconf with the new limit
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    assert len(body) > 64
    assert post(f"{PREFIX}/sendgrid", body, signed(private, body)).status_code == 413
    response = client().get(f"{PREFIX}/sendgrid")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert post(f"{PREFIX}/ses", b"{}").status_code == 404  # not configured: no path
    assert received.seen() == []


def test_body_larger_than_djangos_upload_limit_is_still_read(webhook_urls, settings, sendgrid_keys, received):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 16  # our own limit governs webhook bodies
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    assert post(f"{PREFIX}/sendgrid", body, signed(private, body)).status_code == 200
    assert len(received.seen()) == 2


def test_a_raising_receiver_does_not_fail_the_request(webhook_urls, sendgrid_keys, received, caplog):
    def broken(sender, event, **kwargs):
        raise RuntimeError("receiver bug")

    delivery_event.connect(broken, weak=False)
    try:
        private, _ = sendgrid_keys
        body = sendgrid_batch()
        assert post(f"{PREFIX}/sendgrid", body, signed(private, body)).status_code == 200
        assert len(received.seen()) == 2  # the other receiver still ran (handled in the background)
    finally:
        delivery_event.disconnect(broken)
    assert "RuntimeError" in caplog.text and "user@example.org" not in caplog.text


def test_no_webhook_configured_is_improperly_configured(settings, monkeypatch):
    settings.MAILCORE_WEBHOOKS = None
    for name in [n for n in __import__("os").environ if n.startswith("MAILCORE_WEBHOOK_")]:
        monkeypatch.delenv(name)
    sys.modules.pop("mailcore.adapters.django.urls", None)
    with pytest.raises(ImproperlyConfigured, match="no webhook configured"):
        __import__("mailcore.adapters.django.urls")
    sys.modules.pop("mailcore.adapters.django.urls", None)


def test_bad_key_fails_when_the_urlconf_loads(settings):
    settings.MAILCORE_WEBHOOKS = {"sendgrid": {"public_key": "not a key"}}
    sys.modules.pop("mailcore.adapters.django.urls", None)
    with pytest.raises(ImproperlyConfigured, match="sendgrid"):
        __import__("mailcore.adapters.django.urls")
    sys.modules.pop("mailcore.adapters.django.urls", None)


def test_an_ingested_dsn_reaches_the_signal(received):
    from mailcore.adapters.django.views import dispatch

    raw = build_dsn(render(MESSAGE), [Recipient("user@example.org")], to=verp_for("bounces@example.com", MESSAGE))
    dispatch(parse_dsn(raw))
    assert [(e.kind, e.bounce_type, e.correlation_id) for _, e in received.seen()] == [
        (EventKind.BOUNCED, "hard", MESSAGE.correlation_id)
    ]


def test_manage_py_ingest_dsn_reaches_the_signal_and_keeps_exit_codes(received, monkeypatch, tmp_path):
    from django.core.management import call_command

    from mailcore.webhooks import app as webhook_app

    raw = build_dsn(render(MESSAGE), [Recipient("user@example.org")], to=verp_for("bounces@example.com", MESSAGE))
    path = tmp_path / "bounce.eml"
    path.write_bytes(raw)
    with pytest.raises(SystemExit) as done:
        call_command("mailcore_ingest_dsn", "-q", str(path))
    assert done.value.code == 0
    assert [(e.kind, e.correlation_id) for _, e in received.seen()] == [(EventKind.BOUNCED, MESSAGE.correlation_id)]

    def down(event):
        raise ConnectionError("store down")

    monkeypatch.setattr(webhook_app, "hook_dispatch", down)
    with pytest.raises(SystemExit) as done:
        call_command("mailcore_ingest_dsn", "-q", str(path))
    assert done.value.code == 75


def test_django_and_the_wsgi_app_answer_alike(webhook_urls, settings, sendgrid_keys, received):
    """Both receivers run the same handle_request: same status and text for the same request."""
    from mailcore.testing.webhooks import post as wsgi_post
    from mailcore.webhooks.app import make_app

    wsgi = make_app(settings.MAILCORE_WEBHOOKS)
    private, _ = sendgrid_keys
    body = sendgrid_batch()
    good = signed(private, body)
    cases = [
        ("/sendgrid", body, good),
        ("/sendgrid", body, signed(key_pair()[0], body)),
        ("/sendgrid", body + b" ", good),
        ("/sendgrid", body, signed(private, body, str(int(time.time()) - 3600))),
        ("/sendgrid", body, {}),
        ("/mailgun", signed_body(mailgun_record(), MAILGUN_KEY), {}),
        ("/mailgun", b"{not json", {}),
    ]
    for path_, data, headers in cases:
        wsgi_status, wsgi_text, _ = wsgi_post(wsgi, path_, data, {**headers, "Content-Type": "application/json"})
        if path_ == "/mailgun" and wsgi_status == 200:  # its one-time token is used now: sign anew
            data = signed_body(mailgun_record(), MAILGUN_KEY)
        response = post(PREFIX + path_, data, headers)
        assert (response.status_code, response.content) == (wsgi_status, wsgi_text), path_
