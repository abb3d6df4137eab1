"""The package's layout: its import graph has no cycle, and no module is a shim standing in for another.

The graph is read from the source (AST), not by importing: an edge A -> B is an import of B that runs when A is
imported, i.e. a module-level import (inside ``if``/``try``/class bodies too, but not under ``if TYPE_CHECKING``).
Importing ``xbench.a.b`` from outside package ``xbench.a`` also runs ``xbench/a/__init__.py``: that is an edge to
``xbench.a`` as well. Imports inside functions are lazy edges, taken when the function runs: they are allowed
(heavy frameworks are imported that way) and left out of the graph, so this test cannot see a cycle closed by one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xbench

ROOT = Path(xbench.__file__).resolve().parent


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _module_level(tree: ast.Module):
    """The statements that run when the module is imported: not inside a function, not under TYPE_CHECKING."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the xbench modules its import runs (module-level imports only; see the module docstring)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = _package(name, path).split(".")
                    base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)  # a submodule, when it is one
        edges = set()
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):  # the target and the packages it sits in
                mod = ".".join(parts[:i])
                if mod in modules and mod != name and not name.startswith(mod + "."):
                    edges.add(mod)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert {"xbench.report", "xbench.report.fmt"} <= graph["xbench.explain.fit"]  # the graph was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_sees_a_cycle_and_a_parent_package_edge(tmp_path):
    pkg = tmp_path / "xbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from xbench.sub.b import g\n")
    (pkg / "sub" / "b.py").write_text("def g():\n    from xbench import a  # lazy: no edge\n")
    (pkg / "a.py").write_text("import xbench.sub.b\n")
    assert find_cycle(import_graph(pkg)) is None
    (pkg / "sub" / "b.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("from xbench.a import x\n")  # a -> sub (its __init__) -> b -> c -> a
    assert find_cycle(import_graph(pkg)) == ["xbench.a", "xbench.sub", "xbench.sub.b", "xbench.sub.c", "xbench.a"]


def _is_shim(tree: ast.Module, name: str) -> bool:
    """A module that puts another module in its own place: it assigns to ``sys.modules[__name__]`` (or its own
    name). Other entries are fair game (``onnxtransform`` hides torch from a quantizer for a moment)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if (isinstance(t, ast.Subscript) and ast.unparse(t.value) == "sys.modules"
                        and ast.unparse(t.slice) in ("__name__", repr(name))):
                    return True
    return False


def test_no_module_is_a_shim():
    shims = [name for name, path in _modules().items() if _is_shim(ast.parse(path.read_text(encoding="utf-8")), name)]
    assert not shims, f"modules that stand in for another (sys.modules[__name__] = ...): {shims}"
    shim = "import sys\nfrom xbench.explain import cost\nif True:\n    sys.modules[__name__] = cost\n"
    assert _is_shim(ast.parse(shim), "xbench.cost")
    assert not _is_shim(ast.parse("import sys\nsys.modules['torch'] = None\n"), "xbench.export.transform")
