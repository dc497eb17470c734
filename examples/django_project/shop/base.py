"""Settings shared by both variants of the sample project (nothing about mail here)."""

import os

import django

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sample-project-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {}
ROOT_URLCONF = "shop.urls"
USE_TZ = True
DEFAULT_FROM_EMAIL = "shop@example.com"
SERVER_EMAIL = "errors@example.com"
# Django 6.0 takes plain addresses; 5.2 wants (name, address) pairs.
ADMINS = ["ops@example.com"] if django.VERSION >= (6, 0) else [("Ops", "ops@example.com")]
