"""Test helper: a Mailgun webhook body signed with a given signing key (HMAC-SHA256).

For tests of receivers (plugin, WSGI, Django) with real signatures. Never used at run time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

__all__ = ["signed_body"]


def signed_body(record: dict[str, Any], key: str, timestamp: str | None = None, token: str | None = None) -> bytes:
    """The JSON body Mailgun posts: ``signature`` (timestamp, token, HMAC) and ``event-data``."""
    timestamp = timestamp or str(int(time.time()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": record}
    ).encode()
