"""Approvals are counted per person, by user id, not per username (issue 12, point 2).

The attack: under APPROVALS_REQUIRED=2, bob approves; an admin renames bob to "bobby"
(one change in the admin); bobby approves again and the request goes to KSC on one
person's word. The username stays on each approval for display and for users deleted
since.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction

from accounts import roles
from responses import policy, workflow
from responses.models import Decision, DecisionKind, EventKind, ResponseRequest, Status
from tests.fixtures.accounts import make_user as _user
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


@pytest.fixture
def two_person(settings, alice) -> ResponseRequest:
    settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 2}
    request = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    assert request.approvals_required == 2
    return request


def rename(user: User, new_username: str) -> User:
    user.username = new_username
    user.save(update_fields=["username"])
    return User.objects.get(pk=user.pk)


def test_a_renamed_approver_cannot_approve_a_second_time(two_person, bob):
    workflow.approve(two_person, user=bob, comment="ok")
    bobby = rename(bob, "bobby")

    assert not policy.may(bobby, workflow.APPROVE, two_person)
    with pytest.raises(workflow.WrongStatus, match="already approved"):
        workflow.approve(two_person, user=bobby, comment="ok again")

    two_person.refresh_from_db()
    assert two_person.status == Status.PENDING_APPROVAL  # one person is not two
    assert list(two_person.approvals.values_list("approver_username", flat=True)) == ["bob"]


def test_nor_reject_after_approving_under_the_old_name(two_person, bob):
    workflow.approve(two_person, user=bob)
    with pytest.raises(workflow.WrongStatus, match="already approved"):
        workflow.reject(two_person, user=rename(bob, "bobby"), comment="changed my mind")


def test_a_renamed_requester_still_cannot_approve_their_own_request(two_person, alice):
    alice.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    with pytest.raises(workflow.NotAllowed, match="their own request"):
        workflow.approve(two_person, user=rename(alice, "alice2"))


def test_the_constraint_refuses_one_person_twice_on_postgresql(postgres, two_person, bob, monkeypatch):
    """Even past the permission check (two clicks racing it), the database holds one decision per user id."""
    workflow.approve(two_person, user=bob)
    bobby = rename(bob, "bobby")
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            request=two_person,
            approver=bobby,
            approver_username="bobby",
            decision=DecisionKind.APPROVE,
            fingerprint=two_person.fingerprint,
        )

    # Through the workflow, with the check out of the way as a race would have it.
    monkeypatch.setattr(workflow, "may", lambda *args, **kwargs: policy.ALLOWED)
    with pytest.raises(workflow.WrongStatus, match="already decided"):
        workflow.approve(two_person, user=bobby)
    two_person.refresh_from_db()
    assert two_person.status == Status.PENDING_APPROVAL


def test_two_people_still_approve_and_the_trail_names_them(two_person, bob, carol):
    workflow.approve(two_person, user=bob)
    request = workflow.approve(two_person, user=carol)

    assert request.status in (Status.APPROVED, Status.QUEUED)
    assert request.events.get(kind=EventKind.APPROVED).detail["approvers"] == ["bob", "carol"]


def test_a_deleted_approvers_approval_no_longer_counts_and_their_name_can_be_reused(two_person, bob, carol):
    """Issue 23.5: a decision whose user is gone (approver NULL) is nobody's; only living, distinct people count.

    Before, it counted once by its username, which let a cleared approver id count one approver twice.
    """
    workflow.approve(two_person, user=bob)
    bob.delete()
    assert list(two_person.approvals.values_list("approver_id", "approver_username")) == [(None, "bob")]

    newcomer = _user("bob", roles.APPROVERS)  # another person, given the freed username
    request = workflow.approve(two_person, user=newcomer)
    assert request.status == Status.PENDING_APPROVAL  # the leaver's approval counts for nobody
    assert request.approvals.count() == 2

    request = workflow.approve(two_person, user=carol)
    assert request.status in (Status.APPROVED, Status.QUEUED)
    assert request.events.get(kind=EventKind.APPROVED).detail["approvers"] == ["bob", "carol"]
