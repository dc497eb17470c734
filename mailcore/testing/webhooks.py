"""Call a WSGI webhook receiver in-process, as a provider's POST would reach it.

``post(app, "/sendgrid", body, headers)`` builds a WSGI environ (headers become ``HTTP_*``), runs
the app and returns ``(status, body, headers)``. For tests of verifiers and of
:mod:`mailcore.webhooks.app`; no socket is opened.

``with event_store(tmp_path / "events.sqlite3") as pipeline:`` sends everything the default
dispatch stores (:func:`mailcore.webhooks.app.dispatch_events`) to that file for the block;
``pipeline.wait_idle()`` waits until the hook has seen every stored event.

``with captured_events(tmp_path / "events.sqlite3") as captured:`` does the same and records
what reaches the ``mailcore_delivery_event`` hook; ``captured.seen()`` waits for the background
handler, then returns those events in order.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.util import setup_testing_defaults

from mailcore.plugins import hookimpl

if TYPE_CHECKING:
    from mailcore.events import DeliveryEvent
    from mailcore.webhooks.pipeline import EventPipeline

__all__ = ["CapturedEvents", "captured_events", "event_store", "post"]


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


class CapturedEvents:
    """A ``mailcore_delivery_event`` hook implementation that records each event it is given."""

    def __init__(self, pipeline: EventPipeline) -> None:
        self.pipeline = pipeline
        self._events: list[DeliveryEvent] = []

    @hookimpl
    def mailcore_delivery_event(self, event: DeliveryEvent) -> None:
        self._events.append(event)

    def seen(self, timeout: float = 30.0) -> list[DeliveryEvent]:
        """Every event the hook received, after the handler finished what was stored so far."""
        if not self.pipeline.wait_idle(timeout):
            raise AssertionError(f"the event pipeline did not finish handling within {timeout} s")
        return list(self._events)


@contextmanager
def captured_events(path: str | Path) -> Iterator[CapturedEvents]:
    """:func:`event_store` at ``path`` plus a registered :class:`CapturedEvents` for the block."""
    from mailcore.plugins import get_plugin_manager

    with event_store(path) as pipeline:
        capture = CapturedEvents(pipeline)
        manager = get_plugin_manager()
        manager.register(capture, name=f"mailcore-testing-capture-{id(capture)}")
        try:
            yield capture
        finally:
            manager.unregister(capture)
