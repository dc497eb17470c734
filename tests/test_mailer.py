import asyncio

import pytest

import mailcore
from mailcore import ConfigurationError, DeliveryFailed, Mailer, Message, send_mail
from mailcore.errors import MessageRejected, SendError
from mailcore.testing import outbox
from mailcore.transports.memory import MemoryTransport


def msg(**kw):
    return Message("app@example.com", ["user@example.org"], "Code", text="123456", **kw)


def test_send_through_memory(mail_outbox):
    result = Mailer("memory://").send(m := msg())
    assert mail_outbox == [m]
    assert result.transport == "memory://default" and result.provider_message_id == "default-1"
    assert result.message_id == m.message_id


def test_failover_keeps_the_same_message_id_and_lists_attempts():
    mailer = Mailer("failover(memory://a?fail=1&error=rejected memory://b)")
    result = mailer.send(m := msg())
    assert [a.transport for a in result.attempts] == ["memory://a", "memory://b"]
    assert result.failed_over
    assert outbox("b")[0].message_id == m.message_id


def test_every_failure_surfaces_as_delivery_failed_with_attempts():
    with pytest.raises(DeliveryFailed) as caught:
        Mailer("memory://x?fail=1&error=message").send(msg())
    assert isinstance(caught.value.last_error, MessageRejected)
    assert caught.value.outcome == "failed"


def test_ambiguous_timeout_is_reported_as_unknown():
    with pytest.raises(DeliveryFailed) as caught:
        Mailer("failover(memory://a?fail=1&error=ambiguous memory://b)").send(msg())
    assert caught.value.outcome == "unknown"
    assert outbox("b") == []


def test_list_of_transports_is_combined():
    primary = MemoryTransport("p", errors=[mailcore.TransportRejected("bad key")])
    result = Mailer([primary, "memory://q"]).send(msg())
    assert result.transport == "memory://q"


def test_asend_follows_the_same_policy():
    result = asyncio.run(Mailer("failover(memory://a?fail=1&error=rejected memory://b)").asend(msg()))
    assert result.transport == "memory://b"


def test_send_many_keeps_going_after_a_failure():
    transport = MemoryTransport("m", errors=[None, MessageRejected("spam")])
    results = Mailer(transport).send_many([msg(), msg(), msg()])
    assert [type(r).__name__ for r in results] == ["SendResult", "DeliveryFailed", "SendResult"]
    assert transport.closed


def test_from_env_requires_a_url():
    with pytest.raises(ConfigurationError, match="MAILCORE_URL"):
        Mailer.from_env({})
    mailer = Mailer.from_env({"MAILCORE_URL": "memory://", "MAILCORE_FROM": "app@example.com"})
    assert mailer.from_email == "app@example.com"


def test_unknown_scheme_names_installed_ones():
    with pytest.raises(mailcore.UnknownTransport) as caught:
        Mailer("nosuch://SECRETKEY@")
    text = str(caught.value)
    assert "memory" in text and "mailcore plugins" in text
    assert "SECRETKEY" not in text


def test_known_but_missing_plugin_names_the_install():
    from mailcore.registry import TransportRegistry

    with pytest.raises(mailcore.UnknownTransport, match=r"pip install 'steadymail\[sendgrid\]'"):
        TransportRegistry().get("sendgrid")


def test_send_mail_helper(monkeypatch):
    monkeypatch.setenv("MAILCORE_URL", "memory://")
    monkeypatch.setenv("MAILCORE_FROM", "app@example.com")
    assert send_mail("Subject", "Body", None, ["u@example.org"]) == 1
    assert outbox()[0].subject == "Subject"


def test_send_mail_fail_silently_swallows_send_errors_only(monkeypatch):
    monkeypatch.setenv("MAILCORE_URL", "memory://?fail=5")
    assert send_mail("s", "b", "a@example.com", ["u@example.org"], fail_silently=True) == 0
    with pytest.raises(SendError):
        send_mail("s", "b", "a@example.com", ["u@example.org"])
    monkeypatch.setenv("MAILCORE_URL", "nope://")
    with pytest.raises(ConfigurationError):
        send_mail("s", "b", "a@example.com", ["u@example.org"], fail_silently=True)


def test_observer_exceptions_never_break_a_send(fresh_plugins, caplog):
    from mailcore import plugins

    class Observer:
        @mailcore.hookimpl
        def mailcore_message_sent(self, message, result):
            raise RuntimeError("observer bug")

    plugins.get_plugin_manager().register(Observer(), name="observer")
    assert Mailer("memory://").send(msg()).transport == "memory://default"
    assert "observer bug" in caplog.text


def test_observers_see_failed_attempts_and_failures(fresh_plugins):
    from mailcore import plugins

    seen = []

    class Observer:
        @mailcore.hookimpl
        def mailcore_attempt_failed(self, message, attempt):
            seen.append(("attempt", attempt.transport))

        @mailcore.hookimpl
        def mailcore_message_failed(self, message, error):
            seen.append(("failed", error.outcome))

    plugins.get_plugin_manager().register(Observer(), name="observer")
    with pytest.raises(DeliveryFailed):
        Mailer("memory://x?fail=9&error=rejected").send(msg())
    assert ("failed", "failed") in seen and ("attempt", "memory://x") in seen


def test_an_earlier_ambiguous_attempt_keeps_the_outcome_unknown():
    """Opting into on_ambiguous="retry": a later definite refusal does not make it "failed"."""
    with pytest.raises(DeliveryFailed) as caught:
        Mailer(
            "failover(memory://a?fail=1&error=ambiguous memory://b?fail=1&error=rejected)",
            on_ambiguous="retry",
            retry=None,
        ).send(msg())
    assert [type(a.error).__name__ for a in caught.value.attempts] == ["SendTimeout", "TransportRejected"]
    assert caught.value.outcome == "unknown"


def test_send_mail_fail_silently_logs_one_warning_line_without_a_traceback(monkeypatch, caplog):
    import logging

    monkeypatch.setenv("MAILCORE_URL", "memory://quiet?fail=9&error=rejected")
    with caplog.at_level(logging.DEBUG, logger="mailcore"):
        assert send_mail("s", "b", "a@example.com", ["u@example.org"], fail_silently=True) == 0
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in loud] == ["WARNING"], [r.getMessage() for r in loud]
    assert loud[0].exc_info is None and "not sent (fail_silently)" in loud[0].getMessage()
    assert loud[0].getMessage().count("memory://quiet") == 1
