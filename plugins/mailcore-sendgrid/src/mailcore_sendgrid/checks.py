"""Network steps of ``mailcore check``: DNS, TCP and TLS to the API host, each timed and reported."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Generator

from mailcore.transport import CheckStep

__all__ = ["network_steps"]


def network_steps(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None, timeout: float
) -> Generator[CheckStep, None, bool]:
    """Yield the DNS, TCP and TLS steps; return False as soon as one fails."""
    started = time.perf_counter()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        yield CheckStep("dns", False, f"{host}: {error}", time.perf_counter() - started, "check the host name")
        return False
    addresses = sorted({str(info[4][0]) for info in infos})
    yield CheckStep("dns", True, f"{host} → {', '.join(addresses)}", time.perf_counter() - started)

    started = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        firewall = "a firewall or proxy may block outgoing HTTPS"
        yield CheckStep("tcp", False, f"{host}:{port}: {error}", time.perf_counter() - started, firewall)
        return False
    with sock:
        yield CheckStep("tcp", True, f"connected to {sock.getpeername()[0]}:{port}", time.perf_counter() - started)
        if ssl_context is None:
            yield CheckStep("tls", True, "skipped: plain http:// endpoint")
            return True
        started = time.perf_counter()
        try:
            with ssl_context.wrap_socket(sock, server_hostname=host) as tls:
                detail = f"{tls.version()}, certificate verified for {host}"
        except (OSError, ssl.SSLError) as error:
            hint = (
                "set cafile=/path/to/ca.pem to trust a private CA"
                if isinstance(error, ssl.SSLCertVerificationError)
                else None
            )
            yield CheckStep("tls", False, str(error), time.perf_counter() - started, hint)
            return False
        yield CheckStep("tls", True, detail, time.perf_counter() - started)
    return True
