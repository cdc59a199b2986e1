"""The package's shape: no module imports a module that imports it back, and no module or
class is too long for one job.

An import made only for type annotations (under ``if TYPE_CHECKING:``) never runs, so it
cannot make a cycle at import time; it still ties a lower module to one above it, so it may
not close a cycle either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import schema_manager

PACKAGE = Path(schema_manager.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, *, type_only: bool) -> list[ast.ImportFrom]:
    """The ``from`` imports of ``tree``; those under ``if TYPE_CHECKING:`` if ``type_only``."""
    found: list[ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node) and not type_only:
            continue
        if isinstance(node, ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(*, type_only: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports at run time, and also
    for annotations only if ``type_only`` (a package's ``__init__`` counts as the package
    itself only where it is the target)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in _imports(ast.parse(path.read_text()), type_only=type_only):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for target in [base] + [f"{base}.{alias.name}" for alias in node.names]:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and modules[target].name != "__init__.py":
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_no_import_cycle_even_through_imports_for_annotations():
    assert cycles(import_graph(type_only=True)) == []


def test_imports_for_annotations_are_in_the_graph_only_when_asked_for():
    session, files = "schema_manager.execution.session", "schema_manager.files"
    assert files not in import_graph()[session]
    assert files in import_graph(type_only=True)[session]


def test_a_cycle_is_found_when_there_is_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_graph_sees_the_runner_import_the_executor():
    graph = import_graph()
    assert "schema_manager.execution.executor" in graph["schema_manager.execution.runner"] | {
        target
        for module in graph["schema_manager.execution.runner"]
        for target in graph.get(module, ())
    }


# Small modules with one job: a core module over this many lines, or a class over that many,
# is doing two jobs (the package's own Django migrations are generated, so left out).
MAX_MODULE_LINES = 300
MAX_CLASS_LINES = 250


def sizes() -> tuple[dict[str, int], dict[str, int]]:
    """Lines per module, and per class (``module.Class``, from the AST, nested ones too)."""
    modules: dict[str, int] = {}
    classes: dict[str, int] = {}
    for name, path in _modules().items():
        text = path.read_text()
        modules[name] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                classes[f"{name}.{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, classes


def test_no_module_or_class_too_long():
    modules, classes = sizes()
    assert {name: n for name, n in modules.items() if n > MAX_MODULE_LINES} == {}
    assert {name: n for name, n in classes.items() if n > MAX_CLASS_LINES} == {}


def test_the_sizes_are_read_from_the_package():
    modules, classes = sizes()
    assert modules["schema_manager.ledger"] > 100
    assert 100 < classes["schema_manager.ledger.Ledger"] < modules["schema_manager.ledger"]
    assert not any(".migrations." in name for name in modules)
