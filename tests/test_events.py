"""The delivery-event model, the shared webhook checks and the verifier registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mailcore
from mailcore.errors import ConfigurationError, MailcoreError, WebhookRejected
from mailcore.events import DeliveryEvent, EventKind, WebhookVerifier, from_unix, message_id_for
from mailcore.plugins import get_webhook_registry, hookimpl
from mailcore.webhooks import MemoryReplayCache, WebhookRegistry, build_verifier, check_fresh, get_header
from mailcore.webhooks.registry import settings_from_env

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_event_defaults_message_id_from_correlation_and_is_frozen() -> None:
    event = DeliveryEvent("delivered", "sendgrid", NOW, recipient="a@example.org", correlation_id="abc@host")
    assert event.kind is EventKind.DELIVERED
    assert event.message_id == "<abc@host>"
    with pytest.raises(AttributeError):
        event.kind = EventKind.BOUNCED  # type: ignore[misc]


def test_event_converts_aware_timestamp_to_utc_and_refuses_naive() -> None:
    plus_two = datetime(2026, 11, 30, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert DeliveryEvent("opened", "x", plus_two).timestamp == NOW
    assert DeliveryEvent("opened", "x", plus_two).timestamp.tzinfo is UTC
    with pytest.raises(ValueError, match="aware datetime"):
        DeliveryEvent("opened", "x", datetime(2026, 1, 1))


def test_event_refuses_unknown_kind_and_misplaced_bounce_type() -> None:
    with pytest.raises(ValueError, match="use one of accepted"):
        DeliveryEvent("exploded", "x", NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only for kind 'bounced'"):
        DeliveryEvent("delivered", "x", NOW, bounce_type="hard")
    with pytest.raises(ValueError, match="'hard' or 'soft'"):
        DeliveryEvent("bounced", "x", NOW, bounce_type="medium")
    assert DeliveryEvent("bounced", "x", NOW, bounce_type="hard").is_hard_bounce
    assert not DeliveryEvent("bounced", "x", NOW, bounce_type="soft").is_hard_bounce


def test_event_raw_is_a_read_only_copy() -> None:
    record = {"event": "delivered"}
    event = DeliveryEvent("delivered", "x", NOW, raw=record)
    record["event"] = "changed"
    assert event.raw["event"] == "delivered"
    with pytest.raises(TypeError):
        event.raw["event"] = "x"  # type: ignore[index]


def test_from_unix_and_message_id_for() -> None:
    assert from_unix("1796040000") == NOW
    assert from_unix(1796040000.0) == NOW
    with pytest.raises(ValueError):
        from_unix("nan")
    assert message_id_for(None) is None
    assert message_id_for("<a@b>") == "<a@b>"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_from_unix_is_always_aware_utc(value: float) -> None:
    assert from_unix(value).tzinfo is UTC


def test_webhook_rejected_is_in_the_one_tree() -> None:
    error = WebhookRejected("sendgrid", "stale", "too old", status=401)
    assert isinstance(error, MailcoreError)
    assert mailcore.WebhookRejected is WebhookRejected
    assert (error.provider, error.reason, error.status) == ("sendgrid", "stale", 401)
    assert str(error) == "sendgrid webhook rejected (stale): too old"


def test_get_header_is_case_insensitive_and_reads_wsgi_environ() -> None:
    assert get_header({"x-twilio-email-event-webhook-timestamp": "1"}, "X-Twilio-Email-Event-Webhook-Timestamp") == "1"
    assert get_header({"HTTP_X_SIGNATURE": "abc"}, "X-Signature") == "abc"
    assert get_header({"X-Signature": "  "}, "X-Signature") is None
    assert get_header({}, "X-Signature") is None


def test_check_fresh_window() -> None:
    assert check_fresh("p", "1000", 60, now=1030) == 1000.0
    for value, reason in [(None, "missing_header"), ("abc", "malformed"), ("nan", "malformed"), ("900", "stale")]:
        with pytest.raises(WebhookRejected) as caught:
            check_fresh("p", value, 60, now=1000)
        assert caught.value.reason == reason
    with pytest.raises(WebhookRejected, match="in the future"):
        check_fresh("p", "1100", 60, now=1000)


def test_memory_replay_cache_remembers_until_ttl_and_is_bounded() -> None:
    clock = [0.0]
    cache = MemoryReplayCache(max_entries=2, clock=lambda: clock[0])
    assert not cache.seen_before("a", 10)
    assert cache.seen_before("a", 10)
    clock[0] = 11
    assert not cache.seen_before("a", 10)  # expired: recorded again
    assert not cache.seen_before("b", 10)
    assert not cache.seen_before("c", 10)  # evicts the oldest ("a")
    assert not cache.seen_before("a", 10)
    cache.forget("a")
    cache.forget("never-seen")
    assert not cache.seen_before("a", 10)


def test_settings_from_env() -> None:
    env = {"MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY": "k", "MAILCORE_WEBHOOK_SENDGRID_MAX_AGE": "5", "OTHER": "x"}
    assert settings_from_env("sendgrid", env) == {"public_key": "k", "max_age": "5"}


class _Echo:
    provider = "echo"

    def __init__(self, settings):
        self.settings = dict(settings)

    def verify_and_parse(self, headers, body):
        return [DeliveryEvent("unknown", self.provider, NOW, raw={"body": body.decode()})]


def test_registry_builds_verifier_and_names_missing_provider() -> None:
    registry = WebhookRegistry()
    registry.add("Echo", _Echo)
    verifier = build_verifier("echo", {"k": "v"}, registry)
    assert isinstance(verifier, WebhookVerifier)
    assert verifier.settings == {"k": "v"}  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="no webhook verifier for 'nope'; installed: echo"):
        registry.get("nope")
    registry.current_plugin = "other"
    with pytest.raises(ConfigurationError, match="registered by both"):
        registry.add("echo", _Echo)


def test_registry_reports_a_broken_import_as_configuration_error() -> None:
    registry = WebhookRegistry()
    registry.add("broken", "mailcore_does_not_exist.webhook:Factory")
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        build_verifier("broken", {}, registry)


def test_plugins_register_webhooks_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin loaded from the entry-point group fills the webhook registry, named after it."""
    import pluggy

    from mailcore import plugins

    class Plugin:
        @hookimpl
        def mailcore_register_webhooks(self, registry: WebhookRegistry) -> None:
            registry.add("echo", _Echo)

    def load(pm: pluggy.PluginManager, group: str, name: str | None = None) -> int:
        pm.register(Plugin(), name="echo-plugin")
        return 1

    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints", load)
    monkeypatch.delenv("MAILCORE_DISABLE_PLUGINS", raising=False)
    plugins.reset()
    try:
        assert get_webhook_registry().get("echo").plugin == "echo-plugin"
        assert isinstance(build_verifier("echo", {}), _Echo)
    finally:
        plugins.reset()
