"""System checks (mailcore.E001-E003, W001) and `manage.py sendtestemail` through the backend."""

from __future__ import annotations

from conftest import BACKEND, needs_mailers
from django.core import checks
from django.core.management import call_command
from django.test import override_settings

from mailcore.adapters.django.checks import check_mailcore


def ids(messages):
    return [m.id for m in messages]


def test_check_is_registered_by_the_app(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "nosuch://x"}
    assert "mailcore.E002" in ids(checks.run_checks())


def test_valid_configuration_passes(mailcore_settings):
    assert check_mailcore() == []


def test_unparsable_url_is_e001(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "failover(memory://a"}
    (error,) = check_mailcore()
    assert error.id == "mailcore.E001" and "closing" in error.msg


def test_unknown_option_is_e001(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://", "RETYR": {}}
    (error,) = check_mailcore()
    assert error.id == "mailcore.E001" and "'RETYR'" in error.msg


def test_missing_plugin_is_e002_per_scheme(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "failover(nosuch://a memory://b alsomissing://c)"}
    errors = check_mailcore()
    assert ids(errors) == ["mailcore.E002", "mailcore.E002"]
    assert "nosuch://" in errors[0].msg and "alsomissing://" in errors[1].msg


def test_console_without_debug_is_e003(mailcore_settings):
    # E002 also appears where mailcore-console is not installed; E003 is what this test is about.
    mailcore_settings.MAILCORE = {"URL": "failover(memory://a console://)"}
    mailcore_settings.DEBUG = False
    assert "mailcore.E003" in ids(check_mailcore())
    mailcore_settings.DEBUG = True
    assert "mailcore.E003" not in ids(check_mailcore())
    mailcore_settings.DEBUG = False
    mailcore_settings.MAILCORE = {"URL": "console://", "ALLOW_CONSOLE": True}
    assert "mailcore.E003" not in ids(check_mailcore())


def test_unused_mailcore_setting_is_w001(mailcore_settings):
    mailcore_settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert ids(check_mailcore()) == ["mailcore.W001"]


def test_locmem_swap_in_tests_is_not_w001(mailcore_settings):
    mailcore_settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert check_mailcore() == []


def test_email_settings_fallback_uses_the_smtp_plugin(mailcore_settings, smtp_plugin):
    del mailcore_settings.MAILCORE
    assert check_mailcore() == []


def test_email_settings_errors_are_labelled_as_such(mailcore_settings):
    del mailcore_settings.MAILCORE
    mailcore_settings.EMAIL_USE_TLS = mailcore_settings.EMAIL_USE_SSL = True
    (error,) = check_mailcore()
    assert error.id == "mailcore.E001"
    assert error.msg.startswith("EMAIL_* settings: use_tls and use_ssl (EMAIL_USE_TLS/EMAIL_USE_SSL)")


@needs_mailers
def test_each_mailers_alias_is_checked():
    mailers = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://ok"}},
        "bad": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://", "nope": 1}},
        "missing": {"BACKEND": BACKEND, "OPTIONS": {"url": "nosuch://"}},
        "django": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
    }
    with override_settings(MAILERS=mailers):
        errors = check_mailcore()
    assert [(e.id, e.msg.split(":")[0]) for e in errors] == [
        ("mailcore.E001", "MAILERS['bad']"),
        ("mailcore.E002", "MAILERS['missing']"),
    ]


# -- sendtestemail -----------------------------------------------------------------------------


def test_sendtestemail_goes_through_the_backend(mailcore_settings, sent):
    call_command("sendtestemail", "ops@example.com")
    (message,) = sent
    assert message.subject.startswith("Test email from") and message.to[0].email == "ops@example.com"
    assert message.from_email.email == "webmaster@example.com"


def test_sendtestemail_admins_and_managers(mailcore_settings, sent):
    call_command("sendtestemail", "--admins", "--managers")
    assert sorted(m.subject.split(" ")[0] for m in sent) == ["[Django]", "[Django]"]
    assert {m.to[0].email for m in sent} == {"admin@example.com"}


@needs_mailers
def test_sendtestemail_using_a_mailers_alias():
    from mailcore.testing import clear_outboxes, outbox

    clear_outboxes()
    mailers = {
        "default": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://d"}},
        "ops": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://ops"}},
    }
    with override_settings(MAILERS=mailers):
        call_command("sendtestemail", "ops@example.com", "--using", "ops")
    assert outbox("d") == [] and len(outbox("ops")) == 1


def test_docs_recipe_override_settings_testcase():
    from django.test import SimpleTestCase, override_settings

    from mailcore.testing import clear_outboxes, outbox

    @override_settings(EMAIL_BACKEND=BACKEND, MAILCORE={"URL": "memory://"})
    class SignupMailTests(SimpleTestCase):
        def test_welcome_mail(self):
            clear_outboxes()
            from django.core import mail

            mail.send_mail("Welcome", "hi", None, ["new@example.com"])
            (message,) = outbox()
            self.assertEqual(message.to[0].email, "new@example.com")

    import io
    import unittest

    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(SignupMailTests)
    )
    assert result.wasSuccessful(), result.failures + result.errors
