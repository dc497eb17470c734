"""ROOT_URLCONF of the Django tests: the admin site at /admin/ (tests/django/test_admin*.py)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
