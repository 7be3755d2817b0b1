"""tests/ksc_client/: the KSC client's own tests, which need neither Django nor a database.

They run in the whole suite like any other, and alone without pytest-django::

    python -m pytest -p no:django tests/ksc_client

Their fixtures (the simulator over HTTPS, its certificate, ``backend``) are in
tests/fixtures/simulated_ksc.py, which imports no Django; tests/conftest.py registers only that
module when pytest-django is off. Run so, this file also fails any test here that made Django
importable-and-imported: ksc_client must work without it.
"""

from __future__ import annotations

import sys

import pytest


def pytest_runtest_teardown(item):
    if "pytest_django.plugin" in sys.modules:
        return  # the whole suite: Django is loaded by the other tests anyway
    loaded = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
    if loaded:
        pytest.fail(f"{item.nodeid} imported Django ({', '.join(loaded[:3])}...): ksc_client must not need it")
