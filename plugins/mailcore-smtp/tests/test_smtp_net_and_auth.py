"""Addresses (happy eyeballs, IPv6 → IPv4 fallback), XOAUTH2 refresh, and check() on faults."""

import base64
import json
import socket
import time

import pytest

from mailcore import Message
from mailcore.errors import ConnectionFailed, TransientError, TransportRejected
from mailcore_smtp.net import Deadline, connect, interleave
from mailcore_smtp.transport import SMTPTransport


def msg():
    return Message("sender@example.com", ["rcpt@example.org"], "subject", text="body")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def test_failing_ipv6_falls_back_to_ipv4_within_the_deadline(fake):
    server = fake()  # listens on 127.0.0.1 only; nothing on [::1] at that port
    asked = []

    def resolver(host, port, family):
        asked.append((host, family))
        return [(socket.AF_INET6, ("::1", port, 0, 0)), (socket.AF_INET, ("127.0.0.1", port))]

    transport = SMTPTransport(f"smtp://localhost:{server.port}?tls=none&timeout=3", resolver=resolver)
    started = time.monotonic()
    result = transport.send(msg())
    assert time.monotonic() - started < 3
    assert result.provider_message_id == "FAKE1"
    assert asked == [("localhost", socket.AF_UNSPEC)]
    assert server.connections == 1


def test_every_address_and_reason_is_listed(fake):
    port = closed_port()

    def resolver(host, port_, family):
        return [(socket.AF_INET6, ("::1", port_, 0, 0)), (socket.AF_INET, ("127.0.0.1", port_))]

    with pytest.raises(ConnectionFailed) as caught:
        SMTPTransport(f"smtp://localhost:{port}?tls=none&timeout=3", resolver=resolver).send(msg())
    text = str(caught.value)
    assert "[::1]" in text and "127.0.0.1" in text
    assert len(caught.value.response) == 2


def test_family_ipv4_skips_ipv6_addresses(fake):
    server = fake()

    def resolver(host, port, family):
        return [(socket.AF_INET6, ("::1", port, 0, 0)), (socket.AF_INET, ("127.0.0.1", port))]

    transport = SMTPTransport(f"smtp://localhost:{server.port}?tls=none&family=ipv4", resolver=resolver)
    transport.send(msg())
    with pytest.raises(ConnectionFailed, match="no ipv6 address"):
        SMTPTransport(
            f"smtp://localhost:{server.port}?tls=none&family=ipv6",
            resolver=lambda h, p, f: [(socket.AF_INET, ("127.0.0.1", p))],
        ).send(msg())


def test_localhost_resolves_through_the_system_resolver(fake):
    server = fake()
    assert SMTPTransport(f"smtp://localhost:{server.port}?tls=none&family=ipv4").send(msg()).provider_message_id


def test_unresponsive_address_is_abandoned_for_the_next_one(fake):
    """A backlog-full listener never completes the handshake; the race moves on after 250 ms."""
    server = fake()
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.2", 0))
    blackhole.listen(0)
    fillers = []
    for _ in range(8):  # fill the accept queue so further SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(blackhole.getsockname())
        fillers.append(s)
    addresses = [
        (socket.AF_INET, ("127.0.0.2", blackhole.getsockname()[1])),
        (socket.AF_INET, ("127.0.0.1", server.port)),
    ]
    try:
        sock, address = connect("test", 0, addresses, deadline=Deadline(3), connect_timeout=2)
        sock.close()
        assert address[1][0] == "127.0.0.1"
    finally:
        for s in fillers:
            s.close()
        blackhole.close()


def test_interleave_alternates_families():
    v6a, v6b = (socket.AF_INET6, ("::1", 1, 0, 0)), (socket.AF_INET6, ("::2", 1, 0, 0))
    v4a, v4b = (socket.AF_INET, ("127.0.0.1", 1)), (socket.AF_INET, ("127.0.0.2", 1))
    assert interleave([v6a, v6b, v4a, v4b, v4a]) == [v6a, v4a, v6b, v4b]


# -- XOAUTH2 ---------------------------------------------------------------------------------------


