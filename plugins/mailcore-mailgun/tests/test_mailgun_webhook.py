"""Mailgun webhooks: real HMAC-SHA256 signatures made here with a test signing key."""

from __future__ import annotations

import json
import secrets
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore import Message
from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import EventKind
from mailcore.plugins import get_webhook_registry
from mailcore.testing import skip_or_fail
from mailcore.testing.webhooks import post as call
from mailcore.webhooks import RedisReplayCache, build_verifier
from mailcore.webhooks.app import make_app
from mailcore_mailgun.payload import CORRELATION_VAR, build_form
from mailcore_mailgun.testing import signed_body
from mailcore_mailgun.webhook import MailgunWebhook, map_event

SIGNING_KEY = "key-test-" + "0" * 24
MESSAGE = Message("app@example.com", ["user@example.org"], "Your code", text="123456")


def event_data(event: str, **extra) -> dict:
    """A Mailgun event-data record for MESSAGE, with the v: variable mailcore sent."""
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


def post(record: dict, key: str = SIGNING_KEY, timestamp: str | None = None, token: str | None = None) -> bytes:
    return signed_body(record, key, timestamp, token)


def reason_of(verifier: MailgunWebhook, body: bytes) -> str:
    with pytest.raises(WebhookRejected) as caught:
        verifier.verify_and_parse({}, body)
    assert "user@example.org" not in str(caught.value)
    return caught.value.reason


@pytest.mark.parametrize(
    ("record", "kind", "bounce_type"),
    [
        (event_data("accepted"), EventKind.ACCEPTED, None),
        (event_data("delivered", **{"delivery-status": {"code": 250, "message": "OK"}}), EventKind.DELIVERED, None),
        (event_data("failed", severity="permanent", reason="bounce"), EventKind.BOUNCED, "hard"),
        (event_data("failed", severity="permanent", reason="suppress-bounce"), EventKind.DROPPED, None),
        (event_data("failed", severity="temporary", reason="generic"), EventKind.DEFERRED, None),
        (event_data("rejected"), EventKind.REJECTED, None),
        (event_data("complained"), EventKind.COMPLAINED, None),
        (event_data("unsubscribed"), EventKind.UNSUBSCRIBED, None),
        (event_data("opened"), EventKind.OPENED, None),
        (event_data("clicked"), EventKind.CLICKED, None),
        (event_data("stored"), EventKind.UNKNOWN, None),
    ],
)
def test_valid_request_is_accepted_and_mapped(record, kind, bounce_type) -> None:
    [event] = MailgunWebhook(SIGNING_KEY).verify_and_parse({}, post(record))
    assert (event.kind, event.bounce_type) == (kind, bounce_type)
    assert event.correlation_id == MESSAGE.correlation_id and event.message_id == MESSAGE.message_id
    assert event.provider_message_id == "<20261130120000.1.ABC@mg.example.com>"
    assert event.recipient == "user@example.org" and event.provider_event_id == record["id"]
    assert event.raw["event"] == record["event"]


def test_bounce_carries_the_receiving_server_answer() -> None:
    status = {"code": 550, "message": "5.1.1 no such user", "description": "mailbox unavailable"}
    [event] = MailgunWebhook(SIGNING_KEY).verify_and_parse(
        {}, post(event_data("failed", severity="permanent", **{"delivery-status": status}))
    )
    assert event.diagnostic == "550 5.1.1 no such user" and event.reason == "mailbox unavailable"


def test_forged_signature_is_rejected() -> None:
    body = json.loads(post(event_data("delivered")))
    body["signature"]["signature"] = "0" * 64
    assert reason_of(MailgunWebhook(SIGNING_KEY), json.dumps(body).encode()) == "bad_signature"


def test_altered_token_or_timestamp_is_rejected() -> None:
    body = json.loads(post(event_data("delivered")))
    body["signature"]["token"] = "x" + body["signature"]["token"][1:]
    assert reason_of(MailgunWebhook(SIGNING_KEY), json.dumps(body).encode()) == "bad_signature"
    body = json.loads(post(event_data("delivered")))
    body["signature"]["timestamp"] = str(int(body["signature"]["timestamp"]) - 1)
    assert reason_of(MailgunWebhook(SIGNING_KEY), json.dumps(body).encode()) == "bad_signature"


def test_wrong_key_is_rejected() -> None:
    assert reason_of(MailgunWebhook(SIGNING_KEY), post(event_data("delivered"), key="another-key")) == "bad_signature"


def test_replayed_token_is_rejected() -> None:
    verifier = MailgunWebhook(SIGNING_KEY)
    body = post(event_data("delivered"))
    assert len(verifier.verify_and_parse({}, body)) == 1
    assert reason_of(verifier, body) == "replayed"


def test_forged_request_does_not_burn_the_genuine_token() -> None:
    verifier = MailgunWebhook(SIGNING_KEY)
    token = secrets.token_hex(25)
    assert reason_of(verifier, post(event_data("delivered"), key="attacker", token=token)) == "bad_signature"
    assert len(verifier.verify_and_parse({}, post(event_data("delivered"), token=token))) == 1


