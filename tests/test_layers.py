"""Imports run downward: no module imports a package above its own, nor (in one package) a loop.

The packages are layered twilight_sim < twilight_resources < twilight_assets < twilight_serve <
twilight_app. Every import counts, at the top of a file, inside a function or under
``TYPE_CHECKING``: each is a dependency the lower package would carry. Read with ``ast``, so
nothing is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ["twilight_sim", "twilight_resources", "twilight_assets", "twilight_serve", "twilight_app"]
RANK = {package: rank for rank, package in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path for package in LAYERS for path in sorted((REPO / package).rglob("*.py"))
}


def imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, module named, absolute dotted name) of every import in the file: ``from M import
    n`` gives ``M`` and ``M.n`` (``n`` may be a submodule); relative imports are resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield node.lineno, base, f"{base}.{alias.name}"


def resolve(name: str) -> str | None:
    """The module of this repository that ``name`` names (or lies in), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_every_package_is_found() -> None:
    for package in LAYERS:
        assert package in MODULES, f"{package}/__init__.py not found"


def test_imports_run_downward() -> None:
    upward: set[tuple[str, int, str]] = set()
    for module, path in MODULES.items():
        own = RANK[module.split(".")[0]]
        for line, named, _ in imports(path):
            top = named.split(".")[0]
            if top in RANK and RANK[top] > own:
                upward.add((str(path.relative_to(REPO)), line, named))
    found = [f"{file}:{line} imports {named}" for file, line, named in sorted(upward)]
    assert not found, "imports of a higher package:\n" + "\n".join(found)


def import_graph(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        if module.split(".")[0] != package:
            continue
        targets = {resolve(name) for _, _, name in imports(path)}
        graph[module] = {t for t in targets if t and t != module and t.startswith(package)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", LAYERS)
def test_no_import_cycles(package: str) -> None:
    loops = cycles(import_graph(package))
    assert not loops, f"modules of {package} that import each other:\n" + "\n".join(
        " <-> ".join(loop) for loop in loops
    )
