"""mailcore.adapters.logging.MailHandler: mails records, throttled, never raises, never loops."""

from __future__ import annotations

import logging
import threading

import pytest

from mailcore import Mailer, Message, TransientError
from mailcore.adapters.logging import MailHandler
from mailcore.testing import clear_outboxes, outbox
from mailcore.transports.memory import MemoryTransport


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def sent():
    clear_outboxes()
    yield outbox("alerts")
    clear_outboxes()


@pytest.fixture
def logger():
    log = logging.getLogger("tests.mailhandler")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def make(mailer="memory://alerts", **kwargs):
    kwargs.setdefault("subject", "[app] %(levelname)s: %(message)s")
    return MailHandler(mailer, "alerts@example.com", ["ops@example.com"], **kwargs)


def test_mails_a_record_like_smtphandler(sent, logger):
    handler = make()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.error("disk %s is full", "/var")
    logger.warning("below the ERROR default level")
    (message,) = sent
    assert isinstance(message, Message)
    assert message.subject == "[app] ERROR: disk /var is full"
    assert message.text == "tests.mailhandler ERROR disk /var is full"
    assert message.from_email.email == "alerts@example.com" and message.to[0].email == "ops@example.com"


def test_exception_traceback_in_body_and_subject_on_one_line(sent, logger):
    logger.addHandler(make())
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed\nwith a second line")
    (message,) = sent
    assert message.subject == "[app] ERROR: failed with a second line"
    assert "Traceback" in message.text and "RuntimeError: boom" in message.text


def test_long_subject_is_capped(sent, logger):
    logger.addHandler(make())
    logger.error("x" * 1000)
    assert len(sent[0].subject) == 200


def test_error_storm_is_throttled_and_summarised(sent, logger):
    clock = FakeClock()
    handler = make(max_mails=3, per=60, clock=clock)
    logger.addHandler(handler)
    for i in range(1000):
        logger.error("storm %d", i)
    assert [m.subject for m in sent] == ["[app] ERROR: storm 0", "[app] ERROR: storm 1", "[app] ERROR: storm 2"]
    logger.critical("still storming")
    clock.now += 61
    logger.error("after the window")
    assert len(sent) == 4
    assert sent[3].text.startswith("998 more log records were not mailed since ")
    assert "(CRITICAL: 1, ERROR: 997)" in sent[3].text and sent[3].text.endswith("after the window")


def test_close_mails_the_pending_summary(sent, logger):
    handler = make(max_mails=1, per=3600, clock=FakeClock())
    logger.addHandler(handler)
    for _ in range(5):
        logger.error("again")
    assert len(sent) == 1
    logger.removeHandler(handler)
    handler.close()
    assert len(sent) == 2 and sent[1].subject == "4 more log records were not mailed"
    handler.close()  # idempotent, nothing more to say
    assert len(sent) == 2


def test_emit_never_raises_and_reports_through_handle_error(sent, logger, monkeypatch):
    handler = make("memory://alerts?fail=99&error=rejected")
    errors = []
    monkeypatch.setattr(handler, "handleError", lambda record: errors.append(record.getMessage()))
    logger.addHandler(handler)
    logger.error("first")  # the send fails: DeliveryFailed is handed to handleError
    assert errors == ["first"] and sent == []


def test_bad_configuration_never_raises_from_emit(logger, monkeypatch):
    handler = make("nosuchscheme://x")
    errors = []
    monkeypatch.setattr(handler, "handleError", lambda record: errors.append(record))
    logger.addHandler(handler)
    logger.error("lost?")
    assert len(errors) == 1


def test_failed_mail_is_counted_in_the_next_summary(sent, logger, monkeypatch):
    transport = MemoryTransport("alerts", errors=[TransientError("down")])
    handler = make(Mailer(transport, retry=False))
    monkeypatch.setattr(handler, "handleError", lambda record: None)
    logger.addHandler(handler)
    logger.error("not delivered")
    logger.error("delivered")
    (message,) = sent
    assert message.text.startswith("1 more log record was not mailed")


def test_default_stream_handle_error_does_not_raise(logger, capsys):
    handler = make("memory://alerts?fail=99&error=rejected")
    logger.addHandler(handler)
    logger.error("goes to stderr")  # logging.raiseExceptions prints, never raises
    assert "--- Logging error ---" in capsys.readouterr().err


# -- no recursion, no deadlock -----------------------------------------------------------------


class LoggingTransport(MemoryTransport):
    """Logs on the mailcore logger while delivering, from this thread and from another one."""

    def deliver(self, message):
        logging.getLogger("mailcore.smtp").error("mailcore logs during the send")
        worker = threading.Thread(target=logging.getLogger("mailcore").error, args=("from a mailcore thread",))
        worker.start()
        worker.join(5)
        assert not worker.is_alive(), "a mailcore thread was blocked by the handler"
        return super().deliver(message)


@pytest.fixture
def root_handler(sent):
    root = logging.getLogger()
    handler = make(Mailer(LoggingTransport("alerts")))
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_mailcore_logging_during_emit_neither_recurses_nor_deadlocks(root_handler, sent):
    done = threading.Event()

    def log_it():
        logging.getLogger("app").error("the real problem")
        done.set()

    thread = threading.Thread(target=log_it, daemon=True)
    thread.start()
    assert done.wait(10), "emit deadlocked"
    assert [m.subject for m in sent] == ["[app] ERROR: the real problem"]
    # the record from mailcore's other thread was counted, not mailed, not waited for
    assert root_handler._suppressed["ERROR"] == 1


def test_mailer_failure_logs_from_mailcore_do_not_loop(sent, monkeypatch):
    root = logging.getLogger()
    handler = make("memory://alerts?fail=99&error=rejected")
    calls = []
    monkeypatch.setattr(handler, "handleError", lambda record: calls.append(record.getMessage()))
    root.addHandler(handler)
    try:
        logging.getLogger("app").error("trigger")  # Mailer logs 'not delivered' on "mailcore"
    finally:
        root.removeHandler(handler)
    assert calls == ["trigger"]


def test_other_threads_wait_for_the_send_instead_of_being_dropped(sent, logger):
    gate = threading.Event()

    class SlowTransport(MemoryTransport):
        def deliver(self, message):
            gate.wait(5)
            return super().deliver(message)

    logger.addHandler(make(Mailer(SlowTransport("alerts"))))
    threads = [threading.Thread(target=logger.error, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert sorted(m.subject for m in sent) == ["[app] ERROR: t0", "[app] ERROR: t1", "[app] ERROR: t2"]


def test_rejects_nonsense_throttle():
    with pytest.raises(ValueError):
        make(max_mails=0)


def test_dict_config(sent):
    import logging.config

    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"mail": {"()": "mailcore.adapters.logging.MailHandler", "mailer": "memory://alerts",
                              "fromaddr": "a@example.com", "toaddrs": "ops@example.com", "max_mails": 5}},
        "loggers": {"tests.dictconfig": {"handlers": ["mail"], "propagate": False}},
    })  # fmt: skip
    log = logging.getLogger("tests.dictconfig")
    try:
        log.error("configured")
        assert sent[0].subject == "ERROR: configured"
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
