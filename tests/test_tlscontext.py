"""Shared TLS client contexts (mailcore.tlscontext): built once per trust files, always verifying."""

from __future__ import annotations

import os
import ssl

import pytest

from mailcore.errors import ConfigurationError
from mailcore.tlscontext import client_context


def test_system_context_is_built_once_and_verifies():
    first = client_context()
    assert client_context() is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert first.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_replaced_cafile_is_read_again(tmp_path):
    import trustme  # installed in every test session (noxfile)

    cafile = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(cafile))
    first = client_context(str(cafile))
    assert client_context(str(cafile)) is first and first is not client_context()
    trustme.CA().cert_pem.write_to_path(str(cafile))
    os.utime(cafile, ns=(1, 1))  # a different mtime even on coarse file-system clocks
    assert client_context(str(cafile)) is not first


def test_an_unreadable_cafile_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cafile"):
        client_context(str(tmp_path / "missing.pem"))
