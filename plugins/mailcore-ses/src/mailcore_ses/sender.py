"""botocore's requests sent through mailcore's shared HTTP client (wall-clock bounded, capped).

botocore signs and parses; its own HTTP layer sets a socket timeout per read, so a server that
drips its answer could hold an attempt far past ``timeout``. A ``before-send`` handler (the
hook botocore offers for replacing the HTTP layer) hands each signed request to a
:class:`mailcore.http.ConnectionPool` instead: one request, no retry, the whole attempt bounded
by ``min(timeout, time left before the message deadline)``, the answer read with a size cap.

A request that got no readable answer raises :class:`~mailcore.http.RequestFailed` out of
``send_email``; :func:`mailcore_ses.errors.classify_exception` maps it (maybe sent once the
request was written). Proxies configured for botocore are not used on this path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from mailcore.http import ConnectionPool, HTTPAnswer
from mailcore.tlscontext import client_context

__all__ = ["PooledSender"]


class _Body:
    """The ``raw`` object botocore's ``AWSResponse`` reads the (already read) body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._data


def _readable(answer: HTTPAnswer) -> bytes:
    """The body botocore gets: a 2xx whose body is cut, oversized or not JSON becomes ``{}``.

    The status says SES accepted the message; an unreadable body must turn into "accepted, id
    unknown", never into a parser error that a policy would retry (a second copy).
    """
    body = answer.body or b""
    if not 200 <= answer.status < 300:
        return body
    if answer.truncated:
        return b"{}"
    try:
        json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return b"{}"
    return body


class PooledSender:
    """A ``before-send`` handler: send botocore's prepared request over pooled connections."""

    def __init__(self, *, timeout: float, cafile: str | None = None) -> None:
        self.timeout = timeout
        self.cafile = cafile
        self._pools: dict[tuple[str, str, int | None], ConnectionPool] = {}
        self._lock = threading.Lock()

    def pool(self, url: str) -> ConnectionPool:
        """The pool for ``url``'s scheme, host and port (made on first use)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                cafile = self.cafile or os.environ.get("AWS_CA_BUNDLE") or None
                context = client_context(cafile) if parts.scheme == "https" else None
                pool = ConnectionPool(f"{parts.scheme}://{parts.netloc}", timeout=self.timeout, ssl_context=context)
                self._pools[key] = pool
            return pool

    def __call__(self, request: Any, **_kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {
            str(name): value.decode("latin-1") if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        answer = self.pool(request.url).request(request.method, request.url, body or None, headers)
        answer_headers = HTTPHeaders()
        for name, value in answer.headers.items():
            answer_headers[name] = value
        return AWSResponse(request.url, answer.status, answer_headers, _Body(_readable(answer)))

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
