"""The house's layers: imports only point down, and no modules import each other in a circle.

Layers, from the ground floor up: ``common`` < ``pia`` < ``consultation``, ``evidence`` (siblings:
neither imports the other) < ``portal`` < ``app``. Every module of these packages is parsed with
:mod:`ast`; imports inside functions count as well (they run too, only later), relative imports
are resolved. Like ``test_route_roles.py`` this needs no app: it reads the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "pia", "consultation", "evidence", "portal")
LAYERS = {"common": 0, "pia": 1, "consultation": 2, "evidence": 2, "portal": 3, "app": 4}


def _modules() -> dict[str, Path]:
    """{"pia.models.assessment": path, "pia": path/__init__.py, "app": app.py, ...}"""
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module of ours, line) for every import statement of the module, at any depth."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            # ``from pia import pdf`` imports the module pia.pdf; ``from pia.pdf import render`` pia.pdf
            targets = [
                f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}" in modules else base_name
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # ``import pia.models.assessment`` names that module; an unknown tail names its package
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and (target, node.lineno) not in found:
                found.append((target, node.lineno))
    return found


def _graph() -> dict[str, list[tuple[str, int]]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> tuple[str, int]:
    top = module.split(".")[0]
    return top, LAYERS[top]


def upward_imports(graph) -> list[str]:
    violations = []
    for source, targets in graph.items():
        top, layer = _layer(source)
        for target, line in targets:
            target_top, target_layer = _layer(target)
            if target_layer > layer or (target_layer == layer and target_top != top):
                violations.append(f"{source} -> {target} (line {line})")
    return violations


def cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {source: sorted({target for target, _ in targets}) for source, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _cycle_edges(graph, component: list[str]) -> list[str]:
    members = set(component)
    return [
        f"{source} -> {target} (line {line})"
        for source in component
        for target, line in graph[source]
        if target in members
    ]


def test_every_import_points_down():
    violations = upward_imports(_graph())
    assert not violations, "imports that point up or sideways:\n" + "\n".join(violations)


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n\n".join("\n".join(_cycle_edges(graph, c)) for c in found)


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The checker itself: an upward import inside a function, a relative import and a cycle."""
    modules = {
        "common": tmp_path / "common" / "__init__.py",
        "common.a": tmp_path / "common" / "a.py",
        "common.b": tmp_path / "common" / "b.py",
        "pia": tmp_path / "pia" / "__init__.py",
        "pia.x": tmp_path / "pia" / "x.py",
    }
    for path in modules.values():
        path.parent.mkdir(exist_ok=True)
    modules["common"].write_text("")
    modules["common.a"].write_text("from . import b\n\ndef f():\n    from pia.x import thing\n")
    modules["common.b"].write_text("import common.a\n")
    modules["pia"].write_text("")
    modules["pia.x"].write_text("from ..common import f\n")
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert upward_imports(graph) == ["common.a -> pia.x (line 4)"]
    assert cycles(graph) == [["common.a", "common.b"]]
