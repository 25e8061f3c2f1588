"""The packages import one way (docs/architecture.md): a table of what each may not import, checked on
the source with ``ast`` so that a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"api", "watcher", "models", "simulator", "omni_client", "omni_readmodel", "migrations"}

# package -> the project packages it must never import
FORBIDDEN = {
    "models": {"api", "watcher", "simulator", "omni_client", "omni_readmodel"},
    "omni_client": {"api", "watcher", "models", "simulator", "omni_readmodel"},
    "api": {"watcher", "simulator", "omni_readmodel"},
    "watcher": {"api", "simulator", "omni_readmodel"},
    "simulator": {"api", "watcher", "omni_readmodel", "migrations"},
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_run_one_way(package: str) -> None:
    offenders = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                offenders.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_plan_does_not_import_the_writer() -> None:
    # the writer runs plans; a plan sees the writer only through the ``Committed`` protocol
    plan = imported_modules(REPO_ROOT / "watcher" / "plan.py")
    assert not {n for n in plan if n.startswith("watcher.writer")}
