"""Shared fixtures: the personas of every test, and database helpers.

alice analyst, frank another analyst, bob and carol approvers, dave auditor,
mallory a logged-in user with no role, root a superuser.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from responses import roles

pytest_plugins = ["tests.ksc_fixtures"]


def _user(username: str, *groups: str, superuser: bool = False) -> User:
    user = User.objects.create_user(username, f"{username}@example.test", f"{username}-password-1234")
    if superuser:
        user.is_staff = user.is_superuser = True
        user.save()
    for name in groups:
        # get_or_create: transactional tests flush the rows the roles migration made
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


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
