"""Registration, URL parsing, lazy imports and the botocore client configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailcore.config import parse_url
from mailcore.errors import ConfigurationError
from mailcore.plugins import get_registry
from mailcore_ses.transport import DEFAULT_TIMEOUT, SesTransport


def test_ses_is_registered_through_its_entry_point():
    assert get_registry().get("ses").plugin == "ses"


def run_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_entry_module_and_building_a_transport_do_not_import_boto3():
    run_python(
        "import sys\n"
        "import mailcore_ses.plugin\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'entry module is not cheap'\n"
        "from mailcore.plugins import get_registry\n"
        "from mailcore.config import parse_url\n"
        "t = get_registry().create(parse_url('ses://?region=eu-west-1'))\n"
        "assert 'boto3' not in sys.modules, 'boto3 loads only when the client is first needed'\n"
    )


def test_url_parameters():
    transport = SesTransport.from_url(
        parse_url(
            "ses://?region=eu-west-1&endpoint_url=http://127.0.0.1:9&timeout=2.5"
            "&configuration_set=transactional&ignore_unsupported=true&cafile=/tmp/ca.pem"
        )
    )
    assert transport.region == "eu-west-1"
    assert transport.endpoint_url == "http://127.0.0.1:9"
    assert transport.timeout == 2.5
    assert transport.cafile == "/tmp/ca.pem"
    assert transport.options.configuration_set == "transactional"
    assert transport.options.ignore_unsupported is True
    assert transport.name == "ses://?region=eu-west-1&endpoint_url=http://127.0.0.1:9&configuration_set=transactional"


def test_defaults():
    transport = SesTransport.from_url(parse_url("ses://"))
    assert transport.timeout == DEFAULT_TIMEOUT
    assert transport.region is None and transport.name == "ses://"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ses://?regoin=eu-west-1", "unknown parameter"),
        ("ses://email.eu-west-1.amazonaws.com", "no host"),
        ("ses://AKIAONLYKEY@?region=eu-west-1", "both"),
        ("ses://?endpoint_url=127.0.0.1:9", "http"),
        ("ses://?timeout=0", "positive"),
        ("ses://?timeout=soon", "not a number"),
        ("ses://?ignore_unsupported=maybe", "true or false"),
    ],
)
def test_bad_urls_are_configuration_errors(url, match):
    with pytest.raises(ConfigurationError, match=match) as caught:
        SesTransport.from_url(parse_url(url))
    assert "AKIAONLYKEY" not in str(caught.value)


def test_keys_in_the_url_are_masked_everywhere():
    transport = SesTransport.from_url(parse_url("ses://AKIAFAKE0123456789:fake%2Fsecret%2Bx@?region=eu-west-1"))
    shown = f"{transport.name} {transport!r} {transport}"
    assert "AKIAFAKE" not in shown and "fake/secret" not in shown
    assert transport.name == "ses://***:***@?region=eu-west-1"
    credentials = transport.client()._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("AKIAFAKE0123456789", "fake/secret+x")


def test_client_makes_exactly_one_attempt_with_the_timeout():
    transport = SesTransport(region="eu-west-1", endpoint_url="http://127.0.0.1:9", timeout=4)
    config = transport.client().meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.connect_timeout == 4 and config.read_timeout == 4
    assert transport.client() is transport.client()


def test_close_is_idempotent_and_reopens_lazily():
    transport = SesTransport(region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    first = transport.client()
    transport.close()
    transport.close()
    assert transport.client() is not first
