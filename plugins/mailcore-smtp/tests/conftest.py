"""Fixtures for the SMTP tests; the peers themselves live in smtp_peers.py."""

from smtp_peers import aio, ca, cafile, fake, server_context  # noqa: F401  (pytest fixtures)
