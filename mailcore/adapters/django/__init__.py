"""Django integration (``pip install 'steadymail[django]'``).

* ``EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"`` (Django 5.2+), or a MAILERS
  ``BACKEND`` on Django 6.1+;
* ``INSTALLED_APPS += ["mailcore.adapters.django"]`` for the ``mailcore.*`` system checks.

See docs/django.md. The backend is imported on first access, so listing the app in
INSTALLED_APPS does not import Django's mail machinery early.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailcore.adapters.django.backend import EmailBackend
    from mailcore.adapters.django.conversion import InvalidEmailMessage, to_message

__all__ = ["EmailBackend", "InvalidEmailMessage", "to_message"]


def __getattr__(name: str) -> Any:
    if name == "EmailBackend":
        from mailcore.adapters.django.backend import EmailBackend

        return EmailBackend
    if name in ("InvalidEmailMessage", "to_message"):
        from mailcore.adapters.django import conversion

        return getattr(conversion, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
