"""The transport and queue registries: URL scheme → lazily imported factory (and validator).

:meth:`TransportRegistry.validate` checks a URL's parameters without opening anything: with the
plugin's registered ``validate`` callable when there is one, else by building the transport and
closing it at once, which the factory contract (no I/O until the first send) makes safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from mailcore.errors import ConfigurationError, UnknownTransport
from mailcore.lazy_registry import LazyRegistry, load_callable

if TYPE_CHECKING:
    from mailcore.config import TransportURL
    from mailcore.transport import Transport

__all__ = [
    "KNOWN_PLUGINS",
    "QueueFactory",
    "QueueRegistry",
    "QueueSpec",
    "TransportFactory",
    "TransportRegistry",
    "TransportSpec",
    "URLValidator",
]

TransportFactory = Callable[["TransportURL"], "Transport"]
#: Checks a URL's parameters without I/O; raises :class:`ConfigurationError` naming the problem.
URLValidator = Callable[["TransportURL"], None]

#: Schemes of mailcore's own plugins, and the install that adds each one.
KNOWN_PLUGINS = {
    "smtp": "steadymail[smtp]",
    "smtps": "steadymail[smtp]",
    "gmail": "steadymail[smtp]",
    "sendgrid": "steadymail[sendgrid]",
    "ses": "steadymail[ses]",
    "mailgun": "steadymail[mailgun]",
    "console": "steadymail[console]",
}


@dataclass
class TransportSpec:
    """One registered scheme: where its factory lives, which plugin registered it, and what its
    transport carries faithfully (``capabilities``, names of :class:`mailcore.capabilities.Capability`)."""

    scheme: str
    factory: Union[str, TransportFactory]  # noqa: UP007 - runtime alias with a string forward ref
    plugin: str
    description: str = ""
    validator: Union[str, URLValidator, None] = None  # noqa: UP007 - runtime alias with a string forward ref
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def load(self) -> TransportFactory:
        """Import the factory (``"package.module:attr.attr"``) on first use."""
        if callable(self.factory):
            return self.factory
        factory: TransportFactory = self._import(self.factory)
        self.factory = factory
        return factory

    def load_validator(self) -> URLValidator | None:
        """Import the registered validator, or None when the plugin registered none."""
        if self.validator is None or callable(self.validator):
            return self.validator
        validator: URLValidator = self._import(self.validator)
        self.validator = validator
        return validator

    def _import(self, target_path: str) -> Any:
        return load_callable(
            target_path,
            lambda error: ConfigurationError(
                f"the {self.scheme}:// transport of plugin {self.plugin!r} cannot be loaded "
                f"({type(error).__name__}: {error}); reinstall it, e.g. pip install "
                f"'{KNOWN_PLUGINS.get(self.scheme, self.plugin)}'"
            ),
            f"{target_path!r} registered for {self.scheme}:// is not callable",
        )


class TransportRegistry(LazyRegistry[TransportSpec]):
    """Maps URL schemes to transport factories; filled by ``mailcore_register_transports``."""

    kind = "scheme"

    def add(
        self,
        scheme: str,
        factory: str | TransportFactory,
        *,
        description: str = "",
        validate: str | URLValidator | None = None,
        capabilities: Iterable[str] = (),
    ) -> None:
        """Register ``factory`` for ``scheme://`` URLs (called from a plugin's hook).

        ``validate`` (optional, ``"package.module:function"`` or a callable) checks a URL's
        parameters without any I/O and raises :class:`ConfigurationError`; without it,
        :meth:`validate` builds the transport and closes it. ``capabilities`` repeats, as data,
        what the transport class declares (shown by ``mailcore plugins`` and docs/capabilities.md
        without importing the transport).
        """
        from mailcore.capabilities import coerce_capabilities
        from mailcore.errors import InvalidMessage

        try:
            caps = frozenset(c.value for c in coerce_capabilities(capabilities, f"{scheme}:// capabilities"))
        except InvalidMessage as error:
            raise ConfigurationError(f"plugin {self.current_plugin!r}: {error}") from None
        plugin = self.current_plugin
        self._register(
            scheme, lambda name: TransportSpec(name, factory, plugin, description, validate, capabilities=caps)
        )

    def schemes(self) -> list[str]:
        return self.names()

    def get(self, scheme: str) -> TransportSpec:
        spec = self._find(scheme)
        if spec is None:
            extra = KNOWN_PLUGINS.get(scheme.lower())
            hint = f"pip install '{extra}' adds it" if extra else "Is a plugin for it installed? See: mailcore plugins"
            raise UnknownTransport(scheme, self.schemes(), hint)
        return spec

    def create(self, url: TransportURL) -> Transport:
        """Build a transport for a parsed URL."""
        return self.get(url.scheme).load()(url)

    def validate(self, url: TransportURL) -> None:
        """Check ``url`` for its transport without connecting; raise :class:`ConfigurationError`.

        Runs the plugin's registered validator, else builds the transport (factories do no I/O)
        and closes it. Any other exception from a plugin is reported as a configuration error
        naming the URL (masked) and the exception class, never its text (it may hold a secret).
        """
        spec = self.get(url.scheme)
        try:
            validator = spec.load_validator()
            if validator is not None:
                validator(url)
            else:
                spec.load()(url).close()
        except ConfigurationError:
            raise
        except Exception as error:  # a plugin bug must not pass as "valid", nor leak its text
            raise ConfigurationError(
                f"{url.masked()}: the {spec.plugin!r} plugin could not check this URL ({type(error).__name__})"
            ) from None


#: Builds a queue from its URL (``postgresql://…``) or bare name (``celery``).
QueueFactory = Callable[[str], Any]


@dataclass
class QueueSpec:
    """One registered queue backend: its URL scheme, where its factory lives, who registered it."""

    scheme: str
    factory: Union[str, QueueFactory]  # noqa: UP007 - runtime alias
    plugin: str
    description: str = ""

    def load(self) -> QueueFactory:
        """Import the factory (``"package.module:attr"``) on first use; a missing module (a
        backend whose extra is not installed) is a :class:`ConfigurationError` saying so."""
        if callable(self.factory):
            return self.factory
        path = self.factory
        module_name = path.partition(":")[0]

        def broken(error: ImportError | AttributeError) -> ConfigurationError:
            missing = error.name if isinstance(error, ModuleNotFoundError) else None
            if missing and (module_name == missing or module_name.startswith(missing + ".")):
                return ConfigurationError(
                    f"the {self.scheme!r} queue backend is registered by {self.plugin!r} but its module "
                    f"{module_name} is not installed; upgrade or reinstall the package that provides it"
                )
            return ConfigurationError(
                f"the {self.scheme!r} queue backend ({path}, registered by {self.plugin!r}) cannot be "
                f"loaded ({type(error).__name__}: {error}); install what it needs"
                + (f", e.g. pip install '{QUEUE_EXTRAS[self.scheme]}'" if self.scheme in QUEUE_EXTRAS else "")
            )

        factory: QueueFactory = load_callable(
            path, broken, f"{path!r} registered for the {self.scheme!r} queue is not callable"
        )
        self.factory = factory
        return factory


#: Queue schemes of mailcore's own backends, and the install that adds what each one needs.
QUEUE_EXTRAS = {
    "celery": "steadymail[celery]",
    "postgresql": "steadymail[postgresql]",
    "postgres": "steadymail[postgresql]",
    "django": "steadymail[django]",
}


class QueueRegistry(LazyRegistry[QueueSpec]):
    """Maps queue URL schemes (``sqlite``, ``postgresql``, ``django``, ``celery``…) to factories;
    filled by the ``mailcore_register_queues`` hook."""

    kind = "queue scheme"

    def add(self, scheme: str, factory: str | QueueFactory, *, description: str = "") -> None:
        """Register ``factory`` for ``scheme://`` URLs (and the bare name ``scheme``).

        ``factory`` is a callable taking the URL (or bare name) and returning a
        :class:`mailcore.outbox.api.MessageQueue` (an :class:`~mailcore.outbox.api.OutboxStore`
        for a table a worker drains), or a ``"package.module:attr"`` string imported on first use.
        """
        if not isinstance(scheme, str) or not scheme or not scheme.replace("+", "").replace("-", "").isalnum():
            raise ConfigurationError(f"plugin {self.current_plugin!r}: {scheme!r} is not a URL scheme")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ConfigurationError(
                f"plugin {self.current_plugin!r}: the {scheme!r} queue factory must be a callable or 'module:attr'"
            )
        plugin = self.current_plugin
        self._register(scheme, lambda name: QueueSpec(name, factory, plugin, description))

    def schemes(self) -> list[str]:
        return self.names()

    def __contains__(self, scheme: object) -> bool:
        return isinstance(scheme, str) and self._find(scheme) is not None

    def get(self, scheme: str) -> QueueSpec:
        spec = self._find(scheme)
        if spec is None:
            raise ConfigurationError(
                f"unknown queue {scheme!r}; known: {', '.join(self.schemes())} "
                "(a sqlite:/// URL or a file path is the SQLite outbox; see mailcore plugins)"
            )
        return spec
