"""Dependencies point inward: no import circle among the Mailer, the bulk engine, the queue, the
outbox worker and the Celery adapter, and the core never imports an edge adapter.

The graph is read from the source (``ast``), every ``import`` statement counted: at module level,
under ``if TYPE_CHECKING:`` and inside functions (a lazy import is still a dependency). Queue
backends are named by ``"module:attr"`` strings in the queue registry, which are not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mailcore

PACKAGE = Path(mailcore.__file__).parent
#: The modules issue 18 found importing each other in a circle.
LAYERED = ("mailcore.mailer", "mailcore.bulk.engine", "mailcore.outbox.queue", "mailcore.outbox.worker",
           "mailcore.adapters.celery")  # fmt: skip
#: Edge packages the core reaches only through registry strings (or that import the core).
EDGES = ("mailcore.adapters", "mailcore.cli", "mailcore.testing")


def module_files() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, modules: dict[str, Path], *, module_level_only: bool) -> set[str]:
    """The mailcore modules ``name`` imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    tree = ast.parse(path.read_text("utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        found.add(sub)
                    elif base in modules:
                        found.add(base)
            else:
                visit(child)

    visit(tree)
    found.discard(name)
    return found


def graph(*, module_level_only: bool) -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports(name, path, modules, module_level_only=module_level_only) for name, path in modules.items()}


def reachable(g: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(g[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(g.get(node, ()))
    return seen


def cycle_through(g: dict[str, set[str]], a: str, b: str) -> bool:
    return b in reachable(g, a) and a in reachable(g, b)


def test_the_graph_reader_sees_lazy_and_type_only_imports():
    g = graph(module_level_only=False)
    assert "mailcore.outbox.queue" in g["mailcore.mailer"]  # inside a method
    assert "mailcore.outbox.api" in g["mailcore.mailer"]  # under TYPE_CHECKING
    assert "mailcore.mailer" in g["mailcore.adapters.celery"]  # the edge depends on the core


def test_no_import_circle_among_mailer_bulk_queue_worker_and_celery():
    g = graph(module_level_only=False)
    circles = [
        (a, b) for i, a in enumerate(LAYERED) for b in LAYERED[i + 1 :] if cycle_through(g, a, b)
    ]  # fmt: skip
    assert circles == [], f"import circles (lazy and TYPE_CHECKING imports count): {circles}"


def test_the_core_never_imports_an_edge_adapter():
    g = graph(module_level_only=False)
    core = [name for name in g if not name.startswith(EDGES)]
    offenders = {
        name: sorted(t for t in g[name] if t.startswith("mailcore.adapters")) for name in core
    }  # fmt: skip
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_level_import_cycle_in_the_layered_modules():
    g = graph(module_level_only=True)
    for name in LAYERED:
        assert name not in reachable(g, name), f"{name} imports itself back at module level"
