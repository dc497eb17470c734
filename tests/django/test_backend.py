"""Django's mail API through the mailcore backend, against the memory transport."""

from __future__ import annotations

import logging
import threading

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives

from mailcore import ConfigurationError, DeliveryFailed, InvalidMessage, Mailer, Message, TransportRejected
from mailcore.adapters.django import EmailBackend
from mailcore.transports.memory import MemoryTransport


def connection(**kwargs):
    return EmailBackend(**kwargs)


def test_send_mail(mailcore_settings, sent):
    assert mail.send_mail("Subject", "Body", "from@example.com", ["to@example.com"], html_message="<p>Body</p>") == 1
    (message,) = sent
    assert isinstance(message, Message)
    assert (message.subject, message.text, message.html) == ("Subject", "Body", "<p>Body</p>")
    assert message.from_email.email == "from@example.com" and message.to[0].email == "to@example.com"


def test_send_mail_from_none_uses_default_from_email(mailcore_settings, sent):
    mail.send_mail("s", "b", None, ["to@example.com"])
    assert sent[0].from_email.email == "webmaster@example.com"


def test_from_email_option_replaces_default_from_email(mailcore_settings, sent):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "FROM_EMAIL": "noreply@example.org"}
    mail.send_mail("s", "b", None, ["to@example.com"])
    mail.send_mail("s", "b", "chosen@example.com", ["to@example.com"])
    assert [m.from_email.email for m in sent] == ["noreply@example.org", "chosen@example.com"]


def test_send_mass_mail_counts_and_reuses_one_mailer(mailcore_settings, sent):
    data = [("s1", "b1", "f@example.com", ["a@example.com"]), ("s2", "b2", None, ["b@example.com", "c@example.com"])]
    assert mail.send_mass_mail(data) == 2
    assert [m.subject for m in sent] == ["s1", "s2"]
    assert [a.email for a in sent[1].to] == ["b@example.com", "c@example.com"]


def test_mail_admins_and_managers(mailcore_settings, sent):
    mail.mail_admins("Boom", "trace", html_message="<pre>trace</pre>")
    mail.mail_managers("Hello", "managers")
    admins, managers = sent
    assert admins.subject == "[Django] Boom" and admins.from_email.email == "server@example.com"
    assert admins.to[0].email == "admin@example.com" and admins.html == "<pre>trace</pre>"
    assert managers.subject == "[Django] Hello"


def test_email_message_send(mailcore_settings, sent):
    msg = EmailMessage("s", "b", "f@example.com", ["a@example.com"], bcc=["hidden@example.com"], cc=["c@example.com"])
    assert msg.send() == 1
    assert [a.email for a in sent[0].recipients] == ["a@example.com", "c@example.com", "hidden@example.com"]


def test_email_multi_alternatives_with_attachment(mailcore_settings, sent):
    msg = EmailMultiAlternatives("Report", "see attached", "f@example.com", ["a@example.com"])
    msg.attach_alternative("<b>see attached</b>", "text/html")
    msg.attach("report.pdf", b"%PDF-1.7 ...", "application/pdf")
    assert msg.send() == 1
    (att,) = sent[0].attachments
    assert (att.filename, att.mimetype, att.content) == ("report.pdf", "application/pdf", b"%PDF-1.7 ...")
    assert sent[0].html == "<b>see attached</b>"


def test_message_without_recipients_is_not_sent(mailcore_settings, sent):
    assert EmailMessage("s", "b", "f@example.com", []).send() == 0
    assert connection().send_messages([]) == 0
    assert sent == []


# -- errors and fail_silently ------------------------------------------------------------------


def test_send_error_raises_delivery_failed(mailcore_settings, sent):
    mailcore_settings.MAILCORE = {
        "URL": "memory://django?fail=5&error=connection",
        "RETRY": {"attempts": 3, "first_delay": 0},
    }
    with pytest.raises(DeliveryFailed) as caught:
        mail.send_mail("s", "b", "f@example.com", ["a@example.com"])
    assert len(caught.value.attempts) == 3  # RETRY reached the policy


