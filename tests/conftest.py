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

import time

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles, stepup, twofactor

pytest_plugins = ["tests.ksc_fixtures", "tests.ldap_fixtures", "tests.oidc_fixtures", "tests.notification_fixtures", "tests.schema_fixtures"]


def _user(username: str, *groups: str, superuser: bool = False) -> User:
    user = User.objects.create_user(username, f"{username}@example.test", f"{username}-password-1234")
    if superuser:
        user.is_staff = user.is_superuser = True
        user.save()
    for name in groups:
        # get_or_create: transactional tests flush the rows the roles migration made
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def enrol_totp(user: User) -> TOTPDevice:
    """The user's confirmed authenticator, set up now if they have none."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)


def totp_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the user's app shows now (or ``steps_ahead`` periods later: a device takes each code once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        fresh = User.objects.get(pk=user.pk)  # not the caller's object: its cached roles stay as they were
        if twofactor.owes_code_at_login(fresh):
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = enrol_totp(fresh).persistent_id
            stepup.mark_fresh_session(session)  # as typing the code does (account_views._after_second_factor)
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def alice(db) -> User:
    return _user("alice", roles.ANALYSTS)


@pytest.fixture
def frank(db) -> User:
    return _user("frank", roles.ANALYSTS)


@pytest.fixture
def bob(db) -> User:
    return _user("bob", roles.APPROVERS)


@pytest.fixture
def carol(db) -> User:
    return _user("carol", roles.APPROVERS)


@pytest.fixture
def dave(db) -> User:
    return _user("dave", roles.AUDITORS)


@pytest.fixture
def mallory(db) -> User:
    return _user("mallory")


@pytest.fixture
def root(db) -> User:
    return _user("root", superuser=True)


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
