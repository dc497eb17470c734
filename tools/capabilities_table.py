"""Regenerate the capability table in docs/capabilities.md from what the plugins declare.

Run it (with every plugin installed, e.g. ``.nox/plugins/bin/python tools/capabilities_table.py``)
after changing a plugin's ``CAPABILITIES``; ``--check`` exits 1 when the docs are out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mailcore.capabilities import TABLE_END, TABLE_START, capability_table
from mailcore.plugins import get_registry
from mailcore.registry import KNOWN_PLUGINS

#: mailcore's own transports (a third-party plugin documents its own).
OWN_SCHEMES = ("memory", *KNOWN_PLUGINS)

DOC = Path(__file__).resolve().parent.parent / "docs" / "capabilities.md"


def expected(text: str) -> str:
    """``text`` with the table between the markers regenerated from the registry."""
    head, start, rest = text.partition(TABLE_START)
    _, end, tail = rest.partition(TABLE_END)
    if not start or not end:
        raise SystemExit(f"{DOC}: the table markers are missing")
    registry = get_registry()
    table = capability_table((scheme, registry.get(scheme).capabilities) for scheme in OWN_SCHEMES)
    return f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}"


def main(argv: list[str]) -> int:
    text = DOC.read_text("utf-8")
    fresh = expected(text)
    if "--check" in argv:
        if fresh != text:
            print(f"{DOC.name} is out of date: run python tools/capabilities_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
