"""mailcore.http's own HTTP/1.1 request writer and answer reader (no email parser on the hot path).

Property-based: any headers and body written as an HTTP answer read back the same, with a
Content-Length or chunked in any split; strict like ``http.client`` on what is not HTTP.
"""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore.http import ConnectionPool, _read_head, header_lines

token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20)
value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
POOL = ConnectionPool("http://127.0.0.1:8080", timeout=5)


def reader(raw: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(raw))  # type: ignore[arg-type]


def answer(raw: bytes, method: str = "POST"):
    stream = reader(raw)
    head = _read_head(stream, method)
    return head, POOL._read_body(stream, head)


reserved = {"content-length", "transfer-encoding", "connection", "keep-alive"}


@given(
    status=st.integers(min_value=200, max_value=599).filter(lambda s: s not in (204, 304)),
    headers=st.dictionaries(token.filter(lambda n: n.lower() not in reserved), value, max_size=12),
    body=st.binary(max_size=3000),
)
def test_content_length_answers_read_back(status, headers, body):
    lines = "".join(f"{name}: {text}\r\n" for name, text in headers.items())
    raw = f"HTTP/1.1 {status} Whatever\r\n{lines}Content-Length: {len(body)}\r\n\r\n".encode() + body
    head, (data, truncated) = answer(raw)
    expected = {}
    for name, text in headers.items():
        expected[name.lower()] = text.strip()
    expected["content-length"] = str(len(body))
    assert (head.status, head.headers, data, truncated, head.will_close) == (status, expected, body, False, False)


@given(body=st.binary(max_size=2000), cuts=st.lists(st.integers(min_value=1, max_value=300), max_size=10))
def test_chunked_answers_read_back_whatever_the_split(body, cuts):
    chunks, rest = [], body
    for cut in cuts:
        if not rest:
            break
        chunks.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        chunks.append(rest)
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-Trailer: t\r\n\r\n"
    head, (data, truncated) = answer(raw)
    assert (data, truncated, head.will_close) == (body, False, False)


