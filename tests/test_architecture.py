"""The package's shape: dependencies point one way (no import cycles, no module reaching into another's
private names), and the public API is exactly ``__all__``."""

from __future__ import annotations
import __future__

import ast
from pathlib import Path

import modelexport

PACKAGE = Path(modelexport.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, str]]:
    """(imported module, imported name) for every import of the package in ``module``, function-level
    ones included (a lazy import that closes a cycle is still a cycle)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found += [(target, alias.name) for alias in node.names if target.startswith("modelexport")]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("modelexport")]
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (importing ``a.b.c`` also runs ``a.b``'s __init__)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, name in _imports(module):
            imported = f"{target}.{name}" if f"{target}.{name}" in MODULES else target
            parts = imported.split(".")
            for end in range(2, len(parts) + 1):
                step = ".".join(parts[:end])
                if step in MODULES and step != module and not module.startswith(step + "."):
                    graph[module].add(step)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_another_modules_private_names():
    private = [
        (module, target, name)
        for module in MODULES
        for target, name in _imports(module)
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def test_hierarchy_does_not_depend_on_backends_or_the_pipeline():
    """Tags are computed from a graph and a module tree; the exporters depend on them, not the reverse."""
    hierarchy = [m for m in MODULES if m.startswith("modelexport.hierarchy")]
    reached = {t for m in hierarchy for t in _graph()[m]}
    assert not {t for t in reached if t.split(".")[1] in {"backends", "pipeline", "export", "plan", "matrix"}}


def test_the_public_api_is_exactly_all():
    public = {
        n
        for n, value in vars(modelexport).items()
        if not n.startswith("_") and not _is_submodule(n) and not isinstance(value, __future__._Feature)
    }
    assert public | {"__version__"} == set(modelexport.__all__)
    for name in modelexport.__all__:
        assert getattr(modelexport, name) is not None


def _is_submodule(name: str) -> bool:
    return f"modelexport.{name}" in MODULES
