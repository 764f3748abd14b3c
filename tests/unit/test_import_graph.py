"""The package's layers: imports among hf_unlearn's modules form no cycle, and the foundation imports nothing above.

Every import counts, module-level and function-level alike: a function-level import hides a cycle from Python's
loader, not from a reader.
"""

import ast
from pathlib import Path

import hf_unlearn

PACKAGE = Path(hf_unlearn.__file__).parent
#: The foundation every other layer may use, and all it may import from the package. `models` builds the embedded
#: tiny model when a recipe names `tiny`.
FOUNDATION = {
    "hf_unlearn.errors": set(),
    "hf_unlearn.layout": set(),
    "hf_unlearn.models": {"hf_unlearn.errors", "hf_unlearn.layout", "hf_unlearn.tiny"},
}


#: Third-party packages whose import costs seconds or memory: a function-level import is justified only when it
#: keeps one of these off a path that must stay light (`hf-unlearn name`, `--help`, recipe validation).
HEAVY = {"torch", "transformers", "datasets", "peft", "deepspeed", "accelerate", "trl", "numpy", "scipy", "sklearn"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(name: str, node: ast.AST) -> list[str]:
    """What an import statement in module `name` imports: package modules by name, others by top-level package."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    else:
        return []
    return [t if t in MODULES else t.split(".")[0] for t in targets]


def import_graph(module_level_only: bool = False) -> dict[str, set[str]]:
    """module -> the modules it imports (package modules by name, a name imported from a package counts as that
    submodule; third-party ones by top-level package)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if module_level_only else ast.walk(tree)
        graph[name] = {t for node in nodes for t in imported(name, node) if t != name}
    return graph


def package_graph() -> dict[str, set[str]]:
    return {name: deps & set(MODULES) for name, deps in import_graph().items()}


def heavy_imports(module: str, graph: dict[str, set[str]], seen: frozenset = frozenset()) -> set[str]:
    """The heavy third-party packages importing `module` loads (module-level imports, followed through)."""
    found = graph[module] & HEAVY
    for dep in graph[module] & set(MODULES) - seen:
        found |= heavy_imports(dep, graph, seen | {module})
    return found


def function_level_imports() -> list[tuple[str, int, str]]:
    """(module, line, imported package module) for every import inside a function."""
    out = []
    for name, path in MODULES.items():
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    out += [(name, node.lineno, t) for t in imported(name, node) if t in MODULES]
    return out


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
    graph = package_graph()
    assert "hf_unlearn.recipe" in graph["hf_unlearn.commands.name"] or graph["hf_unlearn.commands.name"]
    assert graph["hf_unlearn.benchmarks"] >= {"hf_unlearn.benchmarks.tofu"}


def test_package_imports_are_acyclic():
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_foundation_imports_nothing_above_it():
    graph = package_graph()
    for name, allowed in FOUNDATION.items():
        assert graph[name] <= allowed, f"{name} imports {sorted(graph[name] - allowed)}"


def test_function_level_imports_only_keep_heavy_imports_off_light_paths():
    graph = import_graph(module_level_only=True)
    unjustified = [f"{m}:{line} imports {t}" for m, line, t in function_level_imports() if not heavy_imports(t, graph)]
    assert not unjustified, "import at module level instead: " + "; ".join(unjustified)
