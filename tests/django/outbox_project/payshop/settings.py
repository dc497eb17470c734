"""A payment shop whose receipts go through mailcore's outbox in Django's database.

Configured by the environment (the test sets it): ``PAYSHOP_DB`` is ``sqlite:///PATH`` or
``postgresql://USER@HOST:PORT/NAME``; ``PAYSHOP_SMTP`` is the SMTP URL the worker delivers to.
"""

import os
from urllib.parse import urlsplit

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "payshop.urls"
USE_TZ = True
INSTALLED_APPS = ["mailcore.adapters.django", "payshop"]
MIDDLEWARE: list[str] = []
DEFAULT_FROM_EMAIL = "shop@example.com"

EMAIL_BACKEND = "mailcore.adapters.django.EmailBackend"
MAILCORE = {
    "URL": os.environ.get("PAYSHOP_SMTP", "smtp://127.0.0.1:25"),
    "QUEUE": "db",  # the receipt is a row in this database, committed with the payment
    "RETRY": {"attempts": 2, "first_delay": 0.1, "deadline": 20},
}

_db = urlsplit(os.environ.get("PAYSHOP_DB", "sqlite:///payshop.sqlite3"))
if _db.scheme == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db.path[1:] or "payshop.sqlite3"}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _db.path.lstrip("/"),
            "HOST": _db.hostname,
            "PORT": _db.port or 5432,
            "USER": _db.username or "postgres",
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
