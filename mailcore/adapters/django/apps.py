"""Django app config: add ``"mailcore.adapters.django"`` to INSTALLED_APPS for system checks
and for the ``delivery_event`` signal (:mod:`mailcore.adapters.django.signals`)."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped,unused-ignore]


class MailcoreConfig(AppConfig):  # type: ignore[misc,unused-ignore]
    name = "mailcore.adapters.django"
    label = "mailcore"
    verbose_name = "mailcore"

    def ready(self) -> None:
        from django.core import checks  # type: ignore[import-untyped,unused-ignore]

        from mailcore.adapters.django.checks import check_cleartext_credentials, check_mailcore
        from mailcore.adapters.django.signals import connect_bridge

        checks.register(check_mailcore)
        checks.register(check_cleartext_credentials, checks.Tags.security)
        connect_bridge()