def test_oversized_bodies_are_cut_and_flagged():
    big = b"x" * (POOL.max_body + 10)
    _, (data, truncated) = answer(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big)
    assert (len(data), truncated) == (POOL.max_body, True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
    _, (data, truncated) = answer(chunked)
    assert (len(data), truncated) == (POOL.max_body, True)


def test_a_short_body_is_unreadable_not_a_success_text():
    _, (data, truncated) = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert (data, truncated) == (None, False)


def test_continue_is_skipped_and_keep_alive_rules_follow_http_client():
    head, (data, _) = answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    assert (head.status, data, head.will_close) == (202, b"", False)
    assert answer(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")[0].will_close
    assert not answer(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")[0].will_close
    assert answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[0].will_close
    head, (data, _) = answer(b"HTTP/1.1 200 OK\r\n\r\nuntil close")
    assert (head.will_close, data) == (True, b"until close")
    head, (data, _) = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method="HEAD")
    assert data == b""


def test_folded_header_lines_continue_the_value():
    head, _ = answer(b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n")
    assert head.headers["x-long"] == "one two"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", http.client.RemoteDisconnected),
        (b"garbage\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 abc OK\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/1.1 99 Low\r\n\r\n", http.client.BadStatusLine),
        (b"HTTP/2.0 200 OK\r\n\r\n", http.client.UnknownProtocol),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", http.client.HTTPException),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
    ],
)
def test_what_is_not_http_raises_http_client_errors(raw, error):
    with pytest.raises(error):
        _read_head(reader(raw), "POST")


def test_header_injection_is_refused_before_writing():
    with pytest.raises(ValueError):
        header_lines({"Authorization": "Bearer key\r\nX-Evil: 1"})
    with pytest.raises(ValueError):
        header_lines({"Bad:Name": "x"})
    with pytest.raises(ValueError):
        POOL._head("POST", "/path with space", b"", {}, None, True)


def test_request_head_has_host_length_and_cached_static_headers():
    head = POOL._head("POST", "/v3/mail/send", b"{}", {"Authorization": "Bearer k"}, "application/json", True)
    assert head == (
        b"POST /v3/mail/send HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer k\r\n"
        b"Accept-Encoding: identity\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )
    assert POOL._head("GET", "/x", None, {"Host": "h"}, None, False) == (
        b"GET /x HTTP/1.1\r\nHost: h\r\nAccept-Encoding: identity\r\n\r\n"
    )


def test_an_injecting_header_fails_the_request_before_anything_is_sent():
    from mailcore.http import RequestFailed

    with pytest.raises(RequestFailed) as caught:
        POOL.request("POST", "/v3/mail/send", b"{}", {"Authorization": "Bearer k\r\nX-Evil: 1"})
    assert caught.value.body_sent is False
    assert isinstance(caught.value.error, ValueError)


# -- the time budget on the socket: timeouts set only when they change by more than the slack --


class FlakySocket:
    """A socket whose first read times out (a kept timeout up to the slack shorter than the time left)."""

    def __init__(self, timeout: float) -> None:
        self.timeout: float | None = timeout
        self.set_to: list[float | None] = []
        self.reads = 0

    def gettimeout(self) -> float | None:
        return self.timeout

    def settimeout(self, value: float | None) -> None:
        self.set_to.append(value)
        self.timeout = value

    def recv_into(self, buffer) -> int:
        self.reads += 1
        if self.reads == 1:
            raise TimeoutError("timed out")
        buffer[:2] = b"ok"
        return 2


def test_a_read_whose_kept_timeout_fires_early_waits_for_what_is_left():
    """Never fail early: the kept timeout fired with time left, so the read goes on, bounded by the rest."""
    import time

    from mailcore.budget import TIMEOUT_SLACK
    from mailcore.http import _DeadlineSocket

    end = time.monotonic() + 5.0
    sock = FlakySocket(5.0 - TIMEOUT_SLACK / 2)  # within the slack: kept, no settimeout before the read
    deadline_socket = _DeadlineSocket(sock, end)  # type: ignore[arg-type]
    buffer = memoryview(bytearray(4))
    assert deadline_socket.recv_into(buffer) == 2 and sock.reads == 2
    assert len(sock.set_to) == 1  # set once, for the second read, to exactly the time left
    assert 0 < sock.set_to[0] <= end - time.monotonic() + 0.001  # type: ignore[operator]


def test_a_read_that_times_out_with_no_time_left_is_an_attempt_timeout():
    import time

    from mailcore.http import AttemptTimeout, _DeadlineSocket

    sock = FlakySocket(0.01)
    deadline_socket = _DeadlineSocket(sock, time.monotonic() + 0.005)  # type: ignore[arg-type]
    time.sleep(0.01)  # the attempt's time is over by the time the read times out
    with pytest.raises(AttemptTimeout):
        deadline_socket.recv_into(memoryview(bytearray(4)))
    assert sock.reads == 0


class Recording:
    """Wraps the pool's real socket: notes the timeout in effect and the time at every read and write."""

    def __init__(self, sock) -> None:
        import time

        self.sock = sock
        self.calls: list[tuple[str, float | None, float]] = []
        self.sets = 0
        self._now = time.monotonic

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        self.sets += 1
        self.sock.settimeout(value)

    def sendall(self, data) -> None:
        self.calls.append(("send", self.sock.gettimeout(), self._now()))
        self.sock.sendall(data)

    def recv_into(self, buffer) -> int:
        self.calls.append(("recv", self.sock.gettimeout(), self._now()))
        return self.sock.recv_into(buffer)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("reply", ["hang", "drip"])
def test_a_hanging_or_dripping_peer_fails_within_the_budget_plus_the_slack(monkeypatch, reply):
    """Requests on one keep-alive connection keep one timeout (no settimeout per read or write);
    against a peer that hangs, or drips its answer a byte per 30 ms, every blocking call is given
    at most the time left plus TIMEOUT_SLACK, and the attempt ends as a timeout after the body
    was sent. (The elapsed bound has a generous margin: it shows the attempt ends with its
    budget, not how fast anything is.)"""
    import time

    import mailcore.http as mhttp
    from mailcore.budget import TIMEOUT_SLACK
    from mailcore.http import RequestFailed
    from mailcore.testing.http_sink import HTTPSink, Reply

    recorded: list[Recording] = []
    real_connect = mhttp._tcp_connect

    def connect(host, port, end):  # type: ignore[no-untyped-def]
        recorded.append(Recording(real_connect(host, port, end)))
        return recorded[-1]

    monkeypatch.setattr(mhttp, "_tcp_connect", connect)
    budget = 0.6
    with HTTPSink() as sink:
        pool = ConnectionPool(sink.url, timeout=budget)
        for _ in range(20):
            assert pool.request("POST", "/v3/mail/send", b"{}", {"Content-Type": "application/json"}).status == 202
        assert len(recorded) == 1 and recorded[0].sets <= 1  # 20 requests: at most one settimeout
        if reply == "hang":
            sink.script(Reply(action="hang", delay=budget + 2))
        else:
            sink.script(Reply(202, action="drip", delay=0.03))
        recorded[0].calls.clear()
        started = time.monotonic()
        with pytest.raises(RequestFailed) as caught:
            pool.request("POST", "/v3/mail/send", b"{}", {"Content-Type": "application/json"})
        elapsed = time.monotonic() - started
        pool.close()
    assert caught.value.body_sent and isinstance(caught.value.error, TimeoutError)
    calls = recorded[0].calls
    end = calls[0][2] + budget  # the attempt began before its first write: its end is no later
    assert calls and all(timeout is not None and timeout <= end - at + TIMEOUT_SLACK for _, timeout, at in calls), calls
    assert elapsed <= budget + TIMEOUT_SLACK + 1.0, elapsed
