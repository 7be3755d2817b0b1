"""Shared fixtures: the personas of every test, and database helpers.

alice analyst, frank another analyst, bob and carol approvers, dave auditor,
mallory a logged-in user with no role, root a superuser.

Two-factor authentication: in tests, ``client.force_login(user)`` stands for a whole
login, password and second factor. A user who must use 2FA (approvers, superusers,
staff), or who has an authenticator, gets one (``enrol_totp``) and the session is
marked verified by it, as if the code had been typed, and the step-up is fresh, as
after a real code (or, for a user without a second factor, after the password). Tests of the login itself go through
/accounts/login/ and type codes made with ``totp_code`` (tests/test_security_*.py).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from accounts import stepup, twofactor

pytest_plugins = ["tests.fixtures.accounts", "tests.ksc_fixtures", "tests.ldap_fixtures", "tests.oidc_fixtures", "tests.notification_fixtures", "tests.schema_fixtures"]


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    original = Client.force_login

    def force_login(self, user, backend=None):
        from tests.fixtures.accounts import enrol_totp

        original(self, user, backend)
        fresh = User.objects.get(pk=user.pk)
        if twofactor.owes_code_at_login(fresh):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = enrol_totp(fresh).persistent_id
            stepup.mark_fresh_session(session)
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def postgres(db):
    """Skip, with the reason printed, where the database is not PostgreSQL."""
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (row locks, triggers); DATABASE_URL is {connection.vendor}")
    return connection


@pytest.fixture
def ksc_queue(settings):
    """The real `ksc` RQ queue on the test Redis, emptied before and after the test."""
    import django_rq

    queue = django_rq.get_queue("ksc")
    queue.connection.flushdb()
    yield queue
    queue.connection.flushdb()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in English: a request served in Japanese leaves Japanese active in its thread."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()
