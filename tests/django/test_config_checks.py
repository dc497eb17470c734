"""`manage.py check` catches configuration typos before the first send (mailcore.E004, E005, W002).

Each case from issue 11 runs Django's real ``check`` command: it must fail, and its output must
name the setting and the parameter. Nothing is connected: the URLs point at hosts that do not
exist and the check must not care.
"""

from __future__ import annotations

import pytest
from conftest import BACKEND, needs_mailers
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from mailcore.adapters.django.checks import check_mailcore


def manage_py_check() -> str:
    """Run ``manage.py check``; return its error report (fails the test if the check passes)."""
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    return str(failed.value)


def test_a_misspelt_url_parameter_fails_the_check_naming_it(mailcore_settings, smtp_plugin):
    mailcore_settings.MAILCORE = {"URL": "smtp://user:pw@smtp.invalid:587?timout=5"}
    report = manage_py_check()
    assert "mailcore.E004" in report and "settings.MAILCORE['URL']" in report
    assert "timout" in report and "did you mean 'timeout'?" in report
    assert ":pw@" not in report  # the password is masked


def test_a_misspelt_retry_option_fails_the_check_with_a_suggestion(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "RETRY": {"attemps": 3}}
    report = manage_py_check()
    assert "mailcore.E005" in report and "settings.MAILCORE['RETRY']" in report
    assert "'attemps'" in report and "did you mean 'attempts'?" in report


def test_a_retry_value_of_the_wrong_type_fails_the_check(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "RETRY": {"attempts": "x"}}
    report = manage_py_check()
    assert "mailcore.E005" in report and "settings.MAILCORE['RETRY']" in report
    assert "'attempts' must be a whole number, not 'x'" in report


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"stratgy": "failover"}, "did you mean 'strategy'?"),
        ({"strategy": "random"}, "choose one of failover, roundrobin, weighted"),
        ({"breaker": {"failures": 2.5}}, "'failures' must be a whole number"),
        ({"retry": {"deadline": "soon"}}, "'deadline' must be a number or None"),
        ({"park_on_failure": "yes"}, "park_on_failure must be True or False"),
    ],
)
def test_policy_keys_and_values_are_checked(mailcore_settings, policy, expected):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "POLICY": policy}
    (error,) = check_mailcore()
    assert error.id == "mailcore.E005" and error.msg.startswith("settings.MAILCORE['POLICY']")
    assert expected in error.msg


def test_a_bad_rate_or_memory_parameter_is_e004(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "failover(memory://a?rate=fast memory://b?fial=1)"}
    errors = check_mailcore()
    assert [e.id for e in errors] == ["mailcore.E004", "mailcore.E004"]
    assert "rate='fast'" in errors[0].msg and "fial" in errors[1].msg and "'fail'" in errors[1].msg


def test_a_relative_queue_path_is_w002_with_the_four_slash_spelling(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "sqlite:///var/lib/app/outbox.db"}
    (warning,) = check_mailcore()
    assert warning.id == "mailcore.W002" and "settings.MAILCORE['QUEUE']" in warning.msg
    assert "sqlite:////var/lib/app/outbox.db" in warning.hint
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "sqlite:////var/lib/app/outbox.db"}
    assert check_mailcore() == []


def test_a_queue_url_naming_no_file_is_e005(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "sqlite:///:memory:"}
    (error,) = check_mailcore()
    assert error.id == "mailcore.E005" and "names no file" in error.msg


def test_a_correct_configuration_still_passes(mailcore_settings, smtp_plugin):
    mailcore_settings.MAILCORE = {
        "URL": "smtp://user:pw@smtp.invalid:587?timeout=5",
        "RETRY": {"attempts": 3, "deadline": None, "first_delay": 1},
        "POLICY": {"strategy": "failover", "breaker": {"failures": 3}},
        "QUEUE": "sqlite:////var/lib/app/outbox.db",
    }
    assert check_mailcore() == []
    call_command("check")  # and manage.py check says so


@needs_mailers
def test_mailers_options_are_checked_per_alias(smtp_plugin):
    mailers = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "smtp://smtp.invalid?timout=5"}},
        "retry": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://r", "retry": {"attemps": 3}}},
    }
    with override_settings(MAILERS=mailers):
        errors = check_mailcore()
    assert [(e.id, e.msg.split(":")[0]) for e in errors] == [
        ("mailcore.E004", "MAILERS['default']['OPTIONS']['url']"),
        ("mailcore.E005", "MAILERS['retry']['OPTIONS']['retry']"),
    ]


# -- manage.py mailcore_worker: the worker from the Django settings ------------------------------


def test_mailcore_worker_delivers_what_the_backend_queued(mailcore_settings, sent, tmp_path):
    from django.core import mail

    outbox_url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": outbox_url, "RETRY": {"attempts": 1}}
    assert mail.send_mail("Hi", "body", "app@example.com", ["ana@example.org"]) == 1
    assert sent == []  # queued, not sent
    call_command("mailcore_worker", "--drain", "--status-interval", "0")
    assert [m.subject for m in sent] == ["Hi"]


def test_mailcore_worker_refuses_a_backend_without_an_outbox(mailcore_settings):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"settings.MAILCORE\['QUEUE'\] is not set"):
        call_command("mailcore_worker", "--drain")
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "celery"}
    with pytest.raises(CommandError, match="run a Celery worker"):
        call_command("mailcore_worker", "--drain")
