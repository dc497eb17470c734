"""TLS contexts that always verify, and a readable summary of a peer certificate.

There is no code path that builds a non-verifying context: ``check_hostname`` is on and
``verify_mode`` is ``CERT_REQUIRED`` for every context made here (``smtplib``'s
``context=None`` verifies nothing on the Pythons we support).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from mailcore.tlscontext import client_context as shared_context

__all__ = ["client_context", "describe_certificate"]


def client_context(
    cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None
) -> ssl.SSLContext:
    """A verifying client context trusting the system CAs, or only ``cafile`` when given.

    Shared per process for the same files (:func:`mailcore.tlscontext.client_context`), so a
    transport built per call does not reload the CA bundle.
    """
    return shared_context(cafile, certfile, keyfile)


def _name(entries: object) -> str:
    parts = []
    if isinstance(entries, tuple | list):
        for rdn in entries:
            for key, value in rdn:
                if key in ("commonName", "organizationName"):
                    parts.append(f"{'CN' if key == 'commonName' else 'O'}={value}")
    return ", ".join(parts) or "?"


def describe_certificate(cert: Mapping[str, object] | None) -> str:
    """``subject CN=…; issuer CN=…, O=…; expires …`` for ``mailcore check``."""
    if not cert:
        return "no certificate details"
    expiry = cert.get("notAfter", "?")
    names = cert.get("subjectAltName", ())
    alt = ", ".join(str(v) for _, v in names) if isinstance(names, tuple) else ""
    text = f"subject {_name(cert.get('subject'))}; issuer {_name(cert.get('issuer'))}; expires {expiry}"
    return f"{text}; names {alt}" if alt else text
