"""Imports flow one way: no cycle between codila's packages (and top-level modules), read from the source with ast."""

import ast
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "codila"


def unit(module: str) -> str:
    """codila.decoding.dlm -> decoding; codila.cli -> cli: the package (or top-level module) a module belongs to; the
    package's own __init__ (its lazy facade) is one unit of its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every codila module `path` imports, at module level or inside a function (a deferred import is a dependency too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("codila.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("codila."):
            found.add(node.module)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        source = unit(module_name(path))
        graph.setdefault(source, set()).update(unit(target) for target in imports(path) if unit(target) != source)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [node, target] if target in path else [node, target]
            if target not in state and (found := visit(target, path + [node])):
                return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None and cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_package_cycle():
    graph = package_graph()
    assert {"decoding", "models", "eval", "cli"} <= set(graph)
    assert cycle(graph) is None, " -> ".join(cycle(graph))
