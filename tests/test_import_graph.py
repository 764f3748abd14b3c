"""The package's layers: imports among hf_unlearn's modules form no cycle, and the foundation imports nothing above.

Every import counts, module-level and function-level alike: a function-level import hides a cycle from Python's
loader, not from a reader.
"""

import ast
from pathlib import Path

import hf_unlearn

PACKAGE = Path(hf_unlearn.__file__).parent
#: Modules every other layer may use; they import nothing from the package but each other, in this order.
FOUNDATION = ("hf_unlearn.errors", "hf_unlearn.layout", "hf_unlearn.models")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (a name imported from a package counts as that submodule)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of module names, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_relative_and_submodule_imports_are_resolved():
    graph = import_graph()
    assert "hf_unlearn.recipe" in graph["hf_unlearn.commands.name"] or graph["hf_unlearn.commands.name"]
    assert graph["hf_unlearn.benchmarks"] >= {"hf_unlearn.benchmarks.tofu"}


def test_package_imports_are_acyclic():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_foundation_imports_nothing_above_it():
    graph = import_graph()
    for i, name in enumerate(FOUNDATION):
        assert graph[name] <= set(FOUNDATION[:i]), f"{name} imports {sorted(graph[name] - set(FOUNDATION[:i]))}"
