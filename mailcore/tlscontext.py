"""Verifying TLS client contexts, built once per process for each set of trust files.

``ssl.create_default_context()`` loads the whole system CA bundle (about 20 ms); a transport
built per call (Django builds a backend per ``send_mail()``) would pay that on every call. This
module keeps one context per ``(cafile, certfile, keyfile)`` and each file's size and
modification time, so a rotated bundle or certificate is read again, and nothing else is.

Every context verifies: ``check_hostname`` on, ``CERT_REQUIRED``, TLS 1.2 at least. A context is
safe to share between threads and transports: nothing here changes one after it is built.
"""

from __future__ import annotations

import os
import ssl
import threading

from mailcore.errors import ConfigurationError

__all__ = ["client_context"]

_Stamp = tuple[str | None, int, int]
_cache: dict[tuple[_Stamp, _Stamp, _Stamp], ssl.SSLContext] = {}
_lock = threading.Lock()
#: Distinct trust configurations kept; more than this and the cache starts over.
_MAX_CONTEXTS = 16


def client_context(
    cafile: str | None = None, certfile: str | None = None, keyfile: str | None = None
) -> ssl.SSLContext:
    """A shared verifying client context trusting the system CAs, or only ``cafile`` when given.

    ``certfile``/``keyfile`` add a client certificate. A file that cannot be read raises
    :class:`~mailcore.errors.ConfigurationError` naming the option.
    """
    key = (_stamp(cafile), _stamp(certfile), _stamp(keyfile))
    with _lock:
        context = _cache.get(key)
    if context is not None:
        return context
    context = _build(cafile, certfile, keyfile)
    with _lock:
        if len(_cache) >= _MAX_CONTEXTS:
            _cache.clear()
        return _cache.setdefault(key, context)


def _stamp(path: str | None) -> _Stamp:
    """The path with its size and mtime (so a replaced file is read again); zeros when absent."""
    if not path:
        return (None, 0, 0)
    try:
        info = os.stat(path)
    except OSError:
        return (path, -1, -1)  # _build reports the error
    return (path, info.st_size, info.st_mtime_ns)


def _build(cafile: str | None, certfile: str | None, keyfile: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as error:
        which = "cafile" if cafile and not certfile else "cafile/certfile/keyfile"
        raise ConfigurationError(f"cannot load the TLS files ({which}): {error}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:  # pragma: no cover
        raise ConfigurationError("the TLS context does not verify certificates")
    return context
