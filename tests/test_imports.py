"""Imports flow one way: no cycle between codila's modules (each module a node, its package __init__ one of its own;
imports inside functions count: a deferred import is a dependency too), read from the source with ast."""

import ast
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "codila"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str], package: str) -> set[str]:
    """The modules of `modules` that `path` imports: `import a.b`, `from a.b import c` (the module a.b.c when c is one,
    else a.b), relative imports resolved against `package`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found |= {f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module for alias in node.names}
    return found & modules


def module_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = imports(path, set(paths), package) - {name}
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
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None


def test_a_planted_cycle_between_two_modules_of_one_package_is_found(tmp_path):
    """The graph is read module by module: two modules of one package importing each other (one of them inside a
    function, one relatively) is a cycle."""
    package = tmp_path / "codila"
    (package / "eval").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "eval" / "__init__.py").write_text("")
    (package / "eval" / "runner.py").write_text("def run():\n    from codila.eval.planning import plan\n")
    (package / "eval" / "planning.py").write_text("from .runner import run\n\ndef plan():\n    return run\n")
    graph = module_graph(package)
    assert graph["codila.eval.runner"] == {"codila.eval.planning"} and graph["codila.eval.planning"] == {"codila.eval.runner"}
    assert cycle(graph) is not None


def test_no_module_cycle():
    graph = module_graph()
    assert {"codila.decoding.registry", "codila.eval.runner", "codila.cli.decode"} <= set(graph)
    assert "codila.decoding.codila" in graph["codila.decoding.registry"]  # edges are read
    assert cycle(graph) is None, " -> ".join(cycle(graph))
