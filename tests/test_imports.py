"""The import graph of ``xai_core``: no cycles, and layers that point one way.

The graph is built from the source with :mod:`ast` (nothing is imported). A module is a ``.py``
file; a package is named by its ``__init__.py``. Each ``import`` and ``from … import`` statement
of an ``xai_core`` module counts, at module level or inside a function or class alike (a
function-level import dodges a cycle at import time, not the dependency), except those under
``if TYPE_CHECKING:`` (they never run). Relative imports are resolved against the importing module.

The rule: a module M that imports module T depends on

- T itself (unless T is M); with ``from P import name``, T is ``P.name`` when that is a module
  (a submodule imported by name), else P (a name defined by P's ``__init__``);
- every package enclosing T that does not enclose M: Python runs those ``__init__`` files first, while
  the packages enclosing M are already initialised (or initialising) when M runs.

So a package's ``__init__`` that re-exports its submodules is no cycle by itself: a submodule reaching a
sibling (``from .base import X``, ``from . import units``) depends on the sibling only. But a
submodule that imports a name from its own package's ``__init__`` (``from . import X`` with X
defined there, or ``from xai_core.pkg import X``) depends on that ``__init__``, which imports the
submodule back: a cycle. The graph must have no cycle (strongly connected component) at all.

Layers (pages → services → methods/metrics → models/data → store): ``xai_core.store``,
``xai_core.models`` and ``xai_core.data`` never reach ``xai_core.services``, ``xai_core.methods`` or
``xai_core.metrics``; ``xai_core.methods`` and ``xai_core.metrics`` never reach ``xai_core.services``
(directly or through any other module).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "xai_core"

#: (lower layers, what they must never reach)
LAYERS = [
    (("xai_core.store", "xai_core.models", "xai_core.data"),
     ("xai_core.services", "xai_core.methods", "xai_core.metrics")),
    (("xai_core.methods", "xai_core.metrics"), ("xai_core.services",)),
]

Graph = dict[str, dict[str, int]]  # module → {module it depends on: line of the first import}


def modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is a package)}`` for every ``.py`` file of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _enclosing(name: str) -> set[str]:
    """The packages enclosing a dotted module name: ``a.b.c`` → {``a``, ``a.b``}."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, but those under ``if TYPE_CHECKING:`` (its ``else`` counts)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                todo.extend(child.orelse)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            else:
                todo.append(child)


def _targets(node: ast.Import | ast.ImportFrom, name: str, is_package: bool, known: dict) -> list[str]:
    """The modules one statement of module ``name`` imports (before adding enclosing packages)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        here = (name if is_package else name.rpartition(".")[0]).split(".")
        base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> Graph:
    """The dependency graph of ``package``'s modules by the rule in this module's docstring."""
    known = modules(root, package)
    graph: Graph = {}
    for name, (path, is_package) in known.items():
        ready = _enclosing(name) | ({name} if is_package else set())  # initialised before M's code runs
        edges = graph.setdefault(name, {})
        for node in _imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, name, is_package, known):
                if target != package and not target.startswith(package + "."):
                    continue
                while target not in known:  # ``import pkg.mod.attr``-like spellings: the module holding it
                    target = target.rpartition(".")[0]
                for dep in (_enclosing(target) - ready) | {target}:
                    if dep != name:
                        edges.setdefault(dep, node.lineno)
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(graph: Graph, component: list[str]) -> str:
    edges = [f"{a} (line {line}) → {b}" for a in component for b, line in graph[a].items() if b in component]
    return "cycle among " + ", ".join(component) + ":\n  " + "\n  ".join(edges)


def reaches(graph: Graph, start: str) -> set[str]:
    """Every module ``start`` depends on, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph.get(todo.pop(), {}):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph()


def test_xai_core_has_no_import_cycle(graph):
    assert len(graph) > 50  # every module was read
    found = cycles(graph)
    assert not found, "\n".join(_describe(graph, c) for c in found)


@pytest.mark.parametrize("lower, banned", LAYERS)
def test_layers_point_one_way(graph, lower, banned):
    wrong = {m: sorted(d for d in reaches(graph, m) if _under(d, banned)) for m in graph if _under(m, lower)}
    wrong = {m: deps for m, deps in wrong.items() if deps}
    assert not wrong, "\n".join(f"{m} reaches {', '.join(deps)}" for m, deps in wrong.items())


# -- the rule itself, on a package written for it ----------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_rule_on_a_small_package(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from .sub import f\nfrom .other import g\nNAME = 1\n",
        "pkg/sub.py": "from . import other\nfrom .helpers.tools import t\n",  # a sibling, a nested module
        "pkg/other.py": "import os\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .late import L\n",
        "pkg/late.py": "from .other import g\n",
        "pkg/helpers/__init__.py": "",
        "pkg/helpers/tools.py": "def t():\n    from ..sub import f  # function level counts\n",
    })
    g = import_graph(tmp_path, "pkg")
    assert set(g["pkg"]) == {"pkg.sub", "pkg.other"}  # re-exports
    assert set(g["pkg.sub"]) == {"pkg.other", "pkg.helpers", "pkg.helpers.tools"}  # not pkg: it is enclosing
    assert set(g["pkg.other"]) == set()  # TYPE_CHECKING imports and other packages do not count
    assert cycles(g) == [["pkg.helpers.tools", "pkg.sub"]]
    assert "pkg.helpers.tools (line 2) → pkg.sub" in _describe(g, cycles(g)[0])

    _write(tmp_path, {"pkg/helpers/tools.py": "def t():\n    pass\n", "pkg/late.py": "from . import NAME\n",
                      "pkg/other.py": "from .late import NAME\n"})
    g = import_graph(tmp_path, "pkg")
    assert "pkg" in g["pkg.late"]  # a name from the package's own __init__: that __init__ imports it back
    assert cycles(g) == [["pkg", "pkg.late", "pkg.other", "pkg.sub"]]  # pkg → sub → other → late → pkg
    assert reaches(g, "pkg.helpers.tools") == set()
