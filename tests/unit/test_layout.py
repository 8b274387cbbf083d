"""The core library's shape (layers/core/python/carton/README.md): feature packages over a
shared base, imports pointing one way, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "layers/core/python/carton"
BASE = ("shared", "storage")
FEATURES = ("accounts", "assets", "downloads", "packaging", "sharing")


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module → the carton modules it imports (at any depth of its code)."""
    found: dict[str, set[str]] = {}
    known = {module_name(path) for path in CORE.rglob("*.py")}
    for path in CORE.rglob("*.py"):
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("carton"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in known else node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.startswith("carton")}
        found[module_name(path)] = targets - {module_name(path)}
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else parts[-1]


def test_the_base_never_imports_a_feature() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if package_of(module) in BASE
        for target in targets
        if package_of(target) in FEATURES
    ]
    assert wrong == []


def test_shared_imports_nothing_of_carton_but_shared() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if package_of(module) == "shared"
        for target in targets
        if package_of(target) != "shared"
    ]
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = imports()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for target in graph.get(module, ()):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_every_package_says_what_it_owns() -> None:
    for package in (*BASE, "web", *FEATURES):
        doc = ast.get_docstring(ast.parse((CORE / package / "__init__.py").read_text()))
        assert doc and len(doc) > 40, package


def test_nothing_in_the_core_imports_the_client() -> None:
    """carton.client runs on people's machines and is left out of the Lambda layer."""
    wrong = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if package_of(module) != "client"
        for target in targets
        if package_of(target) == "client"
    ]
    assert wrong == []
