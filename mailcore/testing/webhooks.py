"""Call a WSGI webhook receiver in-process, as a provider's POST would reach it.

``post(app, "/sendgrid", body, headers)`` builds a WSGI environ (headers become ``HTTP_*``), runs
the app and returns ``(status, body, headers)``. For tests of verifiers and of
:mod:`mailcore.webhooks.app`; no socket is opened.

``with event_store(tmp_path / "events.sqlite3") as pipeline:`` sends everything the default
dispatch stores (:func:`mailcore.webhooks.app.dispatch_events`) to that file for the block;
``pipeline.wait_idle()`` waits until the hook has seen every stored event.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.util import setup_testing_defaults

if TYPE_CHECKING:
    from mailcore.webhooks.pipeline import EventPipeline

__all__ = ["event_store", "post"]


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


@contextmanager
def event_store(path: str | Path) -> Iterator[EventPipeline]:
    """Within the block, verified events are stored in the SQLite file ``path`` and handled there
    (the process's default pipeline); the pipeline is stopped and forgotten afterwards."""
    from mailcore.webhooks.pipeline import EventPipeline, reset_default_pipeline, use_default_pipeline

    pipeline = use_default_pipeline(EventPipeline(f"sqlite:///{Path(path).absolute()}"))
    try:
        yield pipeline
    finally:
        reset_default_pipeline()
