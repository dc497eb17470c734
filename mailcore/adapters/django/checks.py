"""System checks for the mailcore Django backend (``manage.py check``).

* ``mailcore.E001`` — the options or the transport URL are invalid;
* ``mailcore.E002`` — no installed plugin provides a scheme the URL uses;
* ``mailcore.E003`` — the console transport is configured while ``DEBUG`` is False (mail would
  be printed, not delivered), unless ``ALLOW_CONSOLE``/``allow_console`` is True;
* ``mailcore.E004`` — a transport URL parameter is unknown or invalid (``?timout=5``), checked
  by the transport's plugin without connecting;
* ``mailcore.E005`` — a RETRY, POLICY or QUEUE value is unknown or of the wrong type
  (``RETRY = {"attemps": 3}``, ``{"attempts": "x"}``), or ``QUEUE = "django://ALIAS"`` names
  no ``DATABASES`` entry;
* ``mailcore.W001`` — ``settings.MAILCORE`` exists but no email backend uses mailcore, so the
  setting has no effect;
* ``mailcore.W002`` — the QUEUE outbox URL is a relative path (three slashes), so it depends on
  the working directory of each process.
* ``mailcore.W020`` (tag ``security``) — SMTP credentials would be sent without TLS to a host
  that is not loopback (``EMAIL_HOST_USER``/``PASSWORD`` without ``EMAIL_USE_TLS``/``SSL``, or a
  URL with ``?tls=none``), where anyone on the path can read them.

Every message names the setting and the parameter; the hint says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from django.core import checks  # type: ignore[import-untyped,unused-ignore]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped,unused-ignore]
from django.utils.module_loading import import_string  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.options import django_outbox_url
from mailcore.config import Composite, Node, TransportURL, is_loopback, parse
from mailcore.errors import ConfigurationError, UnknownTransport
from mailcore.redact import Secret

__all__ = ["check_cleartext_credentials", "check_mailcore", "transport_schemes"]

LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def check_mailcore(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Check every mailcore backend configured in MAILERS or EMAIL_BACKEND."""
    found: list[Any] = []
    configured = False
    for label, alias, options in _configurations():
        configured = True
        found.extend(_check_one(label, alias, options))
    if not configured and _mailcore_setting_unused():
        found.append(
            checks.Warning(
                "settings.MAILCORE is set, but no email backend uses mailcore, so it has no effect.",
                hint="Set EMAIL_BACKEND = 'mailcore.adapters.django.EmailBackend' "
                "(or use it as a MAILERS BACKEND on Django 6.1+).",
                id="mailcore.W001",
            )
        )
    return found


