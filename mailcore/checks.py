"""Network steps of ``mailcore check`` shared by every HTTP API transport: DNS, TCP and TLS.

A transport's :meth:`~mailcore.transport.Transport.check` reports how far it gets towards its
provider before it tries the credentials. The first three steps are the same for any HTTPS API,
so they live here::

    from mailcore.checks import endpoint_steps

    def check(self):
        reachable = yield from endpoint_steps("https://api.example.com", cafile=self.cafile, timeout=10)
        if reachable:
            yield self._check_credentials()  # the provider-specific step

:func:`endpoint_steps` takes the API's root URL; :func:`network_steps` takes a host, a port and
an :class:`ssl.SSLContext` already built (``None`` for plain ``http://``).

Each step is timed; a failing step carries a hint and ends the sequence. Only the standard
library is imported, so importing this module costs nothing worth measuring.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Generator
from urllib.parse import urlsplit

from mailcore.transport import CheckStep

__all__ = ["endpoint_steps", "network_steps"]

#: Hint of a failed ``dns`` step unless the caller gives a better one.
DEFAULT_DNS_HINT = "check the host name"


def endpoint_steps(
    url: str,
    *,
    cafile: str | None,
    timeout: float,
    dns_hint: str = DEFAULT_DNS_HINT,
    report_plain: bool = True,
) -> Generator[CheckStep, None, bool]:
    """:func:`network_steps` to the host and port of ``url`` (``http://`` or ``https://``).

    The TLS certificate is verified against the system store, or ``cafile`` when given.
    """
    parts = urlsplit(url)
    https = parts.scheme == "https"
    return (
        yield from network_steps(
            parts.hostname or "",
            parts.port or (443 if https else 80),
            ssl_context=ssl.create_default_context(cafile=cafile) if https else None,
            timeout=timeout,
            dns_hint=dns_hint,
            report_plain=report_plain,
        )
    )


def network_steps(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
    dns_hint: str = DEFAULT_DNS_HINT,
    report_plain: bool = True,
) -> Generator[CheckStep, None, bool]:
    """Yield the ``dns``, ``tcp`` and ``tls`` steps to ``host:port``; return whether all passed.

    ``ssl_context=None`` means a plain ``http://`` endpoint: no handshake is made, and a passing
    ``tls`` step says so unless ``report_plain`` is false. ``dns_hint`` is shown when the name
    does not resolve (a transport that derives the host from a region can say so). Use it with
    ``reachable = yield from network_steps(...)``.
    """
    started = time.perf_counter()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        yield CheckStep("dns", False, f"{host}: {error}", _since(started), dns_hint)
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    yield CheckStep("dns", True, f"{host} → {', '.join(addresses)}", _since(started))

    started = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        firewall = "a firewall or proxy may block outgoing HTTPS"
        yield CheckStep("tcp", False, f"{host}:{port}: {error}", _since(started), firewall)
        return False
    with sock:
        yield CheckStep("tcp", True, f"connected to {sock.getpeername()[0]}:{port}", _since(started))
        if ssl_context is None:
            if report_plain:
                yield CheckStep("tls", True, "skipped: plain http:// endpoint, no TLS", skipped=True)
            return True
        return (yield from _tls_step(sock, host, ssl_context))


def _tls_step(sock: socket.socket, host: str, context: ssl.SSLContext) -> Generator[CheckStep, None, bool]:
    started = time.perf_counter()
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            detail = f"{tls.version()}, certificate verified for {host}"
    except (OSError, ssl.SSLError) as error:
        hint = (
            "set cafile=/path/to/ca.pem to trust a private CA"
            if isinstance(error, ssl.SSLCertVerificationError)
            else None
        )
        yield CheckStep("tls", False, str(error), _since(started), hint)
        return False
    yield CheckStep("tls", True, detail, _since(started))
    return True


def _since(started: float) -> float:
    return time.perf_counter() - started
