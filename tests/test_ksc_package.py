"""The shape of ksc_client/: no import cycles, KSC's attribute names in one module, no simulator left in it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KSC = ROOT / "ksc_client"


def ksc_imports() -> dict[str, set[str]]:
    """module -> the ksc_client modules it imports, at any depth (deferred imports count: they hide cycles)."""
    graph: dict[str, set[str]] = {}
    assert (KSC / "client.py").is_file(), KSC
    for path in sorted(KSC.glob("*.py")):
        name = path.stem
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ksc_client":
                graph[name] |= {alias.name for alias in node.names if (KSC / f"{alias.name}.py").exists()}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ksc_client."):
                graph[name].add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name.split(".")[1] for a in node.names if a.name.startswith("ksc_client.")}
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


# --- no Django in ksc_client (issue 25, point 2) ---

IMPORT_WITHOUT_DJANGO = """
import pkgutil, sys
sys.modules["django"] = None  # any `import django...` now raises ImportError
import ksc_client
names = sorted(info.name for info in pkgutil.iter_modules(ksc_client.__path__))
for name in names:
    __import__(f"ksc_client.{name}")
config = ksc_client.KscConfig(url="https://ksc.example.test:13299", user="u", password="p")
assert config.host == "ksc.example.test" and config.port == 13299, config
assert not any(module == "django" or module.startswith("django.") for module in sys.modules if sys.modules[module])
print(" ".join(names))
"""


def test_ksc_client_and_every_module_in_it_import_where_django_cannot_be_imported():
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_DJANGO], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    imported = set(done.stdout.split())
    assert {"builtin", "client", "errors", "filters", "klakoapi", "tasks", "transport", "wire"} <= imported


def test_the_django_less_check_fails_when_a_module_needs_django(tmp_path):
    """The check itself: the same script fails on a package that imports Django."""
    package = tmp_path / "ksc_client"
    package.mkdir()
    (package / "__init__.py").write_text("KscConfig = None\n")
    (package / "bad.py").write_text("from django.conf import settings\n")
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_DJANGO], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "django" in done.stderr


def test_no_module_of_ksc_client_names_django():
    offenders = [
        path.name for path in sorted(KSC.rglob("*.py")) if re.search(r"\bdjango\b", path.read_text(encoding="utf-8"), re.I)
    ]
    assert sorted(KSC.rglob("*.py")) and offenders == []


def test_no_responses_ksc_is_left_anywhere():
    assert not (ROOT / "responses" / "ksc").exists()
    spelled = re.compile(r"responses[./]ksc\b(?!_)")
    offenders = []
    for folder in ("responses", "accounts", "notifications", "portal", "ksc_client", "ksc_simulator", "benchmarks", "tests", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".html", ".txt") and spelled.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