def check_cleartext_credentials(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """mailcore.W020: SMTP credentials that would cross the network unencrypted.

    Django's SMTP settings without ``EMAIL_USE_TLS`` become ``?tls=none`` (Django itself never
    tries STARTTLS then), so a password set with them is sent in clear text to any host.
    Loopback hosts (a local relay) are fine. Invalid configurations are left to E001.
    """
    from mailcore.adapters.django.backend import _backend_options, resolve_url

    found: list[Any] = []
    for label, alias, options in _configurations():
        try:
            url = resolve_url(_backend_options(alias, options, frozenset()), alias)
            tree = parse(url)
        except (ImproperlyConfigured, ConfigurationError):
            continue
        for leaf in _leaves(tree):
            if _cleartext_credentials(leaf):
                found.append(
                    checks.Warning(
                        f"{label}: the SMTP user name and password for {leaf.masked()} would be sent without "
                        "TLS to a host that is not loopback; anyone on the network path can read them.",
                        hint="Set EMAIL_USE_TLS = True (STARTTLS, port 587) or EMAIL_USE_SSL = True (port 465); "
                        "in a URL use ?tls=starttls or smtps://. See docs/security.md.",
                        id="mailcore.W020",
                    )
                )
    return found


def _leaves(node: Node) -> Iterator[TransportURL]:
    """Every transport URL in a parsed expression, depth first."""
    if isinstance(node, TransportURL):
        yield node
    elif isinstance(node, Composite):
        for child in node.children:
            yield from _leaves(child)


def _cleartext_credentials(url: TransportURL) -> bool:
    has_credentials = url.password is not None or "oauth_token" in url.params
    return url.scheme == "smtp" and has_credentials and url.get("tls") == "none" and not is_loopback(url.host or "")


def transport_schemes(node: Node) -> Iterator[str]:
    """Every URL scheme in a parsed transport expression, depth first."""
    return (leaf.scheme for leaf in _leaves(node))


def _check_one(label: str, alias: str | None, options: Mapping[str, Any]) -> list[Any]:
    from mailcore.adapters.django.backend import _backend_options, resolve_url
    from mailcore.plugins import get_registry

    try:
        resolved = _backend_options(alias, options, frozenset())
        url = resolve_url(resolved, alias)
    except ImproperlyConfigured as error:  # its text already names MAILCORE, EMAIL_* or the alias
        return [checks.Error(str(error), id="mailcore.E001")]
    found: list[Any] = []
    registry = get_registry()
    schemes = list(dict.fromkeys(transport_schemes(parse(url))))
    for scheme in schemes:
        try:
            registry.get(scheme)
        except UnknownTransport as error:
            found.append(
                checks.Error(
                    f"{label}: no installed plugin sends {scheme}:// URLs.",
                    hint=str(error),
                    id="mailcore.E002",
                )
            )
    found.extend(_parameter_errors(label, _url_setting(label, alias, resolved), url))
    found.extend(_option_errors(label, alias, resolved))
    if "console" in schemes and not settings.DEBUG and not resolved.allow_console:
        found.append(
            checks.Error(
                f"{label}: the console transport prints mail instead of delivering it, and DEBUG is False.",
                hint="Configure a real transport, or set ALLOW_CONSOLE (MAILCORE) / allow_console "
                "(MAILERS OPTIONS) to True if printing is really what you want.",
                id="mailcore.E003",
            )
        )
    return found


def _url_setting(label: str, alias: str | None, resolved: Any) -> str:
    """Where the URL was written: MAILCORE['URL'], MAILERS[...]['OPTIONS']['url'] or EMAIL_*."""
    if resolved.url is None:
        return "the EMAIL_* settings" if alias is None else f"{label}['OPTIONS'] (host, port, …)"
    return f"{label}['URL']" if alias is None else f"{label}['OPTIONS']['url']"


def _parameter_errors(label: str, where: str, url: str | Secret) -> list[Any]:
    from mailcore.policy.validate import url_problems

    return [
        checks.Error(
            f"{where}: {problem}",
            hint="Fix or remove the parameter; each transport's page in docs/ lists what its URL accepts.",
            id="mailcore.E004",
        )
        for problem in url_problems(url)
        if not isinstance(problem, UnknownTransport)
    ]


def _option_errors(label: str, alias: str | None, resolved: Any) -> list[Any]:
    """RETRY, POLICY and QUEUE: known keys, values of the right type (no I/O)."""
    from mailcore.policy.retry import RetryPolicy
    from mailcore.policy.validate import mailer_option_problems

    def setting(name: str) -> str:
        return f"{label}[{name.upper()!r}]" if alias is None else f"{label}['OPTIONS'][{name!r}]"

    found: list[Any] = []
    if resolved.retry is not None:
        try:
            RetryPolicy.coerce(resolved.retry)
        except ConfigurationError as error:
            found.append(_option_error(setting("retry"), str(error), "retry"))
    for key, problem in mailer_option_problems(resolved.policy):
        found.append(_option_error(f"{setting('policy')}[{key!r}]", problem, "policy"))
    queue = resolved.queue
    if django_outbox_url(queue) is not None:
        found.extend(_django_queue_errors(setting("queue"), str(django_outbox_url(queue))))
    elif isinstance(queue, str) and queue not in ("celery", "outbox"):
        found.extend(_queue_errors(setting("queue"), queue))
    return found


def _django_queue_errors(where: str, url: str) -> list[Any]:
    """``QUEUE = "db"`` / ``django://ALIAS``: the alias exists and the URL's parameters are known
    (nothing is connected: whether the tables exist is for ``migrate`` to say)."""
    from mailcore.adapters.django.outbox import check_django_outbox_url

    try:
        alias, _ = check_django_outbox_url(url)
    except ConfigurationError as error:
        return [
            checks.Error(
                f"{where}: {error}",
                hint="Use 'db' (the default database) or django://ALIAS naming a DATABASES entry; see docs/django.md.",
                id="mailcore.E005",
            )
        ]
    if alias is not None and alias not in settings.DATABASES:
        configured = ", ".join(settings.DATABASES) or "none"
        return [
            checks.Error(
                f"{where}: {url!r} names the database alias {alias!r}, which is not in DATABASES "
                f"(configured: {configured}).",
                hint="Use 'db' for the database Django's routers choose, or django://ALIAS of a DATABASES entry.",
                id="mailcore.E005",
            )
        ]
    return []


def _option_error(where: str, problem: str, option: str) -> Any:
    hints = {
        "retry": "RETRY is a dict of mailcore.RetryPolicy fields, e.g. {'attempts': 3, 'first_delay': 0.5}; "
        "see docs/policies.md.",
        "policy": "POLICY is a dict of mailcore.Mailer options, e.g. {'strategy': 'failover'}; see docs/django.md.",
    }
    return checks.Error(f"{where}: {problem}", hint=hints[option], id="mailcore.E005")


def _queue_errors(where: str, queue: str) -> list[Any]:
    from mailcore.outbox.location import outbox_path

    try:
        path = outbox_path(queue)
    except ConfigurationError as error:
        return [checks.Error(f"{where}: {error}", hint="Use sqlite:////absolute/path.sqlite3.", id="mailcore.E005")]
    if path.is_absolute():
        return []
    return [
        checks.Warning(
            f"{where}: {queue!r} is a relative path, resolved against each process's working directory.",
            hint=f"Absolute paths take four slashes: sqlite:////{str(path).lstrip('/')} (if that is what you meant).",
            id="mailcore.W002",
        )
    ]


def _configurations() -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
    """(label, alias, options) for each mailcore backend in the settings."""
    mailers = getattr(settings, "MAILERS", None)
    if mailers is not None:
        for alias, config in mailers.items():
            if _is_mailcore(config.get("BACKEND", "")):
                yield f"MAILERS[{alias!r}]", alias, config.get("OPTIONS", {})
        return
    if _is_mailcore(getattr(settings, "EMAIL_BACKEND", "")):
        yield "settings.MAILCORE" if hasattr(settings, "MAILCORE") else "EMAIL_* settings", None, {}


def _is_mailcore(path: str) -> bool:
    from mailcore.adapters.django.backend import EmailBackend

    try:
        backend = import_string(path)
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, EmailBackend)


def _mailcore_setting_unused() -> bool:
    if not hasattr(settings, "MAILCORE"):
        return False
    # Under Django's test runner the backend is swapped for locmem; the setting is used outside tests.
    swapped_for_tests = (
        getattr(settings, "MAILERS", None) is None and getattr(settings, "EMAIL_BACKEND", "") == LOCMEM_BACKEND
    )
    return not swapped_for_tests
