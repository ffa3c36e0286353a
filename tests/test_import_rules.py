"""The layering rules of docs/architecture.md, checked on every import of the package (inside functions and
`TYPE_CHECKING` blocks too): packages form a DAG, the pure layers import only pure data, nothing below the CLI
imports it, provisioning never imports the factory, the simulator shares nothing with the client but data."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "credwarden"

#: Pure data modules: no I/O, no behaviour of the client (the simulator may use them).
PURE_DATA = {"types", "cme", "errors", "models"}
#: What each restricted unit may import from credwarden (besides itself).
ALLOWED = {
    "at": PURE_DATA,  # the sans-I/O AT codec
    "sim": {"types", "cme"},  # the simulator parses everything itself, so it can catch the client's mistakes
    "types": set(),
    "cme": set(),
    "errors": {"cme"},
    "models": {"types"},
}
#: Units nothing else may import (user-facing layers on top).
TOP_LAYERS = {"cli", "__main__", "web"}
#: Pure codecs of field reports, if present: only pure data and the AT codec.
REPORT_CODEC_ALLOWED = PURE_DATA | {"at"}


def _unit(module: str) -> str | None:
    """The package (or top-level module) of a credwarden module name: credwarden.at.cmng -> at."""
    parts = module.split(".")
    if parts[0] != "credwarden" or len(parts) == 1:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_import_module_call(node: ast.AST) -> bool:
    """`importlib.import_module("credwarden....")` with a literal name (how the CLI loads its command modules)."""
    if not isinstance(node, ast.Call) or getattr(node.func, "attr", getattr(node.func, "id", "")) != "import_module":
        return False
    return bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every credwarden module imported by `path` (absolute or relative), with its line."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)  # `from pkg import mod`
        elif _is_import_module_call(node):
            assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Constant)
            found.append((str(node.args[0].value), node.lineno))
    return [(m, line) for m, line in found if m.startswith("credwarden")]


def _edges() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where ("file:line")."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(SRC.rglob("*.py")):
        source = _unit(_module_name(path))
        if source is None:
            continue
        for module, line in _imports(path):
            target = _unit(module)
            if target is None or target == source:
                continue
            if (SRC / target).is_dir() or (SRC / f"{target}.py").exists():  # `from credwarden import x` names
                edges[source][target].append(f"{path.relative_to(SRC)}:{line}")
    return edges


EDGES = _edges()


def test_the_walk_sees_the_known_layers() -> None:
    assert "at" in EDGES["modem"] and "transport" in EDGES["modem"]  # the walk itself works
    assert "provision" in EDGES["cli"]


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_pure_layers_import_only_what_they_may(unit: str) -> None:
    wrong = {target: where for target, where in EDGES.get(unit, {}).items() if target not in ALLOWED[unit]}
    assert not wrong, f"{unit} may import only {sorted(ALLOWED[unit])} from credwarden; found {wrong}"


def test_report_codec_is_pure() -> None:
    if not (SRC / "report").exists():
        pytest.skip("no report codec in this tree")
    wrong = {t: w for t, w in EDGES.get("report", {}).items() if t not in REPORT_CODEC_ALLOWED}
    assert not wrong, f"the report codec imports more than pure data: {wrong}"


def test_nothing_below_the_top_layers_imports_them() -> None:
    wrong = {
        (source, target): where
        for source, targets in EDGES.items()
        if source not in TOP_LAYERS
        for target, where in targets.items()
        if target in TOP_LAYERS
    }
    assert not wrong, f"library code imports the CLI / web layer: {wrong}"


def test_provisioning_never_imports_the_factory() -> None:
    assert "factory" not in EDGES.get("provision", {}), EDGES["provision"]["factory"]


def test_packages_form_a_dag() -> None:
    graph = {source: set(targets) for source, targets in EDGES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "package cycles: " + "; ".join(
        " -> ".join(cycle) + f" ({EDGES[cycle[-2]][cycle[-1]][0]})" for cycle in cycles
    )
