"""The test suite's own layout (docs/testing.md): fixtures registered once, test modules independent.

Read with ``ast`` (nothing is imported), over every .py file under tests/:

- a test module (``test_*.py``) imports no other test module and not conftest, in any form
  (``from tests.test_x import``, ``from tests import test_x``, ``import tests.test_x``);
- a test module imports no fixture function: fixtures are used by argument name only;
- fixtures (functions decorated with ``pytest.fixture``) are defined only in test modules, in
  tests/conftest.py and in the modules of tests/fixtures/, and every one of those modules is
  listed exactly once in conftest's ``pytest_plugins``;
- nothing replaces ``Client.force_login``: a whole login is the ``login`` fixture, asked for
  by name, never a patch that changes what ``force_login`` means for every test.

Each finding names the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = "tests"


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def is_test_module(path: Path) -> bool:
    return path.name.startswith("test_")


def where(path: Path, node: ast.AST, root: Path) -> str:
    return f"{root.name}/{path.relative_to(root)}:{node.lineno}"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join((PACKAGE, *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _is_fixture_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def fixtures_in(tree: ast.AST) -> dict[str, int]:
    """The fixture functions a module defines, by function name, with their line."""
    return {
        node.name: node.lineno
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and any(_is_fixture_decorator(decorator) for decorator in node.decorator_list)
    }


def _absolute(node: ast.ImportFrom, path: Path, root: Path) -> str:
    """The module a ``from ... import`` names, relative imports resolved against ``path``'s package."""
    if not node.level:
        return node.module or ""
    package = module_name(path, root).split(".")
    package = package[: len(package) - node.level + (path.name == "__init__.py")]
    return ".".join([*package, node.module] if node.module else package)


