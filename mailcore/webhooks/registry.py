"""Webhook name → verifier factory, filled by plugins through ``mailcore_register_webhooks``.

Like transports, a plugin registers a ``"package.module:attribute"`` string, imported only when
a receiver for that provider is built, so a plugin's entry module stays cheap and core holds no
vendor knowledge. The factory takes the provider's settings (a mapping of strings such as
``{"public_key": "..."}``) and returns a :class:`mailcore.events.WebhookVerifier`.

Settings come from the application (``make_app({"sendgrid": {...}})``) or from the environment:
``MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY=...`` becomes ``{"public_key": "..."}`` for ``sendgrid``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Union

from mailcore.errors import ConfigurationError
from mailcore.events import WebhookVerifier
from mailcore.lazy_registry import LazyRegistry, load_callable

__all__ = [
    "ENV_PREFIX",
    "VerifierFactory",
    "WebhookRegistry",
    "WebhookSpec",
    "build_verifier",
    "build_verifiers",
    "settings_from_env",
]

VerifierFactory = Callable[[Mapping[str, str]], WebhookVerifier]
ENV_PREFIX = "MAILCORE_WEBHOOK_"


@dataclass
class WebhookSpec:
    """One registered webhook: where its verifier factory lives and which plugin registered it."""

    provider: str
    factory: Union[str, VerifierFactory]  # noqa: UP007 - runtime alias
    plugin: str
    description: str = ""

    def load(self) -> VerifierFactory:
        """Import the factory on first use; a broken plugin is a ConfigurationError naming it."""
        if callable(self.factory):
            return self.factory
        factory: VerifierFactory = load_callable(
            self.factory,
            lambda error: ConfigurationError(
                f"the {self.provider} webhook of plugin {self.plugin!r} cannot be loaded "
                f"({type(error).__name__}: {error}); reinstall the plugin"
            ),
            f"{self.factory!r} registered for the {self.provider} webhook is not callable",
        )
        self.factory = factory
        return factory


class WebhookRegistry(LazyRegistry[WebhookSpec]):
    """Maps webhook names (``"sendgrid"``) to verifier factories."""

    kind = "webhook"

    def add(self, provider: str, factory: str | VerifierFactory, *, description: str = "") -> None:
        """Register ``factory`` for the ``provider`` webhook (called from a plugin's hook)."""
        plugin = self.current_plugin
        self._register(provider, lambda name: WebhookSpec(name, factory, plugin, description))

    def providers(self) -> list[str]:
        return self.names()

    def get(self, provider: str) -> WebhookSpec:
        spec = self._find(provider)
        if spec is None:
            raise ConfigurationError(
                f"no webhook verifier for {provider!r}; installed: {', '.join(self.providers()) or '(none)'}. "
                "Install the provider's plugin, e.g. pip install 'steadymail[sendgrid]'"
            )
        return spec


def settings_from_env(provider: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``MAILCORE_WEBHOOK_<PROVIDER>_<NAME>`` variables as ``{"<name>": value}`` (names lower-case)."""
    env = os.environ if environ is None else environ
    prefix = f"{ENV_PREFIX}{provider.upper()}_"
    return {key[len(prefix) :].lower(): value for key, value in env.items() if key.startswith(prefix)}


def build_verifier(
    provider: str, settings: Mapping[str, str] | None = None, registry: WebhookRegistry | None = None
) -> WebhookVerifier:
    """The verifier for ``provider``, built by its plugin from ``settings`` (else the environment)."""
    if registry is None:
        from mailcore.plugins import get_webhook_registry

        registry = get_webhook_registry()
    factory = registry.get(provider).load()
    return factory(settings_from_env(provider) if settings is None else settings)


def build_verifiers(
    config: Mapping[str, Mapping[str, str]] | None = None,
    *,
    registry: WebhookRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, WebhookVerifier]:
    """A verifier for each provider in ``config`` (``{"sendgrid": {"public_key": ...}}``).

    Without ``config``, every provider with ``MAILCORE_WEBHOOK_<PROVIDER>_*`` variables set.
    Every receiver (WSGI, Django) builds its verifiers here, at start-up, so a bad key fails
    before the first request.

    :raises ConfigurationError: when nothing is configured, or a provider's settings are wrong.
    """
    if config is None:
        env = os.environ if environ is None else environ
        names = {key[len(ENV_PREFIX) :].split("_", 1)[0].lower() for key in env if key.startswith(ENV_PREFIX)}
        config = {name: settings_from_env(name, env) for name in sorted(names)}
        if not config:
            raise ConfigurationError(
                "no webhook configured: set e.g. MAILCORE_WEBHOOK_SENDGRID_PUBLIC_KEY or "
                "MAILCORE_WEBHOOK_MAILGUN_SIGNING_KEY, or pass the providers' settings"
            )
    return {name.lower(): build_verifier(name, settings, registry) for name, settings in config.items()}
