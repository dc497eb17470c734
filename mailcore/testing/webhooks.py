"""Call a WSGI webhook receiver in-process, as a provider's POST would reach it.

``post(app, "/sendgrid", body, headers)`` builds a WSGI environ (headers become ``HTTP_*``), runs
the app and returns ``(status, body, headers)``. For tests of verifiers and of
:mod:`mailcore.webhooks.app`; no socket is opened.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.util import setup_testing_defaults

__all__ = ["post"]


def post(
    app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]],
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "POST",
    send_length: bool = True,
) -> tuple[int, bytes, dict[str, str]]:
    """One request through ``app``: its status code, body and headers."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if send_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(response_headers)

    answer = b"".join(app(environ, start_response))
    return int(seen["status"].split()[0]), answer, seen["headers"]
