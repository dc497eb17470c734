"""Entry module of mailcore-ses: registers ``ses://``; imports nothing heavy (no boto3)."""

from __future__ import annotations

from mailcore.plugins import hookimpl
from mailcore.registry import TransportRegistry


@hookimpl
def mailcore_register_transports(registry: TransportRegistry) -> None:
    registry.add(
        "ses",
        "mailcore_ses.transport:SesTransport.from_url",
        description="Amazon SES API v2 through boto3 (ses://?region=eu-west-1)",
    )
