"""URL parsing and validation (no network)."""

import pytest

from mailcore.config import mask_url, parse_url
from mailcore.errors import ConfigurationError
from mailcore.plugins import get_registry
from mailcore_smtp.settings import SMTPSettings, is_loopback
from mailcore_smtp.transport import SMTPTransport


def settings(url: str, **kw) -> SMTPSettings:
    return SMTPSettings.from_url(parse_url(url), **kw)


def test_smtp_defaults_to_587_with_required_starttls():
    s = settings("smtp://user:pw@relay.example.com")
    assert (s.host, s.port, s.tls, s.tls_required) == ("relay.example.com", 587, "starttls", True)
    assert s.timeout == 30 and s.connect_timeout == 10 and s.pool == 1 and s.max_messages == 1000


def test_loopback_makes_starttls_opportunistic_unless_asked():
    assert settings("smtp://127.0.0.1:2525").tls_required is False
    assert settings("smtp://localhost:2525").tls_required is False
    assert settings("smtp://[::1]:2525").tls_required is False
    assert settings("smtp://127.0.0.1:2525?tls=starttls").tls_required is True
    assert settings("smtp://relay.example.com?tls=none").tls_required is False


def test_smtps_is_implicit_tls_on_465():
    s = settings("smtps://u:p@mail.example.com")
    assert (s.port, s.tls) == (465, "implicit")
    with pytest.raises(ConfigurationError, match="implicit TLS"):
        settings("smtps://u:p@mail.example.com?tls=starttls")


def test_gmail_preset():
    s = settings("gmail://me%40gmail.com:app-password@")
    assert (s.host, s.port, s.tls, s.tls_required, s.username) == (
        "smtp.gmail.com",
        587,
        "starttls",
        True,
        "me@gmail.com",
    )
    assert settings("gmail://me%40gmail.com:pw@?tls=implicit").port == 465


def test_gmail_requires_credentials_and_tls():
    with pytest.raises(ConfigurationError, match="Gmail needs credentials"):
        settings("gmail://")
    with pytest.raises(ConfigurationError, match="requires TLS"):
        settings("gmail://me%40gmail.com:pw@?tls=none")
    s = settings("gmail://me%40gmail.com@", has_token_provider=True)
    assert s.password is None


def test_all_parameters_parse():
    s = settings(
        "smtp://u:p@relay.example.com:2525?timeout=5&connect_timeout=2&read_timeout=3&cafile=/ca.pem"
        "&certfile=/c.pem&keyfile=/k.pem&ehlo=me.example.com&family=ipv6&pool=4&max_messages=7"
    )
    assert (s.timeout, s.connect_timeout, s.read_timeout) == (5, 2, 3)
    assert (s.cafile, s.certfile, s.keyfile, s.ehlo, s.family, s.pool, s.max_messages) == (
        "/ca.pem",
        "/c.pem",
        "/k.pem",
        "me.example.com",
        "ipv6",
        4,
        7,
    )


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("smtp://relay.example.com?colour=red", "unknown parameter"),
        ("smtp://relay.example.com?tls=maybe", "choose one of"),
        ("smtp://relay.example.com?family=ipx", "choose one of"),
        ("smtp://relay.example.com?pool=0", "at least 1"),
        ("smtp://relay.example.com?timeout=0", "positive, finite"),
        ("smtp://relay.example.com?timeout=nan", "finite"),
        ("smtp://relay.example.com?timeout=inf", "finite"),
        ("smtp://relay.example.com?connect_timeout=-1", "negative|finite"),
        ("smtp://relay.example.com?read_timeout=NaN", "finite"),
        ("smtp://relay.example.com?keyfile=/k.pem", "keyfile needs certfile"),
        ("smtp://user@relay.example.com", "no password"),
        ("smtp://:pw@relay.example.com", "needs a user name"),
        ("smtp://?tls=none", "give the server"),
    ],
)
def test_configuration_errors(url, match):
    with pytest.raises(ConfigurationError, match=match):
        settings(url)


def test_oauth_token_never_shown():
    token = "ya29.super-secret-token"
    url = f"gmail://me%40gmail.com@?oauth_token={token}&colour=red"
    with pytest.raises(ConfigurationError) as caught:
        settings(url)
    assert token not in str(caught.value)
    transport = SMTPTransport(f"gmail://me%40gmail.com@?oauth_token={token}")
    shown = f"{transport.name} {transport!r} {transport.settings}"
    assert token not in shown
    assert token not in mask_url(url)


def test_password_never_in_name_repr_or_settings():
    transport = SMTPTransport("smtp://user:hunter2-pw@relay.example.com")
    assert "hunter2-pw" not in f"{transport.name} {transport!r} {transport.settings!r}"


def test_is_loopback():
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("smtp.example.com")


def test_entry_point_registers_three_schemes():
    registry = get_registry()
    for scheme in ("smtp", "smtps", "gmail"):
        spec = registry.get(scheme)
        assert spec.plugin == "smtp"
        assert isinstance(registry.create(parse_url(f"{scheme}://u:p@relay.example.com")), SMTPTransport)


def test_entry_module_is_cheap_to_import():
    import subprocess
    import sys

    code = (
        "import sys, mailcore_smtp.plugin\n"
        "heavy = [m for m in ('ssl', 'smtplib', 'mailcore_smtp.transport', 'mailcore_smtp.wire') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_ssl_context_must_verify():
    import ssl

    loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    loose.check_hostname = False
    loose.verify_mode = ssl.CERT_NONE
    with pytest.raises(ConfigurationError, match="must verify"):
        SMTPTransport("smtp://relay.example.com", ssl_context=loose)
