"""Imports run one way: no cycle among fineparser's modules (module-level and function-level
imports alike), and hmtools never imports fineparser."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file."""
    files = {_module_name(f): f for f in (ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                            for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("graph,cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
])
def test_find_cycle(graph, cycle):
    assert find_cycle(graph) == cycle


def test_fineparser_has_no_import_cycle():
    graph = import_graph("fineparser")
    assert {"fineparser.engine", "fineparser.predictor", "fineparser.inputs"} <= set(graph)
    assert "fineparser.evaluation" in graph["fineparser.engine"]       # the graph sees lazy imports
    assert find_cycle(graph) is None


def test_inference_does_not_depend_on_the_trainer():
    graph = import_graph("fineparser")
    for module in ("fineparser.evaluation", "fineparser.predict", "fineparser.predictor", "fineparser.run",
                   "fineparser.inputs"):
        assert "fineparser.engine" not in graph[module], module


def test_hmtools_never_imports_fineparser():
    users = []
    for path in sorted((ROOT / "hmtools").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "fineparser" or n.startswith("fineparser.") for n in names):
                users.append(_module_name(path))
    assert users == []