def test_fail_silently_swallows_send_errors_only(mailcore_settings, sent, caplog):
    mailcore_settings.MAILCORE = {"URL": "memory://django?fail=1&error=rejected"}
    assert mail.send_mail("s", "b", "f@example.com", ["a@example.com"], fail_silently=True) == 0
    assert sent == [] and "fail_silently" in caplog.text


def test_fail_silently_logs_one_warning_line_without_a_traceback(mailcore_settings, caplog):
    mailcore_settings.MAILCORE = {"URL": "memory://django?fail=1&error=rejected"}
    with caplog.at_level("DEBUG", logger="mailcore"):
        assert mail.send_mail("s", "b", "f@example.com", ["a@example.com"], fail_silently=True) == 0
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in failures] == ["WARNING"], [r.getMessage() for r in failures]
    (record,) = failures
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert "not sent (fail_silently)" in record.getMessage() and "memory://django" in record.getMessage()


def test_fail_silently_counts_only_the_messages_sent(mailcore_settings, sent):
    backend = connection(fail_silently=True)
    backend._mailer = Mailer(MemoryTransport("django", errors=[None, TransportRejected("scripted")]))
    messages = [EmailMessage(f"s{i}", "b", "f@example.com", ["a@example.com"]) for i in range(3)]
    assert backend.send_messages(messages) == 2
    assert [m.subject for m in sent] == ["s0", "s2"]


def test_fail_silently_never_swallows_configuration_errors(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "nosuchscheme://x"}
    with pytest.raises(ConfigurationError, match="nosuchscheme"):
        mail.send_mail("s", "b", "f@example.com", ["a@example.com"], fail_silently=True)


def test_fail_silently_never_swallows_invalid_messages(mailcore_settings, sent):
    msg = EmailMessage("s", "b", "f@example.com", ["a@example.com"], headers={"X-A": "1\nX-B: 2"})
    with pytest.raises(InvalidMessage):
        connection(fail_silently=True).send_messages([msg])
    assert sent == []


def test_invalid_message_in_a_batch_raises_before_anything_is_sent(mailcore_settings, sent):
    good = EmailMessage("ok", "b", "f@example.com", ["a@example.com"])
    bad = EmailMessage("bad", "b", "f@example.com", ["not an address"])
    with pytest.raises(ValueError, match="to"):
        connection().send_messages([good, bad])
    assert sent == []


def test_unparsable_url_fails_at_construction(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "failover(memory://a"}
    with pytest.raises(ImproperlyConfigured, match="MAILCORE: failover"):
        connection()


def test_unknown_mailcore_setting_is_named(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "RETRIES": 3}
    with pytest.raises(ImproperlyConfigured, match=r"^MAILCORE: Unknown options 'RETRIES'\.$"):
        connection()


def test_unknown_keyword_argument_is_named(mailcore_settings):
    with pytest.raises(ImproperlyConfigured, match="Unknown options 'bogus'"):
        connection(bogus=1)


# -- connections, batches, threads -------------------------------------------------------------


class CountingTransport(MemoryTransport):
    def __init__(self):
        super().__init__("django")
        self.opens = self.closes = 0

    def open(self):
        self.opens += 1

    def close(self):
        self.closes += 1


def test_open_close_hold_connections_for_a_batch(mailcore_settings, sent):
    backend = connection()
    transport = CountingTransport()
    backend._mailer = Mailer(transport)
    with backend:
        for i in range(3):
            backend.send_messages([EmailMessage(f"s{i}", "b", "f@example.com", ["a@example.com"])])
        assert transport.closes == 0
    assert (transport.opens, transport.closes) == (1, 1)
    backend.send_messages([EmailMessage("alone", "b", "f@example.com", ["a@example.com"])])
    assert transport.closes == 2  # outside a batch each call closes what it used
    assert len(sent) == 4


def test_one_backend_shared_by_threads(mailcore_settings, sent):
    backend = connection()
    errors = []

    def worker(n):
        try:
            for i in range(20):
                backend.send_messages([EmailMessage(f"{n}-{i}", "b", "f@example.com", ["a@example.com"])])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sent) == 160 and len({m.subject for m in sent}) == 160


