"""The same project on Django 6.1+ with MAILERS: only BACKEND differs from Django's SMTP backend.

Swap ``"django.core.mail.backends.smtp.EmailBackend"`` for mailcore's and keep the OPTIONS.
To add failover, replace the SMTP options with ``"url": "failover(smtp://… ses://…)"``.
"""

import os

from shop.base import *  # noqa: F403

MAILERS = {
    "default": {
        "BACKEND": "mailcore.adapters.django.EmailBackend",  # was django.core.mail.backends.smtp.EmailBackend
        "OPTIONS": {
            "host": os.environ.get("EMAIL_HOST", "localhost"),
            "port": int(os.environ.get("EMAIL_PORT", "25")),
            "timeout": 10,
        },
    },
}
