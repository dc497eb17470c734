"""Test helpers: a SendGrid-style ECDSA key pair and signed Event Webhook headers.

For tests of receivers (plugin, WSGI, Django) with real signatures; needs ``cryptography``
(a dependency of this plugin). Never used at run time.
"""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailcore_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER

__all__ = ["key_pair", "signed"]


def key_pair(curve: ec.EllipticCurve | None = None) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh private key and its public key as SendGrid shows it: base64 of the DER SPKI."""
    private = ec.generate_private_key(curve or ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


def signed(private: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """The signature and timestamp headers SendGrid sends with ``body``."""
    timestamp = timestamp or str(int(time.time()))
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: timestamp}
