"""The imports run one way: cli → library → core, with no import cycle between sertool's packages.

The import graph is read from the source (every ``import`` and ``from … import``, at module level or
inside functions), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sertool

ROOT = Path(sertool.__file__).parent
ENTRY_POINTS = {"sertool.__main__"}  # `python -m sertool`: the one module above the CLI


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["sertool", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module → the sertool modules it imports (importing ``a.b.c`` also runs ``a`` and ``a.b``)."""
    modules = _modules()

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}".rstrip(".")
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                target = known(name) if name.startswith("sertool") else ""
                while target:
                    if target != mod:
                        targets.add(target)
                    target = target.rpartition(".")[0]
        graph[mod] = targets - {"sertool"}
    return graph


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_module_outside_the_cli_imports_it():
    offenders = sorted(f"{mod} imports {t}" for mod, targets in import_graph().items()
                       if package_of(mod) != "sertool.cli" and mod not in ENTRY_POINTS
                       for t in targets if package_of(t) == "sertool.cli")
    assert not offenders, offenders


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    for mod, targets in import_graph().items():
        for t in targets:
            if package_of(t) != package_of(mod):
                edges.setdefault(package_of(mod), set()).add(package_of(t))

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted(f"{a} ⇄ {b}" for a in edges for b in edges[a] if a < b and reaches(b, a))
    assert not cycles, cycles


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "sertool.cli.main" in graph["sertool.__main__"]  # a relative import
    assert "sertool.features.extractors" in graph["sertool.train.inputs"]  # an import inside a function
