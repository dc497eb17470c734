"""The sample project as it was before mailcore, plus ONE line: EMAIL_BACKEND.

Its existing EMAIL_* settings keep working: mailcore turns them into one SMTP transport
(smtp://EMAIL_HOST:EMAIL_PORT, STARTTLS when EMAIL_USE_TLS, smtps:// when EMAIL_USE_SSL), and
adds retries and secret masking on the way.
"""

import os

from shop.base import *  # noqa: F403

# The existing mail settings, untouched (read from the environment in this sample).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "") == "1"
EMAIL_TIMEOUT = 10

# The only change:
EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
