"""Secrets in broken configurations (issue 13, findings 4 and 11), through Django's eyes.

* ``manage.py check`` (mailcore.E001) never quotes a piece of a password or key;
* Django's debug page (``ExceptionReporter``), which prints every frame's local variables,
  never shows a URL given as ``Secret``, whether the error is found when the backend is created
  or when the transport is built at the first send;
* mailcore.W020 warns when EMAIL_HOST_USER/PASSWORD would be sent without TLS off loopback.
"""

from __future__ import annotations

import base64
import sys
from urllib.parse import quote

import pytest
from django.core.mail import get_connection, send_mail
from django.views.debug import ExceptionReporter

from mailcore.adapters.django.checks import check_cleartext_credentials, check_mailcore
from mailcore.redact import Secret

KEY = "Hq7Nd2Vx5RkPw9"
BAD_URLS = [
    f"smtp://alice:{KEY[:6]}){KEY[6:]}@relay.example.com:587",
    f"smtp://alice:{KEY[:6]} {KEY[6:]}@relay.example.com:587",
    f"smtp://alice:25?{KEY}@relay.example.com",
    f"smtp://alice:2024/{KEY}@relay.example.com",
    f"sendgrid://SG.{KEY}",
    f"sendgrid://?apikey=SG.{KEY}",
    f"ses://AKIA{KEY}:{KEY}x@?region=eu-west-1&endpoint_url=https://ops:{KEY}@127.0.0.1:1/",
]


def fragments(secret: str) -> set[str]:
    forms = {secret, secret.lower(), quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}
    return {form[i : i + 6] for form in forms for i in range(len(form) - 5)}


def assert_no_key(text: str) -> None:
    found = sorted(piece for piece in fragments(KEY) if piece in text)
    assert found == [], found


@pytest.mark.parametrize("url", BAD_URLS)
def test_e001_never_quotes_a_secret(mailcore_settings, url):
    mailcore_settings.MAILCORE = {"URL": url}
    messages = check_mailcore()
    for message in messages:
        assert_no_key(f"{message.msg} {message.hint}")


def debug_page(call) -> str:
    try:
        call()
    except Exception:
        exc_type, exc_value, tb = sys.exc_info()
    else:  # pragma: no cover - the configuration is broken on purpose
        pytest.fail("no error")
    reporter = ExceptionReporter(None, exc_type, exc_value, tb)
    return reporter.get_traceback_html() + reporter.get_traceback_text()


@pytest.mark.parametrize(
    "url",
    [
        f"smtp://alice:{KEY}@relay.example.com:587?apikey={KEY}",  # found by parsing, in EmailBackend()
        f"smtp://alice:{KEY}@relay.example.com:587?tls=bogus",  # found by the SMTP plugin, at first send
        f"failover(sendgrid://{KEY}@?timeout=x smtp://alice:{KEY}@relay.example.com:587)",
    ],
)
def test_debug_page_never_shows_a_secret_url(mailcore_settings, url, smtp_plugin):
    mailcore_settings.MAILCORE = {"URL": Secret(url)}
    page = debug_page(lambda: send_mail("s", "b", "a@example.com", ["b@example.com"]))
    assert "ConfigurationError" in page or "ImproperlyConfigured" in page
    assert_no_key(page)


def test_debug_page_when_the_backend_is_created(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": Secret(f"smtp://alice:{KEY}@relay.example.com:port{KEY}")}
    page = debug_page(get_connection)
    assert "the host or port is not valid" in page  # the error still says what is wrong
    assert_no_key(page)


def _email_settings(settings, **values):
    settings.EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
    if hasattr(settings, "MAILCORE"):
        del settings.MAILCORE
    base = {
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "alice",
        "EMAIL_HOST_PASSWORD": KEY,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    for name, value in {**base, **values}.items():
        setattr(settings, name, value)


def test_w020_when_django_settings_send_the_password_in_clear(settings):
    _email_settings(settings)
    (warning,) = check_cleartext_credentials()
    assert warning.id == "mailcore.W020" and "EMAIL_USE_TLS" in warning.hint
    assert_no_key(f"{warning.msg} {warning.hint}")


@pytest.mark.parametrize(
    "values",
    [
        {"EMAIL_USE_TLS": True},
        {"EMAIL_USE_SSL": True, "EMAIL_PORT": 465},
        {"EMAIL_HOST": "127.0.0.1"},
        {"EMAIL_HOST": "localhost"},
        {"EMAIL_HOST_PASSWORD": ""},  # no credentials: nothing to protect
    ],
)
def test_no_w020_with_tls_on_loopback_or_without_credentials(settings, values):
    _email_settings(settings, **values)
    assert check_cleartext_credentials() == []


def test_w020_for_an_explicit_url(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": f"smtp://alice:{KEY}@relay.example.com:25?tls=none"}
    assert [w.id for w in check_cleartext_credentials()] == ["mailcore.W020"]
    mailcore_settings.MAILCORE = {"URL": f"smtp://alice:{KEY}@relay.example.com:587"}
    assert check_cleartext_credentials() == []


def test_w020_is_registered_with_the_security_tag(mailcore_settings):
    from django.core import checks

    _email_settings(mailcore_settings)
    assert "mailcore.W020" in [m.id for m in checks.run_checks(tags=[checks.Tags.security])]
