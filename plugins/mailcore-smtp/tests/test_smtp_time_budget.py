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


# -- socket timeouts: set only when they move by more than TIMEOUT_SLACK, never past the budget --


class _Recording:
    """Wraps a session's real socket: counts settimeout, notes the timeout in effect at each call."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self.sets = 0
        self.calls: list[tuple[float | None, float]] = []

    def gettimeout(self):
        return self.sock.gettimeout()

    def settimeout(self, value) -> None:
        self.sets += 1
        self.sock.settimeout(value)

    def recv(self, size: int) -> bytes:
        self.calls.append((self.sock.gettimeout(), time.monotonic()))
        return self.sock.recv(size)

    def sendall(self, data) -> None:
        self.calls.append((self.sock.gettimeout(), time.monotonic()))
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()

    def __getattr__(self, name: str):  # getsockname, fileno, …: the real socket's
        return getattr(self.sock, name)


@pytest.fixture
def recorded(monkeypatch):
    import mailcore_smtp.session as session

    sockets: list[_Recording] = []
    real = session.connect

    def connect(*args, **kwargs):
        sock, address = real(*args, **kwargs)
        sockets.append(_Recording(sock))
        return sockets[-1], address

    monkeypatch.setattr(session, "connect", connect)
    return sockets


def test_a_session_keeps_its_socket_timeout_from_message_to_message(fake, recorded, monkeypatch):
    """30 messages on one session: a handful of settimeout calls (setup, the attempts' budget,
    QUIT), not one before every read and write (about five per message before).

    The deadlines' clock runs 1,000 times slower than the real one here, so that a slow test
    peer (or a loaded machine) cannot spend 20 ms between two calls; on a real server a
    transaction slower than the slack re-arms once or twice per message."""
    import types

    import mailcore_smtp.net as net

    origin = time.monotonic()
    monkeypatch.setattr(
        net, "time", types.SimpleNamespace(monotonic=lambda: origin + (time.monotonic() - origin) / 1000)
    )
    server = fake()
    with Mailer(server.url(timeout="30"), state="memory://") as mailer:
        for number in range(30):
            mailer.send(msg(number))
    assert len(recorded) == 1 and len(server.messages) == 30
    assert len(recorded[0].calls) >= 4 * 30
    assert recorded[0].sets <= 3, recorded[0].sets


def test_a_hanging_server_fails_within_the_budget_plus_the_slack(fake, recorded):
    """Silent after the end of DATA, ``timeout=1``: every read and write was given at most the
    time left plus TIMEOUT_SLACK, and the send ends as a maybe-sent timeout. (The elapsed bound
    has a generous margin: a hung server costs the budget, not more.)"""
    from mailcore.budget import TIMEOUT_SLACK

    budget = 1.0
    server = fake({"END": lambda _argument, srv: srv.stopped.wait(30) and None})
    started = time.monotonic()
    with pytest.raises(SendTimeout) as caught:
        SMTPTransport(server.url(timeout=str(budget))).send(msg())
    elapsed = time.monotonic() - started
    assert caught.value.maybe_sent
    calls = recorded[0].calls
    end = calls[0][1] + budget  # the attempt began before the session's first read: it ends no later
    assert calls and all(t is not None and t <= end - at + TIMEOUT_SLACK for t, at in calls), calls
    assert elapsed <= budget + TIMEOUT_SLACK + 1.0, elapsed


class _EarlySocket:
    """Its first recv times out (a kept timeout up to the slack shorter than the limit)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.set_to: list[float] = []
        self.reads = 0

    def gettimeout(self) -> float:
        return self.timeout

    def settimeout(self, value: float) -> None:
        self.set_to.append(value)
        self.timeout = value

    def recv(self, size: int) -> bytes:
        self.reads += 1
        if self.reads == 1:
            raise TimeoutError("timed out")
        return b"250 ok\r\n"

    def close(self) -> None:
        pass


def _connection_over(sock: _EarlySocket):
    """A session on ``sock`` with a 30 s attempt budget and a 5 s read timeout."""
    from mailcore_smtp.net import Deadline
    from mailcore_smtp.wire import SMTPConnection

    return SMTPConnection(
        sock,  # type: ignore[arg-type]
        ("127.0.0.1", 25),  # type: ignore[arg-type]
        host="localhost",
        deadline=Deadline(30),
        read_timeout=5.0,
    )


def test_a_read_whose_kept_timeout_fires_early_goes_on_for_the_rest():
    """Never give up early: the read waits out the rest of its limit, and only that."""
    from mailcore.budget import TIMEOUT_SLACK

    sock = _EarlySocket(5.0 - TIMEOUT_SLACK / 2)  # within the slack of the 5 s read timeout: kept
    connection = _connection_over(sock)
    assert connection.read_reply().code == 250 and sock.reads == 2
    assert len(sock.set_to) == 1 and 0 < sock.set_to[0] <= TIMEOUT_SLACK


def test_a_read_that_waited_its_whole_limit_times_out():
    from mailcore.budget import TIMEOUT_SLACK
    from mailcore_smtp.wire import WireTimeout

    sock = _EarlySocket(5.0 + TIMEOUT_SLACK / 2)  # kept, and longer than the limit: no time is left after it
    connection = _connection_over(sock)
    with pytest.raises(WireTimeout, match="read timeout"):
        connection.read_reply()
    assert sock.reads == 1 and sock.set_to == []
