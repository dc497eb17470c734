"""``pip install . ./plugins/mailcore-smtp`` from a clone, in a fresh virtual environment.

No package registry is asked (``--no-index``): the core's and the plugin's dependencies on each
other must resolve by their new names (``steadymail``, ``steadymail-smtp``) to the local folders,
so the unrelated ``mailcore`` on the registry can never be pulled in. Third-party dependencies
(pluggy, click, rich, limits, and setuptools to build) are lent to the fresh environment from the
running one through a ``.pth`` file, so the test works offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS = {"steadymail", "steadymail-smtp"}


def _closure(names: list[str]) -> set[str]:
    """Distribution names needed by ``names`` (markers evaluated, extras ignored)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _lend(dists: set[str], target: Path) -> None:
    """Symlink each distribution's top-level files (packages and .dist-info) into ``target``."""
    target.mkdir()
    for name in dists:
        dist = metadata.distribution(name)
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            source = base / top
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("clone-install")
    deps = _closure(["pluggy", "click", "rich", "limits", "setuptools"]) - OURS
    _lend(deps, root / "lent")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "_lent_dependencies.pth").write_text(str(root / "lent") + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--no-cache-dir", ".", "./plugins/mailcore-smtp"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    return venv


def test_the_core_and_the_plugin_install_from_the_clone_under_their_new_names(fresh_env):
    python = fresh_env / "bin" / "python"
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d: m.version(d) for d in ('steadymail', 'steadymail-smtp')}));"
        "print(json.dumps(m.requires('steadymail-smtp')))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert set(json.loads(out[0])) == OURS
    assert "steadymail" in json.loads(out[1]), "the plugin depends on our core by its new name"


def test_no_distribution_called_mailcore_was_installed(fresh_env):
    python = fresh_env / "bin" / "python"
    probe = "import importlib.metadata as m\ntry:\n    m.distribution('mailcore')\nexcept m.PackageNotFoundError:\n    print('absent')"
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.strip() == "absent"


def test_the_installed_command_finds_the_smtp_plugin(fresh_env):
    result = subprocess.run(
        [str(fresh_env / "bin" / "mailcore"), "plugins", "--json"], capture_output=True, text=True, check=True
    )
    listed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert listed["smtp"]["distribution"] == "steadymail-smtp"
    assert {"smtp", "smtps", "gmail"} <= set(listed["smtp"]["schemes"])
    assert listed["mailcore"]["distribution"] == "steadymail"
