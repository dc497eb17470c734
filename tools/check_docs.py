"""Docs checks for ``nox -s docs``: relative links resolve, hooks are documented, examples compile."""

from __future__ import annotations

import py_compile
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def broken_links() -> list[str]:
    problems = []
    for doc in [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]:
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
    problems = broken_links() + undocumented_hooks() + examples_compile()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"docs: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
