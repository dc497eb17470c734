"""Entry module of mailcore-smtp: registers ``smtp://``, ``smtps://`` and ``gmail://``.

It imports nothing but the hook marker and the registry type: the transport, :mod:`ssl` and
:mod:`smtplib` load only when a transport is built.
"""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry

#: Checks a URL's parameters with the settings parser alone: no socket, no TLS context.
VALIDATE = "mailcore_smtp.settings:validate_url"


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "smtp",
        "mailcore_smtp.transport:SMTPTransport.from_url",
        validate=VALIDATE,
        description="SMTP submission (587, STARTTLS required off loopback)",
    )
    registry.add(
        "smtps",
        "mailcore_smtp.transport:SMTPTransport.from_url",
        validate=VALIDATE,
        description="SMTP over implicit TLS (465)",
    )
    registry.add(
        "gmail",
        "mailcore_smtp.transport:SMTPTransport.from_url",
        validate=VALIDATE,
        description="Gmail / Google Workspace (smtp.gmail.com:587, app password or XOAUTH2)",
    )
