"""Plugins found through entry points: a throwaway distribution is built, installed and hidden."""

import subprocess
import sys
import textwrap

import pytest

from mailcore import plugins
from mailcore.errors import ConfigurationError

PLUGIN_NAME = "mailcore_throwaway_test_plugin"


@pytest.fixture(scope="module")
def throwaway_plugin(tmp_path_factory):
    """Build and pip-install a tiny plugin distribution; uninstall it afterwards."""
    root = tmp_path_factory.mktemp("plugin")
    package = root / "src" / PLUGIN_NAME
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from mailcore.plugins import hookimpl
            from mailcore.result import Delivery
            from mailcore.transport import ProviderTransport

            class Throwaway(ProviderTransport):
                name = "throwaway://"

                @classmethod
                def from_url(cls, url):
                    return cls()

                def deliver(self, message):
                    return Delivery("thrown-away")

            @hookimpl
            def mailcore_register_transports(registry):
                registry.add("throwaway", f"{__name__}:Throwaway.from_url")
            """
        )
    )
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=69"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "mailcore-throwaway"
            version = "9.9.9"

            [project.entry-points.mailcore]
            throwaway = "{PLUGIN_NAME}"

            [tool.setuptools.packages.find]
            where = ["src"]
            """
        )
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    import importlib.util

    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([*pip, "install", "--no-deps", *isolation, str(root)], check=True)
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "mailcore-throwaway"], check=True)
        plugins.reset()


def test_installed_plugin_is_found_through_its_entry_point(throwaway_plugin, fresh_plugins):
    fresh_plugins.delenv("MAILCORE_DISABLE_PLUGINS", raising=False)
    info = {p.name: p for p in plugins.list_plugins()}["throwaway"]
    assert (info.distribution, info.version, info.schemes) == ("mailcore-throwaway", "9.9.9", ["throwaway"])
    from mailcore import Mailer, Message

    result = Mailer("throwaway://").send(Message("a@example.com", ["b@example.org"], "s", text="t"))
    assert result.provider_message_id == "thrown-away"


def test_disable_plugins_hides_it(throwaway_plugin, fresh_plugins):
    fresh_plugins.setenv("MAILCORE_DISABLE_PLUGINS", "throwaway")
    assert "throwaway" not in plugins.get_registry().schemes()
    assert "memory" in plugins.get_registry().schemes()


def test_disable_all_keeps_core_memory(fresh_plugins):
    fresh_plugins.setenv("MAILCORE_DISABLE_PLUGINS", "*")
    assert plugins.get_registry().schemes() == ["memory"]


def test_plugins_json_lists_console_and_memory():
    from click.testing import CliRunner

    from mailcore.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    import json

    listed = {p["name"]: p for p in json.loads(result.output)}
    assert listed["mailcore"]["distribution"] == "steadymail" and "memory" in listed["mailcore"]["schemes"]
    assert listed["console"]["distribution"] == "steadymail-console" and listed["console"]["schemes"] == ["console"]


def test_two_plugins_claiming_one_scheme_is_a_configuration_error():
    from mailcore.registry import TransportRegistry

    registry = TransportRegistry()
    registry.current_plugin = "one"
    registry.add("x", "m:f")
    registry.current_plugin = "two"
    with pytest.raises(ConfigurationError, match="registered by both 'one' and 'two'"):
        registry.add("x", "m:g")


def test_factory_that_cannot_be_imported_says_how_to_fix():
    from mailcore.registry import TransportSpec

    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        TransportSpec("smtp", "no_such_module_anywhere:factory", "smtp").load()


def test_every_hook_is_documented():
    """docs/hooks.md documents every hookspec; a new hook without docs fails here."""
    from pathlib import Path

    from mailcore import hookspecs

    docs = (Path(__file__).parent.parent / "docs" / "hooks.md").read_text()
    names = [n for n in dir(hookspecs) if n.startswith("mailcore_")]
    assert names
    for name in names:
        assert f"## `{name}" in docs, f"{name} is not documented in docs/hooks.md"
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"


def test_import_mailcore_is_cheap():
    code = "import sys, mailcore; print(','.join(sorted(m for m in ('boto3','botocore','django','sendgrid','requests','celery','redis','aiosmtpd') if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
