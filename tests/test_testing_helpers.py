"""mailcore.testing helpers: the skip-or-fail rule for missing services and specs."""

import pytest

from mailcore.testing import REQUIRE_SERVICES_ENV, skip_or_fail
from mailcore.testing.specs import require_spec


def test_skip_or_fail_skips_on_a_developer_machine(monkeypatch):
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="Redis is not reachable"):
        skip_or_fail("Redis is not reachable")


def test_skip_or_fail_fails_when_services_are_required(monkeypatch):
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="MAILCORE_REQUIRE_SERVICES=1 but Redis is not reachable"):
        skip_or_fail("Redis is not reachable")


def test_require_spec_uses_the_same_rule(monkeypatch, tmp_path):
    present = tmp_path / "spec.json"
    present.write_text("{}")
    assert require_spec(present) == present
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="absent"):
        require_spec(tmp_path / "missing.json")
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "0")
    with pytest.raises(pytest.skip.Exception, match="absent"):
        require_spec(tmp_path / "missing.json")
