"""The time budget and the no-duplicate rules over real SMTP peers on 127.0.0.1 (issue 12).

Bounds are asserted with generous margins; they show that a hung server costs seconds, not
minutes, never how fast anything is.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from mailcore import Mailer, Message
from mailcore.errors import DeliveryFailed, SendError, SendTimeout
from mailcore.policy import CircuitOpen, RetryPolicy
from mailcore_smtp.transport import SMTPTransport


def msg(number: int = 0) -> Message:
    return Message("sender@example.com", ["rcpt@example.org"], f"subject {number}", text="body")


def test_defaults_fail_over_from_a_server_that_never_greets(fake, aio):
    """Default settings: the primary accepts and never greets; the backup delivers in ≤ 15 s."""
    primary = fake(greeting=None)
    started = time.monotonic()
    result = Mailer(f"failover({primary.url()} {aio.url()})", state="memory://").send(msg())
    elapsed = time.monotonic() - started
    assert result.transport.endswith(f":{aio.port}") and len(aio.handler.messages) == 1
    first = result.attempts[0].error
    assert isinstance(first, SendTimeout) and not first.maybe_sent and "greeting" in str(first)
    assert elapsed <= 15, elapsed


def test_the_message_deadline_cuts_an_attempt_already_running(fake):
    """``RetryPolicy(deadline=3)`` against a silent server: the send ends in ≤ 4 s (was 30 s)."""
    server = fake(greeting=None)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as caught:
        Mailer(server.url(), retry=RetryPolicy(deadline=3), state="memory://").send(msg())
    assert time.monotonic() - started <= 4
    assert caught.value.outcome == "failed"


def test_the_message_deadline_cuts_a_wait_after_data(fake):
    """Silent after the end of DATA: the deadline still holds, and the outcome is unknown."""
    server = fake({"END": lambda _argument, srv: srv.stopped.wait(30) and None})
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as caught:
        Mailer(server.url(), retry=RetryPolicy(deadline=3), state="memory://").send(msg())
    assert time.monotonic() - started <= 4
    assert caught.value.outcome == "unknown"


def test_a_transient_error_is_retried_on_a_fresh_session(fake):
    """451 after DATA on a held-open session: the retry opens a new session and delivers."""
    server = fake({"END": ["451 4.3.0 try again"]})
    with Mailer(server.url(), retry=RetryPolicy(first_delay=0), state="memory://") as mailer:
        result = mailer.send(msg())
    assert len(result.attempts) == 2 and result.attempts[-1].error is None
    assert server.connections == 2 and len(server.messages) == 2  # the first was refused with 451


def test_a_wrong_password_is_presented_once_for_a_whole_batch(aio):
    """Single transport, 10 messages, wrong password: 1 AUTH at the server, every message fails fast."""
    before = aio.handler.auth_attempts
    started = time.monotonic()
    with Mailer(aio.url(password="wrong-password"), state="memory://") as mailer:
        outcomes = mailer.send_many([msg(n) for n in range(10)])
    elapsed = time.monotonic() - started
    assert aio.handler.auth_attempts - before == 1
    assert all(isinstance(o, SendError) for o in outcomes)
    assert all(isinstance(o.last_error, CircuitOpen) for o in outcomes[1:]), outcomes[1]
    assert "wrong-password" not in " ".join(str(o) for o in outcomes)
    assert elapsed <= 10, elapsed


def test_a_refused_auth_ends_the_session_with_quit(fake):
    server = fake({"AUTH": "535 5.7.8 Authentication failed"})
    with pytest.raises(SendError):
        SMTPTransport(server.url().replace("smtp://", "smtp://user:pw@")).send(msg())
    assert server.verbs()[-2:] == ["AUTH", "QUIT"]


def test_endless_continuation_lines_end_in_a_send_error_with_bounded_memory(fake):
    """A server sending ``250-`` forever (before STARTTLS): SendError within the timeout, RSS < 100 MB.

    Measured in a child process, whose peak RSS is its own.
    """
    server = fake(flood=True)
    code = textwrap.dedent(
        f"""
        import resource, time
        from mailcore import Message
        from mailcore.errors import SendError
        from mailcore_smtp.transport import SMTPTransport
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # after the imports
        started = time.monotonic()
        try:
            SMTPTransport({server.url(timeout="5")!r}).send(Message("a@example.com", ["b@example.org"], "s", text="t"))
        except SendError as error:
            print(type(error).__name__, round(time.monotonic() - started, 2),
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    kind, seconds, grown_kb = out.split()  # peak RSS growth during the send
    assert kind in ("ConnectionFailed", "TransientError", "SendTimeout"), out
    assert float(seconds) <= 8  # the 5 s timeout, with a margin for a loaded machine
    assert int(grown_kb) < 100 * 1024, out
