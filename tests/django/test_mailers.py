"""Django 6.1+ MAILERS: several aliases, each with its own policy; errors reported as Django does."""

from __future__ import annotations

import pytest
from conftest import BACKEND, needs_mailers
from django.core import mail
from django.core.mail import EmailMessage
from django.test import override_settings

from mailcore import DeliveryFailed
from mailcore.testing import clear_outboxes, outbox

pytestmark = needs_mailers

MAILERS = {
    "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://primary"}},
    "bulk": {
        "BACKEND": BACKEND,
        "OPTIONS": {
            "url": "failover(memory://down?fail=99&error=connection memory://bulk)",
            "from_email": "news@example.org",
            "retry": {"attempts": 1},
        },
    },
    "alerts": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://alerts?fail=99&error=rejected", "fail_silently": True}},
}


def create(mailers, alias):
    with override_settings(MAILERS=mailers):
        return mail.mailers[alias]


@pytest.fixture(autouse=True)
def _clean():
    clear_outboxes()
    yield
    clear_outboxes()


@override_settings(MAILERS=MAILERS)
def test_default_alias_and_named_aliases():
    assert mail.send_mail("to default", "b", None, ["a@example.com"]) == 1
    assert mail.send_mail("to bulk", "b", None, ["a@example.com"], using="bulk") == 1
    assert [m.subject for m in outbox("primary")] == ["to default"]
    (bulk,) = outbox("bulk")
    assert bulk.subject == "to bulk" and bulk.from_email.email == "news@example.org"


@override_settings(MAILERS=MAILERS)
def test_each_alias_has_its_own_fail_silently():
    assert EmailMessage("s", "b", None, ["a@example.com"]).send(using="alerts") == 0
    with (
        override_settings(
            MAILERS={**MAILERS, "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://x?fail=9&error=rejected"}}}
        ),
        pytest.raises(DeliveryFailed),
    ):
        EmailMessage("s", "b", None, ["a@example.com"]).send()


@override_settings(MAILERS=MAILERS)
def test_mailers_instance_is_our_backend_with_alias():
    backend = mail.mailers["bulk"]
    assert backend.alias == "bulk"
    with backend:
        assert backend.send_messages([EmailMessage("x", "b", None, ["a@example.com"])]) == 1


def test_unknown_option_reported_exactly_as_django_reports_it():
    ours = {"default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://", "bogus": 1, "Nope": 2}}}
    djangos = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "h", "bogus": 1, "Nope": 2},
        }
    }
    with override_settings(MAILERS=djangos), pytest.raises(mail.InvalidMailer) as theirs:
        mail.mailers["default"]
    with override_settings(MAILERS=ours), pytest.raises(mail.InvalidMailer) as mine:
        mail.mailers["default"]
    assert str(mine.value) == str(theirs.value) == "MAILERS['default']: Unknown options 'bogus', 'Nope'."


def test_upper_case_option_is_unknown_in_options():
    with pytest.raises(mail.InvalidMailer, match="Unknown options 'URL'"):
        create({"default": {"BACKEND": BACKEND, "OPTIONS": {"URL": "memory://"}}}, "default")


def test_missing_url_and_host_is_reported_like_django():
    with pytest.raises(mail.InvalidMailer, match=r"^MAILERS\['default'\]: OPTIONS must define 'url'"):
        create({"default": {"BACKEND": BACKEND, "OPTIONS": {}}}, "default")


def test_option_errors_are_worded_like_djangos_smtp_backend():
    options = {"host": "127.0.0.1", "use_tls": True, "use_ssl": True}
    djangos = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}}
    with override_settings(MAILERS=djangos), pytest.raises(mail.InvalidMailer) as theirs:
        mail.mailers["default"]
    with pytest.raises(mail.InvalidMailer) as mine:
        create({"default": {"BACKEND": BACKEND, "OPTIONS": options}}, "default")
    assert str(mine.value) == str(theirs.value)
    with pytest.raises(mail.InvalidMailer, match=r"^MAILERS\['default'\]: 'queue' must be"):
        create({"default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://", "queue": "redis"}}}, "default")


def test_bad_url_names_the_alias():
    with pytest.raises(mail.InvalidMailer, match=r"MAILERS\['x'\].*closing"):
        create({"x": {"BACKEND": BACKEND, "OPTIONS": {"url": "roundrobin(memory://a"}}}, "x")


def test_smtp_style_options_build_an_smtp_url():
    config = {"BACKEND": BACKEND, "OPTIONS": {"host": "127.0.0.1", "port": 2525, "username": "u", "password": "p w"}}
    with override_settings(MAILERS={"default": config}):
        backend = mail.mailers["default"]
    assert backend.url.reveal() == "smtp://u:p%20w@127.0.0.1:2525?tls=none"


def test_deprecated_fail_silently_kwarg_with_mailers():
    config = {"default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://x?fail=9&error=rejected"}}}
    with override_settings(MAILERS=config), pytest.warns(PendingDeprecationWarning, match="fail_silently"):
        assert mail.send_mail("s", "b", None, ["a@example.com"], fail_silently=True) == 0
