"""The layers, read from the code's own imports (ast; imports under `if TYPE_CHECKING:` do not run).

Floors, top to bottom: `app` (the composition roots: CLI, wiring, benchmarks, the development stack)
imports anything and nothing imports it; `central` and `local_ui`; `sync`; `provisioning`; `appliance`;
`scene` (zones, rules, events); `inference`; the kit (`kit`) beside the bottom, importing nothing of Vigia's.
Central never reaches the appliance's code or the guards' UI, directly or through another module: of `sync` it
takes only the wire protocol, which both sides share; its re-analysis runs the detectors and tracker
(`inference`) and the cameras' own rules (`scene`).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "central", "local_ui", "sync", "provisioning", "appliance", "scene", "inference", "kit")

# What each top-level package may import besides itself.
ALLOWED = {
    "kit": set(),
    "inference": {"kit"},
    "scene": {"inference", "kit"},
    "appliance": {"scene", "inference", "kit"},
    "provisioning": {"appliance", "scene", "inference", "kit"},
    "sync": {"provisioning", "appliance", "scene", "inference", "kit"},
    "local_ui": {"sync", "provisioning", "appliance", "scene", "inference", "kit"},
    "central": {"sync", "scene", "inference", "kit"},
    "app": {"central", "local_ui", "sync", "provisioning", "appliance", "scene", "inference", "kit"},
}
SHARED_WITH_CENTRAL = {"vigia.sync.protocol"}  # all central may take of `sync`


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("vigia", *parts))


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "node_modules" not in path.parts:
                found[module_name(path)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def imported(source: str) -> Iterator[str]:
    """The Vigia modules a module's source imports, anywhere in it (functions too)."""
    tree = ast.parse(source)
    skipped = _type_checking_only(tree)
    known = modules()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""  # relative imports are banned (ruff TID252)
            if not base.startswith("vigia"):
                continue
            names = [f"{base}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if name in known]
            yield from submodules or [base]
            if submodules and len(submodules) < len(names):
                yield base
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("vigia"))


@cache
def graph() -> dict[str, frozenset[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        targets = set()
        for target in imported(path.read_text()):
            # `import vigia.a.b` names a module or a package; an unknown name is an attribute of its parent
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                targets.add(target)
        edges[name] = frozenset(targets)
    return edges


def package_of(module: str) -> str:
    return module.split(".")[1]


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph()[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_tree_is_read():
    names = modules()
    assert "vigia.appliance.pipeline" in names and "vigia.inference.tracking" in names
    assert len(graph()) == len(names) > 50


def test_each_package_imports_only_the_floors_below_it():
    wrong = sorted(f"{source} -> {target}" for source, targets in graph().items() for target in targets
                   if package_of(target) != package_of(source)
                   and package_of(target) not in ALLOWED[package_of(source)])
    assert wrong == []


def test_nothing_imports_the_composition_roots():
    wrong = sorted(f"{source} -> {target}" for source, targets in graph().items() for target in targets
                   if package_of(target) == "app" and package_of(source) != "app")
    assert wrong == []


def test_central_never_reaches_the_appliance_or_the_guards_ui():
    central = [name for name in graph() if package_of(name) == "central"]
    wrong = sorted(f"{source} reaches {target}" for source in central for target in reachable(source)
                   if package_of(target) in {"appliance", "local_ui", "provisioning"})
    assert wrong == []
    taken_of_sync = {target for source in central for target in graph()[source] if package_of(target) == "sync"}
    assert taken_of_sync <= SHARED_WITH_CENTRAL


def test_the_wire_protocol_stands_alone():
    """Both sides load `sync.protocol`: it imports nothing of Vigia's but the kit."""
    assert {package_of(target) for target in reachable("vigia.sync.protocol")} <= {"kit"}


def test_central_code_lives_in_central():
    """Central's server side (PostgreSQL, the CA, NGINX) is in `central/`; `sync/` is the device side."""
    wrong = []
    for name, path in modules().items():
        if package_of(name) in {"sync", "appliance", "scene", "inference", "local_ui", "provisioning"}:
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    roots = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    wrong += [f"{name} imports {root}" for root in roots if root.split(".")[0] in {"psycopg", "psycopg_pool"}]
    assert wrong == []


def cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph()[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph()):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles() == []


@pytest.mark.parametrize(("source", "expected"), [
    ("from vigia.sync import protocol\n", {"vigia.sync.protocol"}),
    ("import vigia.appliance.storage as s\n", {"vigia.appliance.storage"}),
    ("from vigia.appliance.storage import connect\n", {"vigia.appliance.storage"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vigia.appliance import storage\n", set()),
    ("def f():\n    from vigia.local_ui.tls import ensure_certificate\n", {"vigia.local_ui.tls"}),
])
def test_the_reader_sees_every_kind_of_import(source, expected):
    assert set(imported(source)) == expected
