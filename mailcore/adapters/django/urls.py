"""URLs for provider webhooks, one path per configured provider::

    # urls.py
    path("mailcore/webhooks/", include("mailcore.adapters.django.urls")),

serves ``POST mailcore/webhooks/sendgrid``, ``…/mailgun``, ``…/ses`` (with or without a trailing
slash) for each provider in ``settings.MAILCORE_WEBHOOKS`` (else the
``MAILCORE_WEBHOOK_<PROVIDER>_*`` environment variables). Verifiers are built when the URLconf
loads, so a wrong key fails at start-up (``ImproperlyConfigured``). URL names:
``mailcore_webhooks:<provider>``.
"""

from __future__ import annotations

import re

from django.urls import re_path  # type: ignore[import-untyped,unused-ignore]

from mailcore.adapters.django.views import configured_verifiers, max_body, webhook_view

app_name = "mailcore_webhooks"

_limit = max_body()
urlpatterns = [
    re_path(rf"^{re.escape(provider)}/?$", webhook_view(provider, verifier, _limit), name=provider)
    for provider, verifier in configured_verifiers().items()
]
