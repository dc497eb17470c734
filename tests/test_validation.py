"""Validation without I/O: URL parameters through the registry, policy options by type."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcore import plugins
from mailcore.config import did_you_mean, parse_url
from mailcore.errors import ConfigurationError, UnknownTransport
from mailcore.policy.breaker import BreakerPolicy
from mailcore.policy.retry import RetryPolicy
from mailcore.policy.validate import mailer_option_problems, url_problems
from mailcore.registry import TransportRegistry
from mailcore.transport import ProviderTransport


class Recorder(ProviderTransport):
    """A transport whose construction is recorded; validation must build nothing else."""

    built = 0
    closed = 0

    def __init__(self, url):
        url.check_params({"timeout"})
        Recorder.built += 1
        self.name = "rec://"

    def deliver(self, message):
        raise AssertionError("validation never sends")

    def close(self):
        Recorder.closed += 1


@pytest.fixture
def registry():
    Recorder.built = Recorder.closed = 0
    return TransportRegistry()


def test_a_registered_validator_is_used_and_the_factory_is_not_called(registry):
    seen = []
    registry.add("v", lambda url: pytest.fail("factory called"), validate=lambda url: seen.append(url.params))
    registry.validate(parse_url("v://host?x=1"))
    assert seen == [{"x": "1"}]


def test_a_validator_by_import_path_is_loaded_lazily(registry):
    registry.add("v", "mailcore.transports.memory:MemoryTransport.from_url", validate="mailcore.config:parse_url")
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        registry.add("w", "x:y", validate="mailcore.nosuchmodule:f")
        registry.validate(parse_url("w://"))


def test_without_a_validator_the_transport_is_built_and_closed_at_once(registry):
    registry.add("rec", Recorder)
    registry.validate(parse_url("rec://?timeout=3"))
    assert (Recorder.built, Recorder.closed) == (1, 1)
    with pytest.raises(ConfigurationError, match=r"unknown parameter\(s\) timout \(did you mean 'timeout'\?\)"):
        registry.validate(parse_url("rec://?timout=3"))


def test_a_plugin_bug_is_a_configuration_error_without_its_text(registry):
    def broken(url):
        raise RuntimeError("secret=hunter22")

    registry.add("bug", broken)
    with pytest.raises(ConfigurationError) as caught:
        registry.validate(parse_url("bug://user:pw@host"))
    assert "RuntimeError" in str(caught.value) and "hunter22" not in str(caught.value)
    assert ":pw@" not in str(caught.value)


def test_url_problems_lists_every_leaf_and_policy_parameter(fresh_plugins):
    problems = url_problems("weighted(memory://a?weight=x memory://b?rate=often memory://c?fial=2 nosuch://)")
    texts = [str(p) for p in problems]
    assert len(problems) == 4
    assert "weight=x is not a number" in texts[0]
    assert "rate='often'" in texts[1]
    assert "did you mean 'fail'?" in texts[2]
    assert isinstance(problems[3], UnknownTransport)
    assert url_problems("failover(memory://a memory://b?rate=5/s)") == []
    assert "only means something inside weighted" in str(url_problems("failover(memory://a?weight=2)")[0])


def test_url_problems_reports_a_parse_error_once(fresh_plugins):
    (problem,) = url_problems("failover(memory://a")
    assert "closing" in str(problem)


def test_the_smtp_plugin_registers_an_offline_validator(fresh_plugins):
    spec = plugins.get_registry().get("smtp")
    if spec.plugin == "mailcore":  # pragma: no cover - the smtp plugin is installed in every session
        pytest.fail("mailcore-smtp is not installed")
    assert spec.validator is not None
    assert url_problems("smtp://u:p@smtp.invalid:587?timeout=5") == []
    (problem,) = url_problems("gmail://?tls=none")
    assert "Gmail" in str(problem)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"attemps": 3}, "unknown retry option 'attemps'; did you mean 'attempts'?"),
        ({"attempts": "x"}, "retry option 'attempts' must be a whole number, not 'x'"),
        ({"attempts": True}, "must be a whole number, not True"),
        ({"deadline": "60"}, "'deadline' must be a number or None"),
        ({"jitter": 1}, "'jitter' must be True or False"),
        ({"cap": float("nan")}, "'cap' must be a number"),
    ],
)
def test_retry_dicts_are_type_checked(value, expected):
    with pytest.raises(ConfigurationError) as caught:
        RetryPolicy.coerce(value)
    assert expected in str(caught.value)


def test_valid_dicts_still_build_policies():
    assert RetryPolicy.coerce({"attempts": 5, "first_delay": 1, "deadline": None}).attempts == 5
    assert BreakerPolicy.coerce({"failures": 2, "cooldown": 10}).failures == 2


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(["attempts", "first_delay", "multiplier", "cap", "jitter", "deadline"]),
                       st.one_of(st.text(max_size=3), st.lists(st.integers(), max_size=2), st.none(),
                                 st.booleans(), st.floats(allow_nan=True), st.integers(-5, 50))))  # fmt: skip
def test_any_retry_dict_is_a_policy_or_a_configuration_error_never_a_type_error(value):
    try:
        policy = RetryPolicy.coerce(value)
    except ConfigurationError as error:
        assert "retry" in str(error)  # names the option
    else:
        assert isinstance(policy, RetryPolicy)


def test_mailer_options_are_checked_by_name_and_type():
    problems = dict(mailer_option_problems({"stratgy": "x", "on_ambiguous": "maybe", "state": 3, "retry": None}))
    assert "did you mean 'strategy'?" in problems["stratgy"]
    assert "choose one of fail, retry" in problems["on_ambiguous"]
    assert "state must be a string" in problems["state"]
    assert "retry" not in problems


def test_did_you_mean_only_suggests_close_names():
    assert did_you_mean("timout", ["timeout", "tls"]) == "timeout"
    assert did_you_mean("colour", ["timeout", "tls"]) is None


SAMPLE_URLS = [
    "memory://a",
    "smtp://user:pw@smtp.invalid:587",
    "smtps://user:pw@smtp.invalid",
    "gmail://me%40gmail.com:app-password@",
    "sendgrid://SG.key@",
    "ses://?region=eu-west-1",
    "mailgun://key-123@mg.example.com",
    "console://",
]


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or DNS lookup fails the test: validation must open nothing."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("validation touched the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("url", SAMPLE_URLS)
def test_every_installed_transport_validates_offline_and_names_a_misspelt_parameter(fresh_plugins, no_network, url):
    scheme = url.split("://")[0]
    if scheme not in plugins.get_registry().schemes():
        pytest.fail(f"the {scheme}:// plugin is not installed in this session")
    assert url_problems(url) == []
    glue = "&" if "?" in url else "?"
    (problem,) = url_problems(f"{url}{glue}timout=5")
    assert "timout" in str(problem) and "did you mean 'timeout'?" in str(problem)
    assert ":pw@" not in str(problem) and "app-password" not in str(problem) and "SG.key" not in str(problem)
