"""No import circles through the bill-run engine or the models (DESIGN.md rule 13): every import
statement counts, at module level or inside a function (a function-level import only hides a
circle, it does not remove it), and so does one under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("billing", "memos", "payments")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import submodule` imports the submodule; `from module import name`
            # the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in modules and target != name)
    return found


@functools.cache
def circles() -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    modules = project_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


@pytest.mark.parametrize(
    "module",
    [
        "billing.bill_runs.services",
        "billing.bill_runs.runner",
        "billing.bill_runs.chunk",
        "billing.bill_runs.documents",
        "billing.tasks",
        "billing.models",
        "billing.models.catalog",
        "billing.periods",
        "billing.runs.engine",
        "payments.runs.kind",
        "payments.runs.services",
        "payments.tasks",
        "payments.models",
    ],
)
def test_module_is_in_no_import_circle(module):
    circle = next((component for component in circles() if module in component), set())
    assert not circle, f"{module} imports itself through {sorted(circle)}"


def test_billing_and_memos_import_nothing_of_payments():
    """Payments sit above billing and memos (DESIGN.md layout): the arrows point down only."""
    modules = project_modules()
    upward = [
        (name, target)
        for name, path in modules.items()
        if not name.startswith("payments")
        for target in imports_of(name, path, modules)
        if target.startswith("payments")
    ]
    assert not upward, upward
