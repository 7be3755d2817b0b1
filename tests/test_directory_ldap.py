"""Sign-in against a real OpenLDAP slapd (tests/fixtures/ldap.py): roles follow the directory's nested groups.

The portal talks to slapd over the network exactly as it would to Active Directory;
the directory is changed between logins with real LDAP modifications.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import roles
from accounts.models import DirectoryAccount, DirectoryEvent
from tests.fixtures.ldap import USERS, group_dn, user_dn

LOGIN = "/accounts/login/"


def _login(client, username: str, password: str | None = None):
    password = USERS[username][0] if password is None else password
    return client.post(LOGIN, {"username": username, "password": password})


def _roles(username: str) -> set[str]:
    return set(
        User.objects.get(username=username).groups.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True)
    )


@pytest.fixture
def restore_directory(slapd_server):
    """Undo what a test did to the directory (the server lives for the whole session)."""
    undo: list[tuple[str, str]] = []
    yield undo
    for group, member in undo:
        slapd_server.add_member(group, member)


def test_it_creates_the_user_with_the_role_of_their_group_at_first_login(client, ldap_settings, db):
    response = _login(client, "alice")
    assert response.status_code == 302, response.content.decode()[:2000]
    alice = User.objects.get(username="alice")
    assert _roles("alice") == {roles.ANALYSTS}
    assert (alice.first_name, alice.email) == ("Alice", "alice@corp.example")  # copied from the directory
    assert not alice.has_usable_password()  # the directory's password is never kept
    # Bound to the entry's immutable id (slapd's entryUUID), not to the DN or the uid that can be reused.
    assert DirectoryAccount.objects.get(user=alice).subject.startswith("entryUUID:")
    events = list(
        DirectoryEvent.objects.filter(username="alice").order_by("id").values_list("actor", "action", "detail")
    )
    assert [e[:2] for e in events] == [("directory", "created"), ("directory", "role_added")]
    assert events[1][2] == roles.ANALYSTS
    assert client.get("/").status_code == 200  # an analyst needs no second factor


def test_it_makes_an_approver_through_a_nested_group_and_still_asks_for_the_portals_totp(client, ldap_settings, db):
    response = _login(client, "bob")  # bob is in Tier 2, which is in SOC Approvers
    assert response.status_code == 302
    assert _roles("bob") == {roles.APPROVERS}
    # Approvers from LDAP enrol the portal's TOTP before anything else.
    assert client.get("/").url.startswith("/account/two-factor/")


def test_it_refuses_a_wrong_password_and_creates_nothing(client, ldap_settings, db):
    response = _login(client, "alice", "not-her-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not User.objects.filter(username="alice").exists()


def test_it_refuses_a_directory_user_in_no_mapped_group_with_a_clear_message_and_creates_nothing(
    client, ldap_settings, db
):
    response = _login(client, "mallory")  # right password, but only in Marketing
    assert response.status_code == 200
    assert "not in any group that gives a role in this portal" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
    assert not DirectoryEvent.objects.exists()


def test_it_never_signs_a_directory_user_into_a_local_account_of_the_same_name(client, ldap_settings, db):
    User.objects.create_user("dave", password="local-dave-password-1234")  # a local account, not the directory's
    response = _login(client, "dave")
    assert "A local account named dave already exists" in response.content.decode()
    assert _roles("dave") == set()


def test_it_removes_a_role_removed_in_the_directory_at_the_next_login(
    client, ldap_settings, slapd_server, restore_directory, db
):
    assert _login(client, "erin").status_code == 302
    assert _roles("erin") == {roles.ANALYSTS, roles.APPROVERS}
    slapd_server.remove_member("Tier 2", user_dn("erin"))
    restore_directory.append(("Tier 2", user_dn("erin")))
    client.post("/accounts/logout/")
    assert _login(client, "erin").status_code == 302
    assert _roles("erin") == {roles.ANALYSTS}
    removed = DirectoryEvent.objects.get(username="erin", action="role_removed")
    assert (removed.actor, removed.source, removed.detail) == ("directory", "ldap", roles.APPROVERS)


def test_the_sync_removes_roles_and_deactivates_who_left_every_mapped_group(
    client, ldap_settings, slapd_server, restore_directory, db
):
    for username in ("alice", "erin", "dave"):
        assert _login(client, username).status_code == 302
        client.post("/accounts/logout/")
    slapd_server.remove_member("Tier 2", user_dn("erin"))
    restore_directory.append(("Tier 2", user_dn("erin")))
    slapd_server.remove_member("SOC Auditors", user_dn("dave"))
    restore_directory.append(("SOC Auditors", user_dn("dave")))

    call_command("sync_directory_roles", "--dry-run")
    assert _roles("erin") == {roles.ANALYSTS, roles.APPROVERS}  # a dry run changes nothing

    call_command("sync_directory_roles")
    assert _roles("erin") == {roles.ANALYSTS} and User.objects.get(username="erin").is_active
    dave = User.objects.get(username="dave")
    assert _roles("dave") == set() and not dave.is_active  # left every mapped group
    assert _roles("alice") == {roles.ANALYSTS}  # untouched
    actions = set(DirectoryEvent.objects.filter(source="sync").values_list("username", "action", "actor"))
    assert actions == {
        ("erin", "role_removed", "directory"),
        ("dave", "role_removed", "directory"),
        ("dave", "deactivated", "directory"),
    }
    # Back in the group: the directory undoes its own deactivation at the next login.
    slapd_server.add_member("SOC Auditors", user_dn("dave"))
    restore_directory.remove(("SOC Auditors", user_dn("dave")))
    assert _login(client, "dave").status_code == 302
    assert User.objects.get(username="dave").is_active and _roles("dave") == {roles.AUDITORS}


def test_the_sync_keeps_an_administrators_deactivation(client, ldap_settings, db):
    assert _login(client, "alice").status_code == 302
    User.objects.filter(username="alice").update(is_active=False)  # an administrator's decision
    call_command("sync_directory_roles")
    assert not User.objects.get(username="alice").is_active
    client.logout()
    response = _login(client, "alice")
    assert "This account is inactive" in response.content.decode()
    assert not User.objects.get(username="alice").is_active


def test_an_unreachable_directory_refuses_with_a_clear_message_and_the_local_break_glass_still_works(
    client, ldap_settings, root, db
):
    ldap_settings.LDAP_SERVER_URI = "ldap://127.0.0.1:1"  # nothing listens there
    response = _login(client, "alice")
    assert "The directory (LDAP) did not answer" in response.content.decode()
    assert not User.objects.filter(username="alice").exists()
    response = client.post(LOGIN, {"username": "root", "password": "root-password-1234"})
    assert response.status_code == 302  # the local superuser signs in (then owes the second factor)


def test_the_sync_changes_nothing_when_the_directory_does_not_answer(client, ldap_settings, db):
    assert _login(client, "alice").status_code == 302
    ldap_settings.LDAP_SERVER_URI = "ldap://127.0.0.1:1"
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("sync_directory_roles")
    assert _roles("alice") == {roles.ANALYSTS} and User.objects.get(username="alice").is_active


def test_local_login_can_be_limited_to_superusers(client, ldap_settings, alice_local, root, db):
    ldap_settings.LOCAL_LOGIN_SUPERUSERS_ONLY = True
    response = client.post(LOGIN, {"username": "frank", "password": "frank-password-1234"})
    assert "break-glass superusers only" in response.content.decode()
    assert client.post(LOGIN, {"username": "root", "password": "root-password-1234"}).status_code == 302
    client.post("/accounts/logout/")
    assert _login(client, "alice").status_code == 302  # directory users are not local accounts


@pytest.fixture
def alice_local(frank):
    return frank


def test_role_groups_match_dns_whatever_their_spacing_and_case():
    from accounts.role_groups import roles_for
    from tests.fixtures.ldap import role_groups

    assert roles_for([group_dn("soc analysts").upper().replace(",", " , ")], role_groups()) == {roles.ANALYSTS}


def test_the_worker_schedules_the_sync_every_directory_sync_interval(ldap_settings, db):
    import django_rq
    from rq.registry import ScheduledJobRegistry

    from accounts.sync import SYNC_JOB_ID, schedule_sync

    queue = django_rq.get_queue("ksc")
    registry = ScheduledJobRegistry(queue=queue)
    if SYNC_JOB_ID in registry.get_job_ids():
        registry.remove(SYNC_JOB_ID, delete_job=True)
    try:
        assert schedule_sync() is True
        assert schedule_sync() is False  # idempotent: one schedule, whatever the number of workers
        assert SYNC_JOB_ID in registry.get_job_ids()
        ldap_settings.LDAP_SERVER_URI = ""
        registry.remove(SYNC_JOB_ID, delete_job=True)
        assert schedule_sync() is False  # no directory, no job
    finally:
        if SYNC_JOB_ID in registry.get_job_ids():
            registry.remove(SYNC_JOB_ID, delete_job=True)
