"""A framework-neutral WSGI receiver for provider webhooks: one path per provider.

``POST /sendgrid``, ``POST /mailgun`` …: the body is read (up to ``max_body`` bytes), handed to the
provider's verifier, and the verified events to the dispatch — by default
:func:`dispatch_events`, which *stores* them beside the outbox (a SQLite file or a PostgreSQL
database; one transaction, redeliveries stored once) and returns; a background handler then calls the ``mailcore_delivery_event`` hook,
feeds the suppression list and settles ``unknown`` outbox rows
(:mod:`mailcore.webhooks.pipeline`). Answers:

* 200 — verified and stored (also for a batch with no events);
* 4xx — refused: 400 malformed, 401 missing/stale signature, 403 bad signature or replayed
  token, 404 unknown provider path, 405 not POST, 411/413 no length or body too large.
  Logged on ``mailcore.webhooks`` with provider, reason, client address and size — never the
  body, headers or signature;
* 500 — the verifier or the dispatch raised (a custom one, or the store: disk full, database
  locked): the provider redelivers later. After a
  failed dispatch the verifier's optional ``release(headers, body)`` is called, so a one-time
  token (Mailgun) is forgotten and the redelivery is not refused as a replay.

Run it with any WSGI server, configured from the environment
(``MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY``, ``MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY`` …)::

    gunicorn 'mailcore.webhooks.app:application'

or build one in code with :func:`make_app`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mailcore.errors import ConfigurationError
from mailcore.events import DeliveryEvent, WebhookVerifier
from mailcore.webhooks.receive import REASONS, check_length, each_event, handle_request, log_refusal
from mailcore.webhooks.registry import WebhookRegistry, build_verifiers

if TYPE_CHECKING:
    from mailcore.webhooks.pipeline import EventPipeline

__all__ = ["DEFAULT_MAX_BODY", "WebhookApp", "application", "dispatch_events", "hook_dispatch", "make_app"]

log = logging.getLogger("mailcore.webhooks")

#: Largest body accepted by default (SendGrid batches stay well below it).
DEFAULT_MAX_BODY = 5 * 1024 * 1024
Dispatch = Callable[[DeliveryEvent], None]
StartResponse = Callable[..., Any]


def dispatch_events(events: Sequence[DeliveryEvent], *, outbox: str | None = None) -> None:
    """The one entry point for verified events (webhooks, DSNs, the Django view).

    Stores ``events`` in the process's :func:`~mailcore.webhooks.pipeline.default_pipeline`
    (the SQLite or PostgreSQL outbox of ``MAILCORE_OUTBOX``) — or, with ``outbox``, the
    process's pipeline on that URL (the Django view: ``django://ALIAS``) — in one transaction
    and returns once they are committed to disk; the pipeline's background thread handles them
    (hook, suppression list, settling). Raises when the store refuses them: answer the provider
    with an error so it redelivers.
    """
    if not events:
        return
    from mailcore.webhooks.pipeline import pipeline_for

    pipeline_for(outbox).submit(events)


def hook_dispatch(event: DeliveryEvent) -> None:
    """:func:`dispatch_events` for one event (kept for callers that dispatch one at a time)."""
    dispatch_events([event])


class WebhookApp:
    """The WSGI application. ``verifiers`` maps a path segment (``"sendgrid"``) to its verifier.

    :param max_body: larger bodies get 413 without being read.
    :param dispatch: called once per verified event, in order; by default the events of a request
        are stored together (:func:`dispatch_events`) and handled in the background. If it
        raises, the request gets 500 so the provider redelivers (make a custom one idempotent:
        use ``event.provider_event_id``).
    :param pipeline: where the default dispatch stores events (an
        :class:`~mailcore.webhooks.pipeline.EventPipeline`); default: the process's pipeline on
        ``MAILCORE_OUTBOX``.
    """

    def __init__(
        self,
        verifiers: Mapping[str, WebhookVerifier],
        *,
        max_body: int = DEFAULT_MAX_BODY,
        dispatch: Dispatch = hook_dispatch,
        pipeline: EventPipeline | None = None,
    ) -> None:
        if not verifiers:
            raise ConfigurationError("a webhook receiver needs at least one provider verifier")
        self.verifiers = {name.strip("/").lower(): verifier for name, verifier in verifiers.items()}
        self.max_body = max_body
        self.dispatch = dispatch
        self.pipeline = pipeline

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        provider = str(environ.get("PATH_INFO", "")).strip("/").lower()
        verifier = self.verifiers.get(provider)
        if verifier is None:
            return _answer(start_response, 404, "unknown webhook path")
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, 405, "use POST", [("Allow", "POST")])
        client = str(environ.get("REMOTE_ADDR", "?"))
        refused = check_length(
            environ.get("CONTENT_LENGTH"),
            environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
            or bool(environ.get("wsgi.input_terminated")),
            self.max_body,
        )
        if refused is not None:
            reason = "too_large" if refused.status == 413 else "no_length"
            log_refusal(provider, reason, client, environ.get("CONTENT_LENGTH") or "?")
            return _answer(start_response, refused.status, refused.text)
        body = self._read(environ)
        if body is None:
            log_refusal(provider, "too_large", client, "?")
            return _answer(start_response, 413, "body too large")
        answer = handle_request(
            provider, verifier, _headers(environ), body, dispatch=self._dispatch_batch, client=client
        )
        return _answer(start_response, answer.status, answer.text)

    def _dispatch_batch(self, events: Sequence[DeliveryEvent]) -> None:
        """The default dispatch stores a request's events together (one transaction) in this
        app's pipeline or the process's; a custom one is called once per event."""
        if self.dispatch is not hook_dispatch:
            each_event(self.dispatch)(events)
        elif self.pipeline is not None:
            self.pipeline.submit(events)
        else:
            dispatch_events(events)

    def _read(self, environ: dict[str, Any]) -> bytes | None:
        """The body (length already checked), or None when a chunked body exceeds ``max_body``."""
        raw_length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if raw_length.strip().isdigit():
            data: bytes = stream.read(int(raw_length))
            return data
        body: bytes = stream.read(self.max_body + 1)
        return body if len(body) <= self.max_body else None


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers by their HTTP names (``X-Foo-Bar``) from the WSGI environ."""
    headers = {
        key[5:].replace("_", "-").title(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    return headers


def _answer(
    start_response: StartResponse, status: int, text: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = (text + "\n").encode("ascii")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(f"{status} {REASONS.get(status, '')}".rstrip(), headers)
    return [body]


def make_app(
    config: Mapping[str, Mapping[str, str]] | None = None,
    *,
    registry: WebhookRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    dispatch: Dispatch = hook_dispatch,
    outbox: str | None = None,
) -> WebhookApp:
    """A receiver for each provider in ``config`` (``{"sendgrid": {"public_key": ...}}``).

    ``outbox`` (``sqlite:///path`` or ``postgresql://…``) stores events in that outbox, with its
    own background handler started here; default: the process's pipeline on ``MAILCORE_OUTBOX``, also started here, so
    events an earlier process stored but did not handle are handled as the receiver starts.

    Without ``config``, every provider with ``MAILCORE_WEBHOOK_<PROVIDER>_*`` variables set is
    served. Verifiers are built (and their keys checked) here, so a bad key fails at start-up.
    """
    verifiers = build_verifiers(config, registry=registry, environ=environ)
    pipeline = None
    if outbox is not None:
        from mailcore.webhooks.pipeline import EventPipeline

        pipeline = EventPipeline(outbox).start()
    elif dispatch is hook_dispatch:
        from mailcore.webhooks.pipeline import default_pipeline

        default_pipeline()  # start the handler now: events an earlier process left are handled at start
    return WebhookApp(verifiers, max_body=max_body, dispatch=dispatch, pipeline=pipeline)


_lock = threading.Lock()
_app: list[WebhookApp] = []


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The receiver configured from the environment, built on the first request (for WSGI servers)."""
    with _lock:
        if not _app:
            _app.append(make_app())
    return _app[0](environ, start_response)