def test_failover_and_retry_options_reach_the_mailer(mailcore_settings, sent):
    mailcore_settings.MAILCORE = {
        "URL": "failover(memory://down?fail=9&error=connection memory://django)",
        "RETRY": {"attempts": 2, "first_delay": 0},
        "POLICY": {"breaker": False},
    }
    assert mail.send_mail("s", "b", "f@example.com", ["a@example.com"]) == 1
    assert len(sent) == 1


def test_repr_masks_secrets(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://user:hunter2@django"}
    assert "hunter2" not in repr(connection())


# -- queue -------------------------------------------------------------------------------------


class RecordingQueue:
    def __init__(self):
        self.messages = []

    def enqueue(self, message, *, delay=0.0, last_error=None):
        self.messages.append(message)
        return f"id-{len(self.messages)}"

    def close(self):
        pass


def test_queue_option_enqueues_instead_of_sending(mailcore_settings, sent):
    queue = RecordingQueue()
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": True, "POLICY": {"queue": queue}}
    assert mail.send_mail("queued", "b", "f@example.com", ["a@example.com"]) == 1
    assert sent == [] and [m.subject for m in queue.messages] == ["queued"]


def test_queue_option_with_sqlite_outbox(mailcore_settings, sent, tmp_path):
    from mailcore.outbox.store import open_outbox

    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": url}
    assert mail.send_mail("durable", "b", "f@example.com", ["a@example.com"]) == 1
    assert sent == []
    with open_outbox(url) as store:
        (entry,) = store.entries()
        assert store.message(entry.id).subject == "durable"


def test_queue_celery_selects_the_celery_queue(mailcore_settings):
    mailcore_settings.MAILCORE = {"URL": "memory://django", "QUEUE": "celery"}
    mailer = connection().mailer
    assert (mailer.queue, mailer.outbox_url) == ("celery", None)


def test_secret_url_stays_out_of_djangos_error_reports(mailcore_settings, sent):
    from django.views.debug import SafeExceptionReporterFilter

    from mailcore.redact import Secret

    mailcore_settings.MAILCORE = {"URL": Secret("memory://user:hunter2@django")}
    assert "hunter2" not in repr(SafeExceptionReporterFilter().get_safe_settings())
    assert mail.send_mail("s", "b", "f@example.com", ["a@example.com"]) == 1 and len(sent) == 1


@pytest.mark.filterwarnings("ignore:The 'auth_user'")
def test_auth_user_overrides_with_url_are_refused(mailcore_settings):
    with pytest.raises(ImproperlyConfigured, match="cannot be combined with a URL"):
        mail.send_mail("s", "b", "f@example.com", ["a@example.com"], auth_user="u", auth_password="p")


# -- the testing recipes of docs/django.md -----------------------------------------------------


def test_docs_recipe_pytest_mail_outbox_fixture(settings, mail_outbox):
    settings.EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
    settings.MAILCORE = {"URL": "memory://"}
    mail.send_mail("Welcome", "hi", None, ["new@example.com"])
    assert mail_outbox[0].to[0].email == "new@example.com"


def test_docs_recipe_locmem_is_what_django_tests_use_by_default():
    mail.outbox = []
    mail.send_mail("plain django", "b", None, ["a@example.com"])
    assert mail.outbox[0].subject == "plain django"  # Django's test setup swapped in locmem


def test_breaker_state_survives_new_backend_instances(settings):
    """Django builds a backend per send_mail(); the breaker opened by one must hold for the next."""
    from mailcore import Message
    from mailcore.adapters.django import EmailBackend
    from mailcore.policy.errors import CircuitOpen

    settings.MAILCORE = {"URL": "failover(memory://flaky?fail=100&error=rejected memory://steady)"}
    message = Message("app@example.com", ["u@example.org"], "s", text="t")
    first = EmailBackend().mailer.send(message)
    assert first.transport == "memory://steady" and first.attempts[0].error is not None
    second = EmailBackend().mailer.send(message)
    assert second.transport == "memory://steady"
    assert isinstance(second.attempts[0].error, CircuitOpen), second.attempts
