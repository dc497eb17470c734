"""A framework-neutral WSGI receiver for provider webhooks: one path per provider.

``POST /sendgrid``, ``POST /mailgun`` …: the body is read (up to ``max_body`` bytes), handed to the
provider's verifier, and the verified events to the dispatch — by default
:func:`dispatch_events`, which *stores* them in the outbox file (one transaction, redeliveries
stored once) and returns; a background handler then calls the ``mailcore_delivery_event`` hook,
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
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mailcore.errors import ConfigurationError, WebhookRejected
from mailcore.events import DeliveryEvent, WebhookVerifier
from mailcore.webhooks.registry import ENV_PREFIX, WebhookRegistry, build_verifier, settings_from_env

if TYPE_CHECKING:
    from mailcore.webhooks.pipeline import EventPipeline

__all__ = ["DEFAULT_MAX_BODY", "WebhookApp", "application", "dispatch_events", "hook_dispatch", "make_app"]

log = logging.getLogger("mailcore.webhooks")

#: Largest body accepted by default (SendGrid batches stay well below it).
DEFAULT_MAX_BODY = 5 * 1024 * 1024
Dispatch = Callable[[DeliveryEvent], None]
StartResponse = Callable[..., Any]
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large", 500: "Internal Server Error"}


def dispatch_events(events: Sequence[DeliveryEvent]) -> None:
    """The one entry point for verified events (webhooks, DSNs, the Django view).

    Stores ``events`` in the process's :func:`~mailcore.webhooks.pipeline.default_pipeline`
    (the outbox file of ``MAILCORE_OUTBOX``) in one transaction and returns once they are on
    disk; the pipeline's background thread handles them (hook, suppression list, settling).
    Raises when the store refuses them: answer the provider with an error so it redelivers.
    """
    if not events:
        return
    from mailcore.webhooks.pipeline import default_pipeline

    default_pipeline().submit(events)


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
        body, status = self._read(environ)
        if body is None:
            _log_refusal(environ, provider, "too_large" if status == 413 else "no_length", -1)
            return _answer(start_response, status, "body too large" if status == 413 else "Content-Length required")
        try:
            headers = _headers(environ)
            events = verifier.verify_and_parse(headers, body)
        except WebhookRejected as error:
            _log_refusal(environ, provider, error.reason, len(body))
            return _answer(start_response, error.status, f"rejected: {error.reason}")
        except Exception as error:
            log.error("%s webhook verifier raised %s; answered 500", provider, type(error).__name__)
            return _answer(start_response, 500, "verifier error")
        try:
            if self.dispatch is hook_dispatch and self.pipeline is not None:
                self.pipeline.submit(events)  # one transaction for the whole batch
            elif self.dispatch is hook_dispatch:
                dispatch_events(events)
            else:
                for event in events:
                    self.dispatch(event)
        except Exception as error:
            log.error(
                "%s webhook: dispatch raised %s; answered 500, the provider will redeliver",
                provider,
                type(error).__name__,
            )
            _release(verifier, provider, headers, body)
            return _answer(start_response, 500, "dispatch error")
        log.debug("%s webhook: %d event(s) stored", provider, len(events))
        return _answer(start_response, 200, "ok")

    def _read(self, environ: dict[str, Any]) -> tuple[bytes | None, int]:
        """The body, or (None, 413/411) when it is too large or its length unknown."""
        raw_length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if raw_length.strip().isdigit():
            length = int(raw_length)
            if length > self.max_body:
                return None, 413
            return stream.read(length), 200
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() != "chunked" and not environ.get("wsgi.input_terminated"):
            return None, 411
        body: bytes = stream.read(self.max_body + 1)
        return (body, 200) if len(body) <= self.max_body else (None, 413)


def _release(verifier: WebhookVerifier, provider: str, headers: Mapping[str, str], body: bytes) -> None:
    """Let a verifier forget the one-time token of a request that was not processed (optional method)."""
    release = getattr(verifier, "release", None)
    if release is None:
        return
    try:
        release(headers, body)
    except Exception as error:
        log.error(
            "%s webhook: release raised %s; a redelivery may be refused as a replay", provider, type(error).__name__
        )


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers by their HTTP names (``X-Foo-Bar``) from the WSGI environ."""
    headers = {
        key[5:].replace("_", "-").title(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    return headers


def _log_refusal(environ: Mapping[str, Any], provider: str, reason: str, size: int) -> None:
    log.warning(
        "%s webhook refused (%s) from %s, %s bytes",
        provider,
        reason,
        environ.get("REMOTE_ADDR", "?"),
        size if size >= 0 else environ.get("CONTENT_LENGTH") or "?",
    )


def _answer(
    start_response: StartResponse, status: int, text: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = (text + "\n").encode("ascii")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(f"{status} {_REASONS.get(status, '')}".rstrip(), headers)
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

    ``outbox`` (``sqlite:///path``) stores events in that file, with its own background handler
    started here; default: the process's pipeline on ``MAILCORE_OUTBOX``, also started here, so
    events an earlier process stored but did not handle are handled as the receiver starts.

    Without ``config``, every provider with ``MAILCORE_WEBHOOK_<PROVIDER>_*`` variables set is
    served. Verifiers are built (and their keys checked) here, so a bad key fails at start-up.
    """
    if config is None:
        env = os.environ if environ is None else environ
        names = {key[len(ENV_PREFIX) :].split("_", 1)[0].lower() for key in env if key.startswith(ENV_PREFIX)}
        config = {name: settings_from_env(name, env) for name in sorted(names)}
        if not config:
            raise ConfigurationError(
                "no webhook configured: set e.g. MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY or "
                "MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY, or pass make_app({...})"
            )
    verifiers = {name: build_verifier(name, settings, registry) for name, settings in config.items()}
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
