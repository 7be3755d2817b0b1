"""No import cycles (issue 14.2): a module never needs, even inside a function, a module that needs it.

A cycle hides which concern depends on which (twofactor and stepup each imported the
other, stepup and oidc too) and breaks at import time as soon as one of the imports moves
to the top of its module. Imports inside functions count: they are how such cycles hid.

The packages listed here are free of cycles; ``responses`` joins the list when the
restructure of its own modules (ksc, workflow) lands.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("accounts", "notifications", "portal", "responses")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that ``name`` imports anywhere in its body (``from a import b`` may name module a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(candidate for candidate in candidates if candidate in modules and candidate != name)
    return found


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    modules = _modules()
    graph = {name: sorted(_imports(name, path, modules)) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
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
                    cycles.append(sorted(component))
    return cycles


@pytest.mark.parametrize("package", ["accounts", "notifications", "portal"])
def test_no_module_of_the_package_is_in_an_import_cycle(package):
    involved = [cycle for cycle in _cycles() if any(module.split(".")[0] == package for module in cycle)]
    assert involved == [], f"import cycles through {package}/: {involved}"


def test_it_finds_a_cycle_hidden_in_a_function(tmp_path, monkeypatch):
    # The detector itself: two modules that import each other, one of them only inside a function.
    package = tmp_path / "accounts"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from accounts import second\n")
    (package / "second.py").write_text("def later():\n    from accounts import first\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _cycles() == [["accounts.first", "accounts.second"]]
