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

import pytest

# Helpers in tests/support/ assert things too: their failures should read as well as a test's.
pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.fixtures.accounts",
    "tests.fixtures.api",
    "tests.fixtures.browser",
    "tests.fixtures.database",
    "tests.fixtures.ksc",
    "tests.fixtures.ldap",
    "tests.fixtures.notifications",
    "tests.fixtures.oidc",
    "tests.fixtures.submission",
]


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    from django.contrib.auth.models import User
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts import stepup, twofactor
    from tests.fixtures.accounts import enrol_totp

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        fresh = User.objects.get(pk=user.pk)
        if twofactor.owes_code_at_login(fresh):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = enrol_totp(fresh).persistent_id
            stepup.mark_fresh_session(session)
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in English: a request served in Japanese leaves Japanese active in its thread."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()
