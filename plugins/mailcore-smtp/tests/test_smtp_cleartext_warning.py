"""Issue 13, finding 11: AUTH without TLS to a host that is not loopback is logged, once.

The server is aiosmtpd on 127.0.0.1 with AUTH allowed in plaintext; a resolver maps the name
``relay.example.com`` to it, so the transport believes it talks to a remote host.
"""

from __future__ import annotations

import logging
import socket

from smtp_peers import PASSWORD, USER, start_aiosmtpd

from mailcore import Message
from mailcore_smtp.transport import SMTPTransport


def _to_local(port):
    def resolver(host, _port, family):
        return [(socket.AF_INET, ("127.0.0.1", port))]

    return resolver


def _send_twice(url, port):
    transport = SMTPTransport(url, resolver=_to_local(port))
    for _ in range(2):
        transport.send(Message("a@example.com", ["b@example.org"], "s", text="t"))
    transport.close()


def test_plaintext_auth_off_loopback_is_warned_once(server_context, cafile, caplog):
    server = start_aiosmtpd(server_context, cafile, require_starttls=False, auth_require_tls=False)
    caplog.set_level(logging.WARNING, logger="mailcore")
    try:
        _send_twice(f"smtp://{USER}:{PASSWORD}@relay.example.com:{server.port}?tls=none&pool=1", server.port)
    finally:
        server.controller.stop()
    warnings = [r.getMessage() for r in caplog.records if "without TLS" in r.getMessage()]
    assert len(warnings) == 1
    assert "relay.example.com" in warnings[0] and PASSWORD not in warnings[0]
    assert "EMAIL_USE_TLS" in warnings[0]


def test_plaintext_auth_on_loopback_is_not_warned(server_context, cafile, caplog):
    server = start_aiosmtpd(server_context, cafile, require_starttls=False, auth_require_tls=False)
    caplog.set_level(logging.WARNING, logger="mailcore")
    try:
        _send_twice(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{server.port}?tls=none", server.port)
    finally:
        server.controller.stop()
    assert not [r for r in caplog.records if "without TLS" in r.getMessage()]
