"""The suite's one registration of its fixtures (docs/testing.md).

Every fixture module lives in tests/fixtures/ and is listed here, once, in ``pytest_plugins``:
its fixtures are then available to every test by argument name, and no test module imports a
fixture, another test module or this file (tests/test_test_layout.py checks). Plain helpers and
constants that are no fixtures live in tests/fixtures/ beside the fixtures they go with, or in
tests/support/, and are imported from there.

Logging a test client in is explicit: ``def test_x(client, login, bob): login(client, bob)``
(tests/fixtures/accounts.py) is a whole login, password and second factor where owed. A bare
``client.force_login(user)`` is the password only: a user who owes a code is stopped at the
code page, as in real life.
"""

from __future__ import annotations

import sys

import pytest

# Helpers in tests/support/ assert things too: their failures should read as well as a test's.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.fixtures.accounts",
    "tests.fixtures.api",
    "tests.fixtures.browser",
    "tests.fixtures.axe",
    "tests.fixtures.chat",
    "tests.fixtures.database",
    "tests.fixtures.fault_stand",
    "tests.fixtures.simulated_ksc",  # before ksc, which imports helpers from it
    "tests.fixtures.ksc",
    "tests.fixtures.ldap",
    "tests.fixtures.notifications",
    "tests.fixtures.oidc",
    "tests.fixtures.submission",
    "tests.fixtures.tenants",
]

# `python -m pytest -p no:django tests/ksc_client` runs the KSC client's tests without Django: then only
# the fixture modules that need no Django are registered, and the autouse fixtures below stand aside.
DJANGO = "pytest_django.plugin" in sys.modules
if not DJANGO:
    pytest_plugins = ["tests.fixtures.simulated_ksc"]


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in English: a request served in Japanese leaves Japanese active in its thread."""
    if not DJANGO:
        yield
        return
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _signal_handlers_kept():
    """An RQ worker run in the test process leaves its SIGINT/SIGTERM handlers; they go with the test."""
    from tests.support.signals import signal_handlers_kept  # after register_assert_rewrite above

    with signal_handlers_kept():
        yield
