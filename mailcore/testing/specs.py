"""Published provider API specs in contract tests: find them, skip or fail when absent, validate.

The specs are data, not part of the repository: tests read them from ``../shared/specs`` next
to the checkout. A missing file skips the test with the reason, except under
``MAILCORE_REQUIRE_SERVICES=1`` (CI), where it fails::

    from mailcore.testing.specs import require_spec, sendgrid_mail_send_validator

    validator = sendgrid_mail_send_validator(require_spec(SPECS / "sendgrid_tsg_mail_v3.json"))
    errors = list(validator.iter_errors(json.loads(body)))

``jsonschema`` is imported only when a validator is built.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from mailcore.testing import skip_or_fail

__all__ = ["SENDGRID_MAIL_SEND_POINTER", "require_spec", "sendgrid_mail_send_validator"]

#: JSON pointer of the ``POST /v3/mail/send`` body schema in SendGrid's OpenAPI document.
SENDGRID_MAIL_SEND_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


def require_spec(path: Path) -> Path:
    """``path`` if it exists; else skip the test (fail it when ``MAILCORE_REQUIRE_SERVICES=1``)."""
    if not path.exists():
        skip_or_fail(f"{path} is absent (provider specs live in ../shared/specs)")
    return path


def sendgrid_mail_send_validator(spec_path: Path, *, object_custom_args: bool = False) -> Any:
    """A Draft 2020-12 ``jsonschema`` validator (with format checks) for mail/send bodies.

    ``$ref`` s resolve inside the spec. ``object_custom_args`` works around a spec quirk: the
    top-level ``custom_args`` is typed string there, while the live API takes an object.
    """
    from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped,unused-ignore]

    spec = copy.deepcopy(json.loads(spec_path.read_text()))
    if object_custom_args:
        body = spec["components"]["requestBodies"]["PostMailSend"]["content"]["application/json"]["schema"]
        body["properties"]["custom_args"] = {"type": ["string", "object"]}
    root = {**spec, "$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": SENDGRID_MAIL_SEND_POINTER}
    return Draft202012Validator(root, format_checker=FormatChecker())
