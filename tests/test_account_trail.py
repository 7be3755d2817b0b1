"""Who grants roles is audited (issue 12.6): groups, superuser/staff/active and 2FA devices.

A superuser can make anyone an approver; these events, with the acting user, are
how auditors see it happen. They live in the keyed "accounts" chain.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from accounts import roles
from accounts.account_trail import acting_as
from accounts.models import AccountEvent, AccountEventKind
from tests.fixtures.accounts import enrol_totp


def latest(subject: str, kind: str) -> AccountEvent:
    return AccountEvent.objects.filter(subject_username=subject, kind=kind).order_by("-seq").first()


def _admin_change_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_a_superuser_making_someone_an_approver_in_the_admin_is_recorded(client, login, root, mallory):
    approvers = Group.objects.get_or_create(name=roles.APPROVERS)[0]
    login(client, root)
    response = client.post(
        f"/admin/auth/user/{mallory.pk}/change/",
        _admin_change_form(mallory, groups=[str(approvers.pk)], is_superuser="on", is_staff="on"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    groups = latest("mallory", AccountEventKind.GROUPS_CHANGED)
    assert groups.actor_username == "root"
    assert groups.detail == {"added": [roles.APPROVERS]}
    flags = latest("mallory", AccountEventKind.USER_CHANGED)
    assert flags.actor_username == "root"
    assert flags.detail["changed"]["is_superuser"] == {"before": False, "after": True}
    assert flags.detail["changed"]["is_staff"] == {"before": False, "after": True}


def test_removals_deactivation_and_deletion_are_recorded_with_the_actor(root, bob):
    with acting_as(root):
        bob.groups.clear()
        bob.is_active = False
        bob.save()
        Group.objects.get_or_create(name=roles.AUDITORS)[0].user_set.add(bob)  # from the group's side
        bob.delete()
    assert latest("bob", AccountEventKind.GROUPS_CHANGED).detail == {"added": [roles.AUDITORS]}
    removed = AccountEvent.objects.filter(subject_username="bob", kind=AccountEventKind.GROUPS_CHANGED)
    assert removed.filter(detail__removed=[roles.APPROVERS], actor_username="root").exists()
    assert latest("bob", AccountEventKind.USER_CHANGED).detail["changed"] == {
        "is_active": {"before": True, "after": False}
    }
    assert latest("bob", AccountEventKind.USER_DELETED).actor_username == "root"


def test_two_factor_devices_added_and_reset_are_recorded(root, bob):
    device = enrol_totp(bob)
    added = latest("bob", AccountEventKind.DEVICE_ADDED)
    assert added.detail == {"device": "TOTPDevice", "name": device.name}
    assert added.actor_username == "system"  # no logged-in user: a command or this test
    with acting_as(root):
        device.delete()  # a superuser resets bob's 2FA
    assert latest("bob", AccountEventKind.DEVICE_REMOVED).actor_username == "root"


def test_a_login_records_nothing(client, alice):
    before = AccountEvent.objects.count()
    client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1234"})
    alice.refresh_from_db()
    assert alice.last_login is not None
    assert AccountEvent.objects.count() == before


def test_auditors_see_account_changes_and_nobody_else_does(client, login, root, dave, alice, bob, mallory):
    with acting_as(root):
        mallory.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    login(client, dave)
    page = client.get("/audit/accounts/", {"user": "mallory"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Groups changed" in text and "root" in text and roles.APPROVERS in text
    assert "Account changes" in client.get("/").content.decode()  # in the auditors' menu
    for outsider in (alice, bob):
        login(client, outsider)
        assert client.get("/audit/accounts/").status_code == 403
        assert "Account changes" not in client.get("/").content.decode()


def test_the_admin_lists_account_events_and_anchors_read_only(client, login, root, mallory):
    login(client, root)
    listing = client.get("/admin/accounts/accountevent/")
    assert listing.status_code == 200
    assert "mallory" in listing.content.decode()
    assert client.get("/admin/accounts/accountevent/add/").status_code == 403
    assert client.get("/admin/audit/auditanchor/").status_code == 200
