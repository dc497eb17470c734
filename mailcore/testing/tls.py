"""A throwaway certificate authority for local TLS peers in tests and benchmarks.

``local_tls(directory)`` returns a server :class:`ssl.SSLContext` holding a certificate for
127.0.0.1 and localhost, and the path of the CA's PEM file, which clients pass as ``cafile``
(so verification stays on). ``trustme`` is imported only when called.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["local_tls"]


def local_tls(directory: Path | str) -> tuple[ssl.SSLContext, str]:
    """``(server_context, cafile)`` for a local HTTPS or SMTPS peer; writes ``ca.pem`` in ``directory``."""
    import trustme  # type: ignore[import-not-found,unused-ignore]

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    cafile = Path(directory) / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    return server_context, str(cafile)
