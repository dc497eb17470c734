"""URLs for provider webhooks, one path per configured provider::

    # urls.py
    path("mailcore/webhooks/", include("mailcore.adapters.django.urls")),

serves ``POST mailcore/webhooks/sendgrid``, ``…/mailgun``, ``…/ses`` (with or without a trailing
slash) for each provider in ``settings.MAILCORE_WEBHOOKS`` (else the
``MAILCORE_WEBHOOK_<PROVIDER>_*`` environment variables). Verifiers are built when the URLconf
loads, so a wrong key fails at start-up (``ImproperlyConfigured``), as does a
``MAILCORE_EVENTS_OUTBOX`` that names no store of events. URL names:
``mailcore_webhooks:<provider>``.

Events are stored in Django's database when the outbox is there (``MAILCORE["QUEUE"] = "db"``),
else beside ``MAILCORE_OUTBOX``: see :mod:`mailcore.adapters.django.events`.
"""

from __future__ import annotations

import re

from django.urls import re_path  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.events import check_events_outbox
from mailcore.adapters.django.views import configured_verifiers, max_body, webhook_view

app_name = "mailcore_webhooks"

check_events_outbox()
_limit = max_body()
urlpatterns = [
    re_path(rf"^{re.escape(provider)}/?$", webhook_view(provider, verifier, _limit), name=provider)
    for provider, verifier in configured_verifiers().items()
]
