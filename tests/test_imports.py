"""The import graph of m2t and jobs/: every module imports, no cycle, and imports point one way (down the layers).

    jobs / python -m m2t -> cli (the `m2t` command) -> commands (one per job) -> bench / study -> serve -> infer / train
    -> embed / plan -> model / encoders -> data -> placement / tracking / shipped -> modules / config

Imports inside functions count too (an import hidden in a function is still a dependency).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Rank of each part of the library: a module may import its own part or a part of lower rank, never a higher one.
RANKS = {
    "m2t": 0,
    "m2t.config": 0,
    "m2t.errors": 0,
    "m2t.atomic": 0,
    "m2t.progress": 0,
    "m2t.storage": 0,
    "m2t.modules": 0,
    "m2t.shipped": 1,
    "m2t.placement": 1,
    "m2t.tracking": 1,
    "m2t.packing": 1,
    "m2t.cluster": 1,
    "m2t.preflight": 1,
    "m2t.data": 1,
    "m2t.encoders": 2,
    "m2t.model": 2,
    "m2t.embed": 3,
    "m2t.plan": 3,
    "m2t.train": 4,
    "m2t.infer": 4,
    "m2t.serve": 5,
    "m2t.bench": 6,
    "m2t.study": 6,
    "m2t.commands": 7,
    "m2t.cli": 8,  # the `m2t` command: on top of every job, below only its entry points
    "m2t.__main__": 9,
    "jobs": 9,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    files = sorted((REPO / "m2t").rglob("*.py")) + sorted((REPO / "jobs").glob("*.py"))
    return {module_name(p): p for p in files}


def part(module: str) -> str:
    """The layer a module belongs to: its package under m2t (m2t.model, ...), or the module itself at the top."""
    if module.startswith("jobs"):
        return "jobs"
    pieces = module.split(".")
    return ".".join(pieces[:2])


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The m2t modules ``module`` imports anywhere in its file (``from m2t.x import y`` counts m2t.x.y when it is a module)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, level - 1 packages up
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {n for n in names if n in known and n != module}
    return found


def graph() -> dict[str, set[str]]:
    modules = sources()
    known = set(modules)
    return {m: imports(m, p, known) for m, p in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a part of the library to a part of higher rank."""
    return [
        f"{a} -> {b}"
        for a, targets in sorted(edges.items())
        for b in sorted(targets)
        if part(a) != part(b) and RANKS[part(b)] > RANKS[part(a)]
    ]


def test_every_module_has_a_layer():
    assert not sorted({part(m) for m in sources()} - set(RANKS)), "add the new part to RANKS"


@pytest.mark.parametrize("module", sorted(m for m in sources() if not m.startswith("jobs")))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_imports_point_down_the_layers():
    assert upward(graph()) == []


def test_the_checks_catch_a_cycle_and_an_upward_import():
    """The two checks fail on what they must catch (a graph with one cycle and one upward edge)."""
    edges = {"m2t.infer.a": {"m2t.infer.b"}, "m2t.infer.b": {"m2t.infer.a", "m2t.serve.c"}, "m2t.serve.c": set()}
    assert cycles(edges) == [["m2t.infer.a", "m2t.infer.b"]]
    assert upward(edges) == ["m2t.infer.b -> m2t.serve.c"]
