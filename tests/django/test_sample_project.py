"""examples/django_project: only EMAIL_BACKEND changed; sends through aiosmtpd with its EMAIL_*
settings (and with MAILERS on Django 6.1+). Runs manage.py in a subprocess, as a user would."""

from __future__ import annotations

import email
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_mailers

pytestmark = pytest.mark.usefixtures("smtp_plugin")
PROJECT = Path(__file__).resolve().parents[2] / "examples" / "django_project"


def manage(*args, sink, settings="shop.settings"):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "EMAIL_HOST": sink.host,
        "EMAIL_PORT": str(sink.port),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("MAILCORE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60
    )


def test_settings_change_only_the_backend():
    import ast

    tree = ast.parse((PROJECT / "shop" / "settings.py").read_text())
    code = [ast.unparse(node) for node in tree.body if not isinstance(node, ast.Expr)]  # no docstring
    assert [line for line in code if "mailcore" in line] == ["EMAIL_BACKEND = 'mailcore.adapters.django.EmailBackend'"]


def test_sendtestemail_with_existing_email_settings(smtp_sink):
    done = manage("sendtestemail", "you@example.com", "--admins", sink=smtp_sink)
    assert done.returncode == 0, done.stderr
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["ops@example.com", "you@example.com"]
    first = email.message_from_bytes(smtp_sink.messages[0].data)
    assert first["From"] == "shop@example.com" and "Test email from" in first["Subject"]


@needs_mailers
def test_sendtestemail_with_mailers(smtp_sink):
    done = manage("sendtestemail", "you@example.com", sink=smtp_sink, settings="shop.settings_mailers")
    assert done.returncode == 0, done.stderr
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["you@example.com"]]


def test_send_failure_is_reported_not_swallowed(smtp_sink):
    from conftest import free_port

    smtp_sink.port = free_port()  # nothing listens: the command must fail loudly
    done = manage("sendtestemail", "you@example.com", sink=smtp_sink)
    assert done.returncode != 0
    assert "DeliveryFailed" in done.stderr
