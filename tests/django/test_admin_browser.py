"""The mailcore admin in a real browser: Debian's headless Chromium driving a live Django server.

Runs in the django nox sessions (Django 5.2 and 6.1); skipped without chromium locally, failed
under CI (tests/django/browser.py).
"""

from __future__ import annotations

import pytest
from admin_pages import log_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "not-a-secret-1"


def test_a_staff_user_logs_in_to_the_admin(page, live_server, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    log_in(page, live_server.url, "root", PASSWORD)
    assert "Site administration" in page.find_element("css selector", "#content").text
