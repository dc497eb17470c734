"""Option parsing and the EMAIL_* → smtp:// URL mapping (pure)."""

from __future__ import annotations

import pytest

from mailcore.adapters.django.options import OptionError, UnknownOptions, read_options, smtp_url
from mailcore.config import parse


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"host": "localhost"}, "smtp://localhost:25?tls=none"),
        ({"host": "smtp.example.com", "port": 587, "use_tls": True}, "smtp://smtp.example.com:587?tls=starttls"),
        ({"host": "smtp.example.com", "use_tls": True}, "smtp://smtp.example.com:587?tls=starttls"),
        ({"host": "smtp.example.com", "use_ssl": True}, "smtps://smtp.example.com:465"),
        ({"host": "::1", "port": 2525}, "smtp://[::1]:2525?tls=none"),
        ({"host": " smtp.example.com\n", "port": "2525"}, "smtp://smtp.example.com:2525?tls=none"),
        ({"host": "h.example.com", "timeout": 10}, "smtp://h.example.com:25?tls=none&timeout=10"),
        ({"host": "h.example.com", "timeout": 2.5}, "smtp://h.example.com:25?tls=none&timeout=2.5"),
        (
            {"host": "h.example.com", "use_ssl": True, "ssl_certfile": "/etc/c.pem", "ssl_keyfile": "/etc/k.pem"},
            "smtps://h.example.com:465?certfile=/etc/c.pem&keyfile=/etc/k.pem",
        ),
    ],
)
def test_smtp_url(kwargs, expected):
    assert smtp_url(**kwargs) == expected


def test_credentials_are_percent_encoded_and_round_trip():
    url = smtp_url("smtp.example.com", 587, "user@example.com", "p@ss:w/rd%#?", use_tls=True)
    assert "p@ss" not in url
    parsed = parse(url)
    assert parsed.username == "user@example.com"
    assert parsed.password.reveal() == "p@ss:w/rd%#?"
    assert "p%40ss" not in parsed.masked() and "***" in parsed.masked()


def test_user_without_password_does_not_log_in_like_django():
    assert smtp_url("h.example.com", 25, "user", "") == "smtp://h.example.com:25?tls=none"


def test_tls_and_ssl_are_exclusive():
    with pytest.raises(OptionError, match="mutually exclusive"):
        smtp_url("h.example.com", use_tls=True, use_ssl=True)


def test_read_options_upper_and_lower():
    upper = read_options({"URL": "memory://x", "FROM_EMAIL": "a@example.com", "QUEUE": True}, upper=True)
    lower = read_options({"url": "memory://x", "from_email": "a@example.com", "queue": True}, upper=False)
    assert upper == lower
    assert upper.url.reveal() == "memory://x" and upper.queue is True


def test_unknown_options_are_named_in_the_users_spelling():
    with pytest.raises(UnknownOptions) as caught:
        read_options({"URL": "memory://", "url": "x", "RETRIES": 3}, upper=True)
    assert str(caught.value) == "Unknown options 'url', 'RETRIES'."
    with pytest.raises(UnknownOptions, match="'URL'"):
        read_options({"URL": "memory://"}, upper=False)


def test_ignored_names_are_not_reported():
    assert read_options({"url": "memory://", "legacy": 1}, upper=False, ignore=frozenset({"legacy"})).url


def test_url_and_smtp_options_conflict():
    with pytest.raises(OptionError, match="either 'url' or the SMTP options"):
        read_options({"url": "memory://", "host": "h"}, upper=False)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"queue": ""}, "queue"),
        ({"queue": 3}, "queue"),
        ({"queue": "rabbit"}, "queue"),
        ({"policy": 1}, "policy"),
        ({"allow_console": "yes"}, "allow_console"),
    ],
)
def test_bad_values_name_the_option(raw, match):
    with pytest.raises(OptionError, match=match):
        read_options(raw, upper=False)


def test_mailer_options():
    options = read_options(
        {"retry": {"attempts": 2}, "policy": {"on_ambiguous": "fail"}, "queue": "sqlite:///x.db"}, upper=False
    )
    assert options.mailer_options() == {"retry": {"attempts": 2}, "on_ambiguous": "fail", "outbox": "sqlite:///x.db"}


def test_queue_kind_goes_to_queue_and_an_outbox_url_to_outbox():
    assert read_options({"queue": "celery"}, upper=False).mailer_options() == {"queue": "celery"}
    assert read_options({"QUEUE": True}, upper=True).mailer_options() == {}


def test_secret_url_and_password_are_revealed_only_into_the_url():
    from mailcore.redact import Secret

    options = read_options({"URL": Secret("smtp://u:hunter2@h:587")}, upper=True)
    assert options.url.reveal() == "smtp://u:hunter2@h:587"
    assert smtp_url("h", 587, "u", Secret("p@ss"), use_tls=True) == "smtp://u:p%40ss@h:587?tls=starttls"