def test_stale_timestamp_is_rejected_even_when_signed() -> None:
    old = str(int(time.time()) - 3600)
    assert reason_of(MailgunWebhook(SIGNING_KEY, max_age=600), post(event_data("delivered"), timestamp=old)) == "stale"


def test_malformed_requests_are_rejected() -> None:
    verifier = MailgunWebhook(SIGNING_KEY)
    assert reason_of(verifier, b"signature=abc&token=x") == "malformed"
    assert reason_of(verifier, b'{"event-data": {}}') == "missing_header"
    assert reason_of(verifier, b'{"signature": {"timestamp": 1, "token": "t", "signature": "s"}}') == "missing_header"


def test_settings_registration_and_secret_free_repr() -> None:
    assert "mailgun" in get_webhook_registry().providers()
    verifier = build_verifier("mailgun", {"signing_key": SIGNING_KEY, "max_age": "30"})
    assert isinstance(verifier, MailgunWebhook) and verifier.max_age == 30
    assert SIGNING_KEY not in repr(verifier)
    with pytest.raises(ConfigurationError, match="needs signing_key"):
        build_verifier("mailgun", {})
    with pytest.raises(ConfigurationError, match="replay must be"):
        build_verifier("mailgun", {"signing_key": SIGNING_KEY, "replay": "postgres://x"})
    with pytest.raises(ConfigurationError, match="unknown mailgun webhook setting"):
        build_verifier("mailgun", {"signing_key": SIGNING_KEY, "signingkey": "x"})


def test_replay_is_refused_across_receivers_sharing_redis() -> None:
    """Two receiver processes (two verifiers) sharing one Redis: a token used on one is refused on the other."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=13, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        skip_or_fail(f"Redis on 127.0.0.1:6379 is not reachable ({type(error).__name__})")
    prefix = f"mctest-{uuid.uuid4().hex[:8]}:"
    first = MailgunWebhook(SIGNING_KEY, replay_cache=RedisReplayCache(client, prefix))
    second = MailgunWebhook(SIGNING_KEY, replay_cache=RedisReplayCache(client, prefix))
    body = post(event_data("delivered"))
    try:
        assert len(first.verify_and_parse({}, body)) == 1
        assert reason_of(second, body) == "replayed"
        [key] = client.keys(prefix + "*")
        assert 0 < client.ttl(key) <= 2 * 600
        second.release({}, body)  # the application failed to process it: the redelivery passes
        assert len(first.verify_and_parse({}, body)) == 1
    finally:
        for key in client.keys(prefix + "*"):
            client.delete(key)


def test_replay_setting_builds_a_redis_cache() -> None:
    pytest.importorskip("redis")
    verifier = build_verifier("mailgun", {"signing_key": SIGNING_KEY, "replay": "redis://127.0.0.1:6379/13"})
    assert isinstance(verifier.replay_cache, RedisReplayCache)  # type: ignore[attr-defined]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
keys = ["event", "severity", "reason", "timestamp", "recipient", "message", "user-variables", "delivery-status", "id"]


@given(st.dictionaries(st.sampled_from(keys), json_values) | json_values)
def test_map_event_never_raises(record) -> None:
    event = map_event(record, default_time=1796040000)
    assert event.provider == "mailgun" and event.timestamp.tzinfo is not None


def test_through_the_wsgi_receiver() -> None:
    """Configured from the environment as a WSGI server would be; a replay gets 403."""
    events = []
    app = make_app(environ={"MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY": SIGNING_KEY}, dispatch=events.append)
    body = post(event_data("failed", severity="permanent", reason="bounce"))
    headers = {"Content-Type": "application/json"}
    assert call(app, "/mailgun", body, headers)[0] == 200
    assert [(e.kind, e.bounce_type, e.correlation_id) for e in events] == [
        (EventKind.BOUNCED, "hard", MESSAGE.correlation_id)
    ]
    assert call(app, "/mailgun", body, headers)[0] == 403
    assert len(events) == 1


def test_redelivery_after_a_failed_dispatch_is_not_refused_as_a_replay() -> None:
    """The application's store failed (500): Mailgun redelivers the same signed request, which must pass."""
    stored = []

    def flaky_store(event):
        if not stored:
            stored.append(None)
            raise OSError("database down")
        stored.append(event)

    app = make_app({"mailgun": {"signing_key": SIGNING_KEY}}, dispatch=flaky_store)
    body = post(event_data("delivered"))
    assert call(app, "/mailgun", body)[0] == 500
    assert call(app, "/mailgun", body)[0] == 200
    assert stored[1].kind is EventKind.DELIVERED
    assert call(app, "/mailgun", body)[0] == 403  # processed once: now a replay


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("suppress-bounce", "bounce"), ("suppress-unsubscribe", "unsubscribe"), ("suppress-complaint", "complaint")],
)
def test_a_drop_names_mailguns_own_suppression_list(reason, expected) -> None:
    event = map_event(event_data("failed", severity="permanent", reason=reason, tags=["news"]), default_time=0)
    assert (event.kind, event.suppressed_by, event.categories) == (EventKind.DROPPED, expected, ("news",))
    bounce = map_event(event_data("failed", severity="permanent", reason="bounce"), default_time=0)
    assert bounce.suppressed_by is None
