import pytest

from mailcore.config import Composite, TransportURL, mask_url, parse, parse_url
from mailcore.errors import ConfigurationError


def test_url_parts_are_percent_decoded():
    url = parse_url("smtp://us%40er:p%40ss%3Aw0rd@relay.example.com:2525/x?timeout=5&ehlo=my%20host")
    assert url.scheme == "smtp"
    assert url.username == "us@er"
    assert url.password is not None and url.password.reveal() == "p@ss:w0rd"
    assert url.host == "relay.example.com" and url.port == 2525
    assert url.params == {"timeout": "5", "ehlo": "my host"}


def test_key_only_userinfo_and_ipv6_hosts():
    url = parse_url("sendgrid://SG.secret-key@")
    assert url.username == "SG.secret-key" and url.password is None and url.host is None
    assert parse_url("smtp://[::1]:25").host == "::1"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("smtp://user:hunter22@relay.example.com:587", "hunter22"),
        ("sendgrid://SG.abcdef@", "SG.abcdef"),
        ("ses://AKIAXXXX:wJalrXUtnFEMI@?region=eu-west-1", "wJalrXUtnFEMI"),
        ("mailgun://key-123@example.com?api_key=other-secret", "other-secret"),
    ],
)
def test_masked_forms_hide_secrets_everywhere(text, secret):
    url = parse_url(text)
    for shown in (url.masked(), str(url), repr(url), mask_url(f"failover({text} memory://)")):
        assert secret not in shown
        assert "***" in shown
    assert url.password is None or repr(url.password) == "Secret('***')"


def test_unparsable_url_error_masks_userinfo():
    with pytest.raises(ConfigurationError) as caught:
        parse("smtp://user:hunter22@host:notaport")
    assert "hunter22" not in str(caught.value)


def test_composites_nest():
    tree = parse("failover(roundrobin(ses://?region=eu-west-1 ses://?region=us-east-1) smtp://relay:587)")
    assert isinstance(tree, Composite) and tree.kind == "failover"
    inner = tree.children[0]
    assert isinstance(inner, Composite) and inner.kind == "roundrobin"
    assert [c.params["region"] for c in inner.children] == ["eu-west-1", "us-east-1"]
    assert isinstance(tree.children[1], TransportURL)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("failover(memory://", "closing"),
        ("failover()", "at least one"),
        ("memory:// memory://", "wrap several"),
        ("relay.example.com", "not a transport URL"),
        ("memory://?a=1&a=2", "twice"),
        ("smtp://h:99999", "out of range|Port"),
    ],
)
def test_configuration_errors_say_what_is_wrong(text, problem):
    with pytest.raises(ConfigurationError, match=problem):
        parse(text)


def test_typed_getters_and_unknown_parameters():
    url = parse_url("memory://?timeout=2.5&fail=3&flag=yes")
    assert url.get_float("timeout") == 2.5
    assert url.get_int("fail") == 3
    assert url.get_bool("flag") is True
    with pytest.raises(ConfigurationError, match="unknown parameter"):
        url.check_params({"timeout"})
    with pytest.raises(ConfigurationError, match="not a number"):
        parse_url("memory://?timeout=soon").get_float("timeout")


@pytest.mark.parametrize(
    "text",
    [
        "smtp://user:hunter/22@127.0.0.1:25",  # '/' ends the authority: the password reaches the port
        "smtp://user:hunter#22@127.0.0.1:25",
        "smtp://user:hunter?22@127.0.0.1:25",
        "smtp://user:hunter(22@127.0.0.1:25",  # '(' trips the composite tokenizer
        "failover(smtp://user:hunter(22@127.0.0.1:25 memory://)",
        "sendgrid://?api_key=hunter22#x",
    ],
)
def test_unparsable_urls_never_show_a_password_piece(text):
    with pytest.raises(ConfigurationError) as caught:
        parse(text)
    assert "hunter" not in str(caught.value) and "22@" not in str(caught.value)
    assert "hunter" not in mask_url(text)