def xoauth2_server(fake):
    seen = []

    def auth(argument, server):
        mechanism, _, payload = argument.partition(" ")
        assert mechanism == "XOAUTH2"
        fields = base64.b64decode(payload).decode().split("\x01")
        seen.append(fields[1])
        if fields[1] == "auth=Bearer fresh-token":
            return "235 2.7.0 Accepted"
        challenge = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
        return "334 " + base64.b64encode(challenge.encode()).decode()

    server = fake({"AUTH": auth}, extensions=("PIPELINING", "AUTH LOGIN PLAIN XOAUTH2"))
    return server, seen


def test_xoauth2_expired_token_asks_the_provider_once_more(fake):
    server, seen = xoauth2_server(fake)
    tokens = iter(["expired-token", "fresh-token"])
    calls = []

    def provider():
        calls.append(1)
        return next(tokens)

    transport = SMTPTransport(
        f"smtp://me%40example.com@127.0.0.1:{server.port}?tls=none", oauth_token_provider=provider
    )
    assert transport.send(msg()).provider_message_id == "FAKE1"
    assert len(calls) == 2
    assert seen == ["auth=Bearer expired-token", "auth=Bearer fresh-token"]


def test_xoauth2_gives_up_after_one_refresh(fake):
    server, _ = xoauth2_server(fake)
    calls = []

    def provider():
        calls.append(1)
        return "always-expired-token"

    transport = SMTPTransport(
        f"smtp://me%40example.com@127.0.0.1:{server.port}?tls=none", oauth_token_provider=provider
    )
    with pytest.raises(TransportRejected) as caught:
        transport.send(msg())
    assert len(calls) == 2
    assert "always-expired-token" not in str(caught.value)
    assert "MAIL" not in server.verbs()


def test_xoauth2_static_token_from_url(fake):
    server, seen = xoauth2_server(fake)
    SMTPTransport(f"smtp://me%40example.com@127.0.0.1:{server.port}?tls=none&oauth_token=fresh-token").send(msg())
    assert seen == ["auth=Bearer fresh-token"]


def test_failing_token_provider_is_transient_and_masked(fake):
    server, _ = xoauth2_server(fake)

    def provider():
        raise RuntimeError("token endpoint unreachable")

    with pytest.raises(TransientError, match="oauth_token_provider failed"):
        SMTPTransport(f"smtp://me%40example.com@127.0.0.1:{server.port}?tls=none", oauth_token_provider=provider).send(
            msg()
        )


# -- check() on faults -----------------------------------------------------------------------------


def test_check_flags_missing_starttls(fake):
    server = fake(extensions=("PIPELINING",))
    steps = list(SMTPTransport(f"smtp://127.0.0.1:{server.port}?tls=starttls").check())
    last = steps[-1]
    assert last.name == "STARTTLS" and not last.ok and "downgrade" in last.hint
    assert "MAIL" not in server.verbs() and "AUTH" not in server.verbs()


def test_check_tcp_step_per_address_with_hint():
    port = closed_port()

    def resolver(host, port_, family):
        return [(socket.AF_INET, ("127.0.0.1", port_))]

    steps = list(SMTPTransport(f"smtp://localhost:{port}?tls=none", resolver=resolver).check())
    tcp = [s for s in steps if s.name.startswith("TCP")]
    assert len(tcp) == 1 and not tcp[0].ok and "port" in tcp[0].hint


def test_check_no_greeting_hint(fake):
    server = fake(greeting=None)
    steps = list(SMTPTransport(f"smtp://127.0.0.1:{server.port}?tls=none&timeout=1").check())
    assert steps[-1].name == "greeting" and not steps[-1].ok and "smtps://" in steps[-1].hint


def test_resolve_after_the_deadline_is_a_connect_failure_not_a_bare_timeout():
    from mailcore_smtp.net import ConnectFailure, resolve

    with pytest.raises(ConnectFailure, match="deadline"):
        resolve("localhost", 25, "auto", Deadline(-1))


def test_failing_custom_resolver_is_classified():
    def resolver(host, port, family):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ConnectionFailed, match="cannot resolve"):
        SMTPTransport("smtp://relay.invalid?tls=none", resolver=resolver).send(msg())
