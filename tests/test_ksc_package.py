"""The shape of responses/ksc: no import cycles, KSC's attribute names in one module, no simulator left in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

KSC = Path(__file__).resolve().parent.parent / "responses" / "ksc"


def ksc_imports() -> dict[str, set[str]]:
    """module -> the responses.ksc modules it imports, at any depth (deferred imports count: they hide cycles)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(KSC.glob("*.py")):
        name = path.stem
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "responses.ksc":
                graph[name] |= {alias.name for alias in node.names if (KSC / f"{alias.name}.py").exists()}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("responses.ksc."):
                graph[name].add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name.split(".")[2] for a in node.names if a.name.startswith("responses.ksc.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_the_ksc_package_has_no_import_cycles():
    assert cycles(ksc_imports()) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"client": {"builtin"}, "builtin": {"client"}, "wire": set()}) == [["builtin", "client", "builtin"]]


def test_the_client_interface_does_not_import_its_backends():
    assert not ksc_imports()["client"] & {"builtin", "klakoapi", "factory"}


def test_the_simulator_is_not_in_the_production_package():
    assert not {"simulator", "simulator_tasks", "inventory"} & set(ksc_imports())
    for path in KSC.glob("*.py"):
        assert "ksc_simulator" not in path.read_text(encoding="utf-8").split('"""', 2)[-1], path.name


def test_ksc_attribute_names_are_spelt_only_in_the_attributes_module():
    # KLINCDT_*/KLHST_WKS_* as string literals anywhere else would be a second place to change.
    literal = re.compile(r"""["'](KLINCDT_\w+|KLHST_WKS_\w+|KLHSTUSER_ID)["']""")
    offenders = {
        path.name: sorted(set(literal.findall(path.read_text(encoding="utf-8"))))
        for path in KSC.glob("*.py")
        if path.name != "attributes.py"
    }
    assert {name: found for name, found in offenders.items() if found} == {}