def _is_test_or_conftest(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def imported_modules(node: ast.Import | ast.ImportFrom, path: Path, root: Path) -> Iterator[tuple[str, str]]:
    """(module, name) for every name an import statement binds: name is "" for ``import module``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, ""
        return
    module = _absolute(node, path, root)
    for alias in node.names:
        yield module, alias.name


def import_findings(root: Path) -> list[str]:
    """Test modules that import another test module, conftest, or a fixture function."""
    fixtures = {  # wherever a fixture is (tests/fixtures, or a stray module the next check reports)
        module_name(path, root): fixtures_in(ast.parse(path.read_text(encoding="utf-8")))
        for path in python_files(root)
        if not is_test_module(path)
    }
    found = []
    for path in python_files(root):
        if not is_test_module(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
        for node in sorted(imports, key=lambda node: node.lineno):
            for module, name in imported_modules(node, path, root):
                own = module == PACKAGE or module.startswith(f"{PACKAGE}.") or _is_test_or_conftest(module)
                if not own:
                    continue
                if _is_test_or_conftest(module):
                    found.append(f"{where(path, node, root)}: imports the test module {module}")
                elif name and _is_test_or_conftest(f"{module}.{name}"):
                    found.append(f"{where(path, node, root)}: imports the test module {module}.{name}")
                elif name in fixtures.get(module, {}):
                    found.append(
                        f"{where(path, node, root)}: imports the fixture {name} from {module}"
                        " (ask for it by argument name)"
                    )
    return list(dict.fromkeys(found))  # one line for ``from tests.test_x import a, b``


def plugin_list(root: Path) -> tuple[list[str], int]:
    """conftest's ``pytest_plugins`` and its line (an empty list and 0 where there is none)."""
    conftest = root / "conftest.py"
    if not conftest.is_file():
        return [], 0
    for node in ast.parse(conftest.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins" for target in node.targets
        ):
            return list(ast.literal_eval(node.value)), node.lineno
    return [], 0


def fixture_home_findings(root: Path) -> list[str]:
    """Fixtures outside tests/fixtures, and fixture modules registered never, twice, or that do not exist."""
    found = []
    for path in python_files(root):
        if is_test_module(path) or path == root / "conftest.py" or (root / "fixtures") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, line in fixtures_in(tree).items():
            found.append(f"{root.name}/{path.relative_to(root)}:{line}: the fixture {name} is outside {root.name}/fixtures/")
    plugins, line = plugin_list(root)
    modules = {
        module_name(path, root): path
        for path in (sorted((root / "fixtures").glob("*.py")) if (root / "fixtures").is_dir() else [])
        if path.name != "__init__.py"
    }
    for module, path in modules.items():
        count = plugins.count(module)
        if count != 1:
            how = "missing from" if count == 0 else f"listed {count} times in"
            found.append(f"{root.name}/{path.relative_to(root)}:1: {module} is {how} conftest.py's pytest_plugins")
    for module in dict.fromkeys(plugins):
        if module.startswith(f"{PACKAGE}.") and module not in modules:
            found.append(f"{root.name}/conftest.py:{line}: pytest_plugins names {module}, not a module of {root.name}/fixtures/")
    return found


def _names_force_login(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.split(".")[-1] == "force_login"


def force_login_patch_findings(root: Path) -> list[str]:
    """``X.force_login = ...``, ``setattr(X, "force_login", ...)``, ``monkeypatch.setattr("...force_login", ...)``, patch()."""
    found = []
    for path in python_files(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            if any(isinstance(target, ast.Attribute) and target.attr == "force_login" for target in targets):
                found.append(f"{where(path, node, root)}: assigns force_login")
            elif isinstance(node, ast.Call):
                function = node.func
                called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                if called in {"setattr", "patch", "object"} and any(_names_force_login(arg) for arg in node.args):
                    found.append(f"{where(path, node, root)}: patches force_login")
    return found


# The suite itself.


def test_no_test_module_imports_another_test_module_conftest_or_a_fixture():
    found = import_findings(TESTS)
    assert found == [], "use plain helpers from tests.fixtures / tests.support, fixtures by name:\n" + "\n".join(found)


def test_fixtures_live_in_tests_fixtures_each_registered_once():
    found = fixture_home_findings(TESTS)
    assert found == [], "\n".join(found)


def test_nothing_patches_force_login():
    found = force_login_patch_findings(TESTS)
    assert found == [], "log in with the login fixture instead:\n" + "\n".join(found)


# The checks themselves, on a small tree with every mistake.


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


BAD_TREE = {
    "__init__.py": "",
    "conftest.py": (
        "import pytest\nfrom django.test import Client\n"
        'pytest_plugins = ["tests.fixtures.users", "tests.fixtures.users", "tests.fixtures.gone"]\n'
        "@pytest.fixture(autouse=True)\ndef patch(monkeypatch):\n"
        '    monkeypatch.setattr(Client, "force_login", None)\n'
        '    monkeypatch.setattr("django.test.Client.force_login", None)\n'
    ),
    "old_fixtures.py": "import pytest\n\n@pytest.fixture\ndef server():\n    return 1\n",
    "fixtures/__init__.py": "",
    "fixtures/users.py": "import pytest\n\n@pytest.fixture(name='api')\ndef api_fixture():\n    return 1\n\ndef helper():\n    pass\n",
    "fixtures/browser.py": "from pytest import fixture\n\n@fixture(scope='module')\ndef browser():\n    return 1\n",
    "support/patching.py": "from django.test import Client\n\nClient.force_login = print\nsetattr(Client, 'force_login', print)\n",
    "test_a.py": (
        "from tests.test_b import thing\n"
        "from tests import test_b, conftest\n"
        "import tests.test_b\n"
        "from .test_b import other\n"
        "from tests.fixtures.users import api_fixture, helper\n"
        "from tests.fixtures.browser import browser\n"
        "def test_x():\n    from tests.conftest import patch\n"
    ),
    "test_b.py": (
        "from tests.fixtures.users import helper\nfrom tests.support.patching import Client\n"
        "from tests.old_fixtures import server\n"
    ),
}


def test_the_checks_report_every_mistake_with_its_line(tmp_path):
    root = _write(tmp_path / "tests", BAD_TREE)

    assert import_findings(root) == [
        "tests/test_a.py:1: imports the test module tests.test_b",
        "tests/test_a.py:2: imports the test module tests.test_b",
        "tests/test_a.py:2: imports the test module tests.conftest",
        "tests/test_a.py:3: imports the test module tests.test_b",
        "tests/test_a.py:4: imports the test module tests.test_b",
        "tests/test_a.py:5: imports the fixture api_fixture from tests.fixtures.users (ask for it by argument name)",
        "tests/test_a.py:6: imports the fixture browser from tests.fixtures.browser (ask for it by argument name)",
        "tests/test_a.py:8: imports the test module tests.conftest",
        "tests/test_b.py:3: imports the fixture server from tests.old_fixtures (ask for it by argument name)",
    ]
    assert fixture_home_findings(root) == [
        "tests/old_fixtures.py:4: the fixture server is outside tests/fixtures/",
        "tests/fixtures/browser.py:1: tests.fixtures.browser is missing from conftest.py's pytest_plugins",
        "tests/fixtures/users.py:1: tests.fixtures.users is listed 2 times in conftest.py's pytest_plugins",
        "tests/conftest.py:3: pytest_plugins names tests.fixtures.gone, not a module of tests/fixtures/",
    ]
    assert force_login_patch_findings(root) == [
        "tests/conftest.py:6: patches force_login",
        "tests/conftest.py:7: patches force_login",
        "tests/support/patching.py:3: assigns force_login",
        "tests/support/patching.py:4: patches force_login",
    ]


def test_a_clean_tree_has_no_findings(tmp_path):
    root = _write(
        tmp_path / "tests",
        {
            "__init__.py": "",
            "conftest.py": 'pytest_plugins = ["tests.fixtures.users"]\n',
            "fixtures/__init__.py": "",
            "fixtures/users.py": "import pytest\n\n@pytest.fixture\ndef login():\n    return 1\n\ndef sign_in():\n    pass\n",
            "support/helpers.py": "def page():\n    pass\n",
            "test_a.py": (
                "from tests.fixtures.users import sign_in\nfrom tests.support.helpers import page\n"
                "def test_x(client, login):\n    login(client, None)\n    client.force_login(None)\n"
            ),
        },
    )
    assert import_findings(root) == []
    assert fixture_home_findings(root) == []
    assert force_login_patch_findings(root) == []
