"""Only the named shim imports Dagster's private modules; the rest of the house uses public API."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "twilight_sim",
    "twilight_resources",
    "twilight_assets",
    "twilight_serve",
    "twilight_app",
)
SHIM = Path("twilight_assets/dagster_shim.py")


def private_dagster_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [f"{path}:{node.lineno} {n}" for n in names if n.startswith("dagster._")]
    return found


def test_private_dagster_imports_live_in_the_shim_only() -> None:
    offenders = [
        hit
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if path.relative_to(REPO) != SHIM
        for hit in private_dagster_imports(path.relative_to(REPO))
    ]
    assert offenders == []
    assert private_dagster_imports(SHIM), "the shim no longer needs a private name: remove it"
