"""Local templates render with Django's engine when Django is configured."""

from __future__ import annotations

import pytest

from mailcore import InvalidMessage, LocalTemplate, Message
from mailcore.capabilities import adapt


def otp(local: LocalTemplate, **data) -> Message:
    return Message(
        "auth@example.com", ["ann@example.org"], "", template_id="d-otp",
        template_data={"code": "482913", "name": "Ann <admin>", **data}, local_template=local,
    )  # fmt: skip


def test_auto_uses_django_with_autoescape_only_in_html():
    local = LocalTemplate(
        subject="Code {{ code }}", text="Hi {{ name }}: {{ code|upper }}", html="<p>{{ name }}</p>{% now 'Y' %}"
    )
    sent = adapt(otp(local), frozenset(), "smtp://x")  # SMTP cannot use the provider template
    assert sent.template_id is None and sent.subject == "Code 482913"
    assert sent.text == "Hi Ann <admin>: 482913"
    assert sent.html is not None and sent.html.startswith("<p>Ann &lt;admin&gt;</p>")  # {% now %}: Django syntax


def test_a_missing_variable_is_an_error_not_an_empty_code():
    with pytest.raises(InvalidMessage, match="'pin' is undefined"):
        adapt(otp(LocalTemplate(text="Your code is {{ pin }}")), frozenset(), "smtp://x")
