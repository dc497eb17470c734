"""Published provider API specs in contract tests: find them, skip or fail when absent, validate.

The specs are vendored in the repository's ``specs/`` folder (origin, licence and sha256 in
``specs/README.md``); ``MAILCORE_SPECS_DIR`` points elsewhere (an installed, non-editable
mailcore has no repository next to it). A missing file skips the test with the reason, except
under ``MAILCORE_REQUIRE_SERVICES=1`` (CI), where it fails::

    from mailcore.testing.specs import require_spec, sendgrid_mail_send_validator, spec_file

    validator = sendgrid_mail_send_validator(require_spec(spec_file("sendgrid_tsg_mail_v3.json")))
    errors = list(validator.iter_errors(json.loads(body)))

``jsonschema`` is imported only when a validator is built.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from mailcore.testing import skip_or_fail

__all__ = [
    "SENDGRID_MAIL_SEND_POINTER",
    "SPECS_ENV",
    "require_spec",
    "sendgrid_mail_send_validator",
    "spec_file",
    "specs_dir",
]

#: Environment variable naming another folder of specs (default: the repository's ``specs/``).
SPECS_ENV = "MAILCORE_SPECS_DIR"

#: JSON pointer of the ``POST /v3/mail/send`` body schema in SendGrid's OpenAPI document.
SENDGRID_MAIL_SEND_POINTER = "#/components/requestBodies/PostMailSend/content/application~1json/schema"


def specs_dir() -> Path:
    """``$MAILCORE_SPECS_DIR`` if set, else ``specs/`` of the repository this mailcore runs from."""
    override = os.environ.get(SPECS_ENV, "").strip()
    return Path(override) if override else Path(__file__).resolve().parents[2] / "specs"


def spec_file(name: str) -> Path:
    """The path of one vendored spec, e.g. ``spec_file("mailgun_openapi.yaml")``."""
    return specs_dir() / name


def require_spec(path: Path) -> Path:
    """``path`` if it exists; else skip the test (fail it when ``MAILCORE_REQUIRE_SERVICES=1``)."""
    if not path.exists():
        skip_or_fail(f"{path} is absent (the provider specs are vendored in the repository's specs/; set {SPECS_ENV})")
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
