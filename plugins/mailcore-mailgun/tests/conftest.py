"""Fixtures: a Mailgun-like multipart peer on 127.0.0.1 checking fields against Mailgun's published spec."""

import base64

import pytest

from mailcore.testing.http_sink import HTTPSink, mailgun_reply
from mailcore.testing.specs import require_spec, spec_file
from mailcore.testing.tls import local_tls

SPEC_FILE = spec_file("mailgun_openapi.yaml")
API_KEY = "key-mailgun-test-0123456789"
DOMAIN = "mg.example.com"
FREE_PREFIXES = ("h:", "v:")  # any header / variable name is allowed after these


@pytest.fixture(scope="session")
def messages_schema():
    """The multipart schema of POST /v3/{domain_name}/messages, read with pyyaml."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(require_spec(SPEC_FILE).read_text(), Loader=loader)
    body = spec["paths"]["/v3/{domain_name}/messages"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]
    ref = body["$ref"].removeprefix("#/components/schemas/")
    return spec["components"]["schemas"][ref]


def check_form(schema, parts):
    """Problems with a messages form: unknown names, repeats of scalar fields, missing required ones."""
    properties = schema["properties"]
    problems = []
    counts = {}
    for part in parts:
        counts[part.name] = counts.get(part.name, 0) + 1
        known = properties.get(part.name)
        if known is None and not part.name.startswith(FREE_PREFIXES):
            problems.append(f"unknown field {part.name!r}")
        if part.filename is not None and part.name not in ("attachment", "inline"):
            problems.append(f"{part.name!r} is sent as a file")
        if part.name in ("attachment", "inline") and not part.filename:
            problems.append(f"{part.name!r} has no filename")
    for name, count in counts.items():
        known = properties.get(name)
        is_array = known is not None and known.get("type") == "array"
        if count > 1 and not is_array:
            problems.append(f"{name!r} repeated {count} times but is not an array field")
    required = set(schema.get("required", ()))
    if "template" in counts:
        required.discard("subject")
    problems += [f"required field {name!r} missing" for name in sorted(required - set(counts))]
    if not {"text", "html", "amp-html", "template"} & set(counts):
        problems.append("need at least one of text, html, amp-html or template")
    if "html" in counts and "template" in counts:
        problems.append("only one of html or template is allowed")
    return problems


@pytest.fixture
def validate_request(messages_schema):
    def validate(request):
        if request.method == "GET":
            return []
        problems = []
        if request.path != f"/v3/{DOMAIN}/messages":
            problems.append(f"unexpected path {request.path}")
        expected = "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
        if request.headers.get("authorization") != expected:
            problems.append("missing or wrong basic auth")
        try:
            parts = request.form()
        except ValueError as error:
            return [*problems, str(error)]
        return problems + check_form(messages_schema, parts)

    return validate


@pytest.fixture
def sink(validate_request):
    with HTTPSink(default=mailgun_reply, validator=validate_request) as server:
        yield server


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory):
    """A server SSL context for 127.0.0.1 and the CA's PEM path for clients."""
    return local_tls(tmp_path_factory.mktemp("ca"))
