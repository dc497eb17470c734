"""examples/otp.py and examples/notify.py (plain Python, no Django; collected with the Django
suite because they live next to the sample project): the documented semantics hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mailcore import ConfigurationError, DeliveryFailed, InvalidMessage, Mailer
from mailcore.testing import clear_outboxes, outbox

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _clean():
    clear_outboxes()
    yield
    clear_outboxes()


def test_otp_is_sent():
    otp = load("otp")
    code = otp.send_otp("alice@example.org", Mailer("memory://otp", from_email="login@example.com"))
    (message,) = outbox("otp")
    assert len(code) == 6 and code in message.text and message.to[0].email == "alice@example.org"


def test_otp_failure_raises():
    otp = load("otp")
    mailer = Mailer("memory://otp?fail=99&error=rejected", from_email="login@example.com", retry={"attempts": 1})
    with pytest.raises(DeliveryFailed):
        otp.send_otp("alice@example.org", mailer)


def test_otp_main_reports_failure_with_exit_code(monkeypatch, capsys):
    otp = load("otp")
    monkeypatch.setenv("MAILCORE_URL", "memory://otp?fail=99&error=rejected")
    monkeypatch.setenv("MAILCORE_FROM", "login@example.com")
    assert otp.main(["otp.py", "alice@example.org"]) == 1
    assert "could not send the code" in capsys.readouterr().err


def test_otp_uses_the_bounded_retry_policy(monkeypatch):
    otp = load("otp")
    monkeypatch.setenv("MAILCORE_URL", "memory://otp")
    monkeypatch.setenv("MAILCORE_FROM", "login@example.com")
    with otp.otp_mailer() as mailer:
        otp.send_otp("a@example.org", mailer)
    assert len(outbox("otp")) == 1


def test_notification_failure_does_not_break_the_caller(caplog):
    notify = load("notify")
    mailer = Mailer("memory://n?fail=99&error=rejected", from_email="shop@example.com")
    assert notify.notify_order_received("bob@example.org", 1042, mailer) is False
    assert "confirmation not sent" in caplog.text


def test_notification_sent():
    notify = load("notify")
    assert notify.notify_order_received("bob@example.org", 7, Mailer("memory://n", from_email="shop@example.com"))
    assert outbox("n")[0].subject == "Order 7 received"


def test_notification_still_raises_configuration_and_message_errors(monkeypatch):
    notify = load("notify")
    monkeypatch.delenv("MAILCORE_URL", raising=False)
    with pytest.raises(ConfigurationError):
        notify.notify_order_received("bob@example.org", 1)
    with pytest.raises(InvalidMessage):
        notify.notify_order_received("not an address", 1, Mailer("memory://n", from_email="shop@example.com"))
