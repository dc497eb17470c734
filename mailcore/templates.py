"""Portable templates: a message's subject and bodies rendered by mailcore, on any transport.

A :class:`LocalTemplate` holds template *sources* (so it survives a queue round-trip) for the
subject, the text and the HTML body. :func:`render_local` fills them from
``Message.template_data`` with:

* **Django templates** when Django is installed and its settings are configured (your tags,
  filters and template dirs work), or when ``engine="django"``;
* **Jinja2** otherwise (``pip install jinja2``), in its sandboxed environment, or when
  ``engine="jinja2"``.

HTML is autoescaped; subject and text are not. A variable the data lacks is an error
(:class:`~mailcore.errors.InvalidMessage`), never an empty string: a one-time password must
not go out as "Your code is ". The policy renders a local template only for a transport that
cannot use the message's provider template (or when there is none), see
:mod:`mailcore.capabilities`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailcore.errors import ConfigurationError, InvalidMessage

if TYPE_CHECKING:
    from mailcore.message import Message

__all__ = ["ENGINES", "LocalTemplate", "render_local"]

#: Accepted values of ``LocalTemplate.engine``.
ENGINES = ("auto", "django", "jinja2")
_PARTS = ("subject", "text", "html")
_MISSING = "\x00mailcore-missing:%s\x00"
_MISSING_PREFIX = "\x00mailcore-missing:"


@dataclass(frozen=True, slots=True)
class LocalTemplate:
    """Template sources for the parts mailcore renders itself; ``None`` keeps the message's own.

    ``engine`` is ``"auto"`` (Django when configured, else Jinja2), ``"django"`` or ``"jinja2"``.
    """

    subject: str | None = None
    text: str | None = None
    html: str | None = None
    engine: str = "auto"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidMessage("local_template.engine", f"{self.engine!r}; choose one of {', '.join(ENGINES)}")
        for part in _PARTS:
            value = getattr(self, part)
            if value is not None and not isinstance(value, str):
                raise InvalidMessage(f"local_template.{part}", f"must be a string, not {type(value).__name__}")
        if self.subject is None and self.text is None and self.html is None:
            raise InvalidMessage("local_template", "give at least one of subject, text or html")

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "text": self.text, "html": self.html, "engine": self.engine}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalTemplate:
        return cls(data.get("subject"), data.get("text"), data.get("html"), data.get("engine", "auto"))


def render_local(message: Message) -> dict[str, str]:
    """``{"subject": …, "text": …, "html": …}`` rendered from ``message.local_template`` (only the
    parts it has), with ``message.template_data`` as the context."""
    template = message.local_template
    if template is None:
        return {}
    engine = _choose(template.engine)
    data = dict(message.template_data)
    out = {}
    for part in _PARTS:
        source = getattr(template, part)
        if source is not None:
            out[part] = engine(source, data, part == "html", part)
    if "subject" in out:
        out["subject"] = " ".join(out["subject"].split())  # a subject is one line
    return out


def _choose(name: str) -> Any:
    if name == "django" or (name == "auto" and _django_configured()):
        return _render_django
    return _render_jinja2


def _django_configured() -> bool:
    if "django" not in sys.modules:
        try:
            import django  # noqa: F401
        except ImportError:
            return False
    from django.conf import settings

    return bool(settings.configured)


def _render_jinja2(source: str, data: dict[str, Any], autoescape: bool, part: str) -> str:
    try:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment
    except ImportError:
        raise ConfigurationError(
            "local templates need Jinja2 (pip install 'steadymail[jinja2]') or a configured Django"
        ) from None
    env = SandboxedEnvironment(autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return str(env.from_string(source).render(data))
    except jinja2.UndefinedError as error:
        raise InvalidMessage(f"local_template.{part}", f"{error}; add it to template_data") from None
    except jinja2.TemplateError as error:
        raise InvalidMessage(f"local_template.{part}", f"Jinja2 cannot render it: {error}") from None


def _render_django(source: str, data: dict[str, Any], autoescape: bool, part: str) -> str:
    try:
        from django.template import Context, TemplateSyntaxError
    except ImportError:
        raise ConfigurationError("local_template engine='django' needs Django installed and configured") from None
    engine = _strict_django_engine()
    try:
        text = str(engine.from_string(source).render(Context(data, autoescape=autoescape)))
    except TemplateSyntaxError as error:
        raise InvalidMessage(f"local_template.{part}", f"Django cannot render it: {error}") from None
    if _MISSING_PREFIX in text:
        name = text.split(_MISSING_PREFIX, 1)[1].split("\x00", 1)[0]
        raise InvalidMessage(f"local_template.{part}", f"{name!r} is undefined; add it to template_data")
    return text


def _strict_django_engine() -> Any:
    """The project's Django template engine, but with undefined variables made detectable."""
    from django.template import Engine

    try:
        base = Engine.get_default()
    except Exception:  # no DjangoTemplates backend configured: the built-ins only
        return Engine(string_if_invalid=_MISSING)
    return Engine(
        dirs=base.dirs,
        app_dirs=base.app_dirs,
        libraries=base.libraries,
        builtins=[b for b in base.builtins if b not in Engine.default_builtins],
        string_if_invalid=_MISSING,
        autoescape=base.autoescape,
    )
