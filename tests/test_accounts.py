"""Roles exist as groups from the migration; login and logout work; pages need a login."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts import roles


@pytest.mark.django_db
def test_the_migration_creates_the_three_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {"Analysts", "Approvers", "Auditors"}


def test_anonymous_users_are_sent_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_a_user_logs_in_and_out(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1234"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/logout-is-post-only/").status_code == 404
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_roles_are_checked_by_group(alice, bob, root):
    assert roles.has_role(alice, roles.ANALYSTS)
    assert not roles.has_role(alice, roles.APPROVERS)
    assert roles.has_role(bob, roles.APPROVERS)
    # superusers administer; they get no role implicitly
    assert not roles.has_role(root, roles.APPROVERS)
