"""noxfile.py on a machine with one Python: what cannot run is reported, never passed off as success.

Each test runs the real noxfile (``python -m nox -s tests`` with ``MAILCORE_NOX_PLAN=1``, which
plans without installing anything) with PATH stripped to a folder holding only the interpreter
running these tests, under its ``pythonX.Y`` name, and HOME moved so no pyenv is found.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mailcore.testing import skip_or_fail

try:
    import nox  # noqa: F401 - the sessions install it (TEST_DEPS); the noxfile imports it
except ImportError:  # pragma: no cover
    skip_or_fail("nox is not installed in this environment")

REPO_ROOT = Path(__file__).resolve().parents[1]
CURRENT = "{}.{}".format(*sys.version_info[:2])
ALL = ("3.11", "3.12", "3.13")


def _run_tests_session(tmp_path, **extra_env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / f"python{CURRENT}"
    if not link.exists():
        link.symlink_to(sys.executable)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "MAILCORE_NOX_PLAN": "1", **extra_env}
    out = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(REPO_ROOT / "noxfile.py"), "-s", "tests"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    rows = {}
    for line in out.stdout.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[2] in ("planned", "NOT", "passed", "skipped", "FAILED"):
            rows[cells[0]] = (cells[1], line)
    return out, rows


def test_with_one_python_the_others_are_reported_as_not_run_and_the_run_is_incomplete(tmp_path):
    out, rows = _run_tests_session(tmp_path)
    assert out.returncode == 0, out.stderr
    for version in ALL:
        line = rows[f"core-{version}"][1]
        if version == CURRENT:
            assert "planned" in line
        else:
            assert "NOT RUN" in line and f"no python{version} on PATH" in line
    assert "planned" in rows["plugins"][1], "plugin tests run on whatever supported Python is present"
    assert ("NOT RUN" in rows["django(django61)"][1]) == (CURRENT != "3.12"), "Django 6.1 needs Python 3.12"
    assert "INCOMPLETE" in out.stderr, "a partial run says so, it is never a silent success"


@pytest.mark.parametrize("strict", [{"CI": "true"}, {"MAILCORE_REQUIRE_SERVICES": "1"}])
def test_ci_fails_when_any_session_cannot_run(tmp_path, strict):
    out, rows = _run_tests_session(tmp_path, **strict)
    assert out.returncode != 0
    assert "could not run" in out.stderr
    assert any("NOT RUN" in line for _, line in rows.values())


def test_the_demo_runs_on_the_python_running_the_noxfile():
    text = (REPO_ROOT / "noxfile.py").read_text()
    assert "@nox.session(python=sys.executable)\ndef demo" in text
    assert "~/.pyenv" not in text.split("def _extra_python_dirs", 1)[0], "pyenv is only an extra place"


def test_the_names_session_reads_pip_index_versions_output():
    import importlib.util

    spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO_ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sample = "steadymail (0.2.0)\nAvailable versions: 0.2.0, 0.1.0\n  INSTALLED: 0.1.0\n"
    assert module.registry_versions(sample) == ["0.2.0", "0.1.0"]
    assert module.registry_versions("") == []
    assert set(module.OUR_NAMES) == {
        "steadymail",
        *(f"steadymail-{p}" for p in ("smtp", "sendgrid", "ses", "mailgun", "console")),
    }
    assert "names" not in module.nox.options.sessions, "the registry check is never part of the default run"


def _load_noxfile():
    import importlib.util

    spec = importlib.util.spec_from_file_location("noxfile_outcome", REPO_ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_session_that_skips_itself_is_reported_as_skipped_not_passed(tmp_path):
    """nox exits 0 for a skip; the summary reads nox's own --report so the table says "skipped"."""
    (tmp_path / "noxfile.py").write_text(
        "import nox\n\n"
        "@nox.session(python=False)\n"
        "def skipper(session):\n"
        "    session.skip('the newest Django is a minor version already covered')\n\n"
        "@nox.session(python=False)\n"
        "def runner(session):\n"
        "    pass\n"
    )
    module = _load_noxfile()
    outcomes = {}
    for name in ("skipper", "runner"):
        report = tmp_path / f"{name}.json"
        out = subprocess.run(
            [sys.executable, "-m", "nox", "-f", str(tmp_path / "noxfile.py"), "-s", name, "--report", str(report)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        outcomes[name] = module.session_outcome(json.loads(report.read_text())["sessions"])
    assert outcomes["skipper"] == ("skipped", "the newest Django is a minor version already covered")
    assert outcomes["runner"] == ("passed", "")
