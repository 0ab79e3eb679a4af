"""The house's layers: imports only point down, and no modules import each other in a circle.

Layers, from the ground floor up: ``common`` < ``pia``'s shared modules (schema, diff, threshold,
procedure) < ``pia.assessments`` < ``pia.inventory``, ``pia.review`` (siblings: neither imports the
other) < ``pia.publication`` < ``pia`` itself (its ``init_app`` puts the parts together) <
``consultation``, ``evidence`` (siblings) < ``portal`` < ``app``. Every module of these packages is
parsed with :mod:`ast`; imports inside functions count as well (they run too, only later), relative
imports are resolved. Like ``test_route_roles.py`` this needs no app: it reads the source.

Across parts, a module uses only public names: no ``from pia.assessments.services import _apply``
and no ``services._schema(...)`` on a module of another part.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "pia", "consultation", "evidence", "portal")
#: part -> floor; a module belongs to the longest part its name starts with ("pia.schema" -> "pia.*")
LAYERS = {
    "common": 0,
    "pia.*": 1,
    "pia.assessments": 2,
    "pia.inventory": 3,
    "pia.review": 3,
    "pia.publication": 4,
    "pia": 5,
    "consultation": 6,
    "evidence": 6,
    "portal": 7,
    "app": 8,
}


def _modules() -> dict[str, Path]:
    """{"pia.assessments.models": path, "pia": path/__init__.py, "app": app.py, ...}"""
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
            # ``from pia import schema`` imports the module pia.schema; ``from pia.schema import flatten`` pia.schema
            targets = [
                f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}" in modules else base_name
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # ``import pia.assessments.models`` names that module; an unknown tail names its package
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and (target, node.lineno) not in found:
                found.append((target, node.lineno))
    return found


def _graph() -> dict[str, list[tuple[str, int]]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> tuple[str, int]:
    """(part, floor) of a module."""
    if module in LAYERS:
        return module, LAYERS[module]
    parts = module.split(".")
    for size in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:size])
        if f"{prefix}.*" in LAYERS:
            return f"{prefix}.*", LAYERS[f"{prefix}.*"]
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise KeyError(module)


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


def private_uses(modules: dict[str, Path]) -> list[str]:
    """Private names (``_name``) of another part, imported or read as a module attribute."""
    found = []
    for name, path in modules.items():
        part = _layer(name)[0]
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        aliases: dict[str, str] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - (node.level - 1)] + ([base] if base else [])
                    )
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif base in modules and alias.name.startswith("_") and _layer(base)[0] != part:
                        found.append(f"{name} imports {base}.{alias.name} (line {node.lineno})")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and _layer(aliases[node.value.id])[0] != part
            ):
                found.append(f"{name} uses {aliases[node.value.id]}.{node.attr} (line {node.lineno})")
    return found


def test_parts_use_only_each_others_public_names():
    found = private_uses(_modules())
    assert not found, "private names used across parts:\n" + "\n".join(found)


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
