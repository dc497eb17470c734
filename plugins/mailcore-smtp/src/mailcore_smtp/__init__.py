"""mailcore-smtp: the ``smtp``, ``smtps`` and ``gmail`` transports.

Importing the package is cheap; :class:`SMTPTransport` and :class:`SMTPSettings` load on first
attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailcore_smtp.settings import SMTPSettings
    from mailcore_smtp.transport import SMTPTransport

__all__ = ["SMTPSettings", "SMTPTransport"]


def __getattr__(name: str) -> Any:
    if name == "SMTPTransport":
        from mailcore_smtp.transport import SMTPTransport

        return SMTPTransport
    if name == "SMTPSettings":
        from mailcore_smtp.settings import SMTPSettings

        return SMTPSettings
    raise AttributeError(name)
