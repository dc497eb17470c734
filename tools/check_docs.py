"""Docs checks for ``nox -s docs``: relative links resolve, nothing points outside the repository,
hooks are documented, examples compile."""

from __future__ import annotations

import py_compile
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: A relative path that climbs (``../shared/specs``) or an absolute path into a machine's tree.
PATH_MENTION = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.\-/]*|/(?:work|home|root|Users)/[\w.\-/]*)")


def user_docs() -> list[Path]:
    """Every Markdown file a user reads: README, CHANGELOG, docs/, plugin and specs READMEs."""
    return [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted(ROOT.glob("plugins/*/README.md")),
        *sorted(ROOT.glob("specs/*.md")),
    ]


def outside_references(docs: list[Path] | None = None) -> list[str]:
    """Links or paths that leave the repository (or climb to nothing in it): a reader of a clone
    cannot follow them. ``../shared/specs`` from docs/ is caught either way."""
    problems = []
    for doc in docs if docs is not None else user_docs():
        for mention in PATH_MENTION.findall(doc.read_text("utf-8")):
            target = Path(mention) if mention.startswith("/") else (doc.parent / mention).resolve()
            if not target.is_relative_to(ROOT) or not target.exists():
                problems.append(f"{doc.relative_to(ROOT)}: refers outside the repository: {mention}")
    return problems


def broken_links() -> list[str]:
    problems = []
    for doc in user_docs():
        for target in LINK.findall(doc.read_text("utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).resolve().exists():
                problems.append(f"{doc.relative_to(ROOT)}: broken link {target}")
    return problems


def undocumented_hooks() -> list[str]:
    from mailcore import hookspecs

    text = (ROOT / "docs" / "hooks.md").read_text("utf-8")
    return [
        f"docs/hooks.md: {n} undocumented"
        for n in dir(hookspecs)
        if n.startswith("mailcore_") and f"## `{n}" not in text
    ]


def examples_compile() -> list[str]:
    problems = []
    for path in sorted((ROOT / "examples").rglob("*.py")) if (ROOT / "examples").is_dir() else []:
        try:
            py_compile.compile(str(path), doraise=True)
        except py_compile.PyCompileError as error:
            problems.append(str(error))
    return problems


def main() -> int:
    problems = broken_links() + outside_references() + undocumented_hooks() + examples_compile()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"docs: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
