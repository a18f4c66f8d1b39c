"""Imports run one way: cli -> runner -> defs -> domain -> storage, with no upward import and no loop.

The graph is read from the source (every `import` and `from ... import`, module level or inside a function),
so a lazy import that closes a loop is caught too. docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipelines"

# The layer of each part of the package, top first; a part imports only from its own layer or a lower one.
LAYERS = {
    "cli": 5,
    "runner": 4,
    "definitions": 3,
    "defs": 3,
    "adapters": 2,
    "records": 2,
    "pricing": 2,
    "insights": 2,
    "ingest": 2,
    "warehouse": 2,
    "finance": 2,
    "report": 2,
    "demo": 2,
    "storage": 1,
    "settings": 1,
}
NAMES = {5: "cli", 4: "runner", 3: "defs", 2: "domain", 1: "storage"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["pipelines", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The project modules a file imports (a `from package import name` that names a module counts as that module)."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
    return {name for name in imported if name in MODULES}


GRAPH = {module: _imports(path) for module, path in MODULES.items()}


def _part(module: str) -> str:
    """`pipelines.ingest.gateway` -> `ingest`; the package itself is `pipelines`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pipelines"


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(module) for module in MODULES} - {"pipelines"}
    assert parts - set(LAYERS) == set(), "give the new part a layer here and in docs/architecture.md"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module):
    own = LAYERS.get(_part(module), 0)
    upward = sorted(f"{target} ({NAMES[LAYERS[_part(target)]]})" for target in GRAPH[module] if LAYERS.get(_part(target), 0) > own)
    assert upward == [], f"{module} ({NAMES.get(own, 'package')}) imports upward"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the nodes on it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_import_loop():
    # A package's __init__ may name its own modules; a module importing its package's __init__ is not a loop then.
    graph = {module: {t for t in targets if not module.startswith(t + ".")} for module, targets in GRAPH.items()}
    assert _cycle(graph) is None


def test_no_loop_between_parts():
    parts: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        source = _part(module)
        parts.setdefault(source, set()).update(_part(t) for t in targets if _part(t) != source)
    assert _cycle(parts) is None


def test_the_loop_finder_finds_a_loop():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


MAX_MODULE_LINES = 500


def test_no_module_is_over_500_lines():
    """A module a newcomer can read whole: past 500 lines it holds more than one idea and should be split."""
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}
