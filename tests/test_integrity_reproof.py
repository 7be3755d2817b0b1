"""Approvals are proven again before anything reaches KSC (issue 23, points 5 and 17).

The attacker is the portal's own database role (README "Database roles": it writes every
table, owns none, so it cannot switch a trigger off), and for the deeper checks the tables'
owner, who can switch triggers off but does not hold AUDIT_CHAIN_KEY. Before: an UPDATE of
the status to 'approved' sent a pending deleteFile to KSC with no approval at all, and a
cleared approver id let one approver count twice.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DatabaseError

from accounts import roles
from audit import chain as audit_chain
from responses import jobs, workflow
from responses.models import Decision, EventKind, ResponseRequest, Status
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request
from tests.support.tampering import tamper_decision, tamper_request

HASH = "a" * 64


def _pending_delete(alice, simulator) -> ResponseRequest:
    host = simulator.hosts()[0]
    return file_request(
        user=alice,
        task="deleteFile",
        target_host=host["KLHST_WKS_HOSTNAME"],
        target_host_name=host["KLHST_WKS_DN"],
        params={"sha256hash": HASH},
        justification="dropper found by the EDR (ALERT-9)",
        external_ref="ALERT-9",
    )


def _problems_of(request: ResponseRequest) -> list[str]:
    return [problem for problem in audit_chain.verify().problems if str(request.uuid) in problem]


def _refused_unproven(request: ResponseRequest, simulator) -> None:
    """Never sent; FAILED, with an event that says why."""
    request.refresh_from_db()
    assert simulator.incidents() == []  # nothing reached KSC
    assert request.status == Status.FAILED
    assert "approvals do not hold up" in request.last_error
    failed = request.events.filter(kind=EventKind.FAILED).latest("seq")
    assert failed.detail["approvals_unproven"]
    assert request.submission_attempts.count() == 0  # not even an attempt was started


class TestAStatusSetByHand:
    def test_it_never_reaches_ksc(self, submission, portal_role, alice):
        request = _pending_delete(alice, submission)
        portal_role.run("UPDATE responses_responserequest SET status = 'approved' WHERE id = %s", [request.pk])
        assert jobs.reconcile(grace_seconds=0)["enqueued"] == 1  # the reconciler finds it "approved"
        run_worker()
        _refused_unproven(request, submission)
        failed = request.events.filter(kind=EventKind.FAILED).latest("seq")
        assert any("0 approvals" in problem for problem in failed.detail["approvals_unproven"])
        assert any("trail holds no approval" in problem for problem in failed.detail["approvals_unproven"])

    def test_verify_audit_sees_the_status_its_trail_never_reached(self, postgres, portal_role, alice, ksc_settings):
        request = _pending_delete(alice, ksc_settings)
        portal_role.run("UPDATE responses_responserequest SET status = 'approved' WHERE id = %s", [request.pk])
        problems = _problems_of(request)
        assert any("its status is approved but its trail ends at pending_approval" in p for p in problems), problems
        assert any("approved with 0 of the 1 approvals" in p for p in problems), problems

    def test_a_retry_proves_the_approvals_too(self, submission, portal_role, alice, carol):
        request = _pending_delete(alice, submission)
        portal_role.run("UPDATE responses_responserequest SET status = 'failed' WHERE id = %s", [request.pk])
        with pytest.raises(workflow.NotApproved, match="approvals do not hold up"):
            workflow.retry(request, user=carol, comment="try again")
        run_worker()
        _refused_unproven(request, submission)
        assert request.events.filter(kind=EventKind.FAILED, actor_username="carol").count() == 1


class TestOneApproverCountsOnce:
    def test_the_portal_role_cannot_clear_an_approver_who_still_exists(
        self, submission, portal_role, settings, alice, bob
    ):
        settings.APPROVALS_REQUIRED = 2
        request = workflow.approve(_pending_delete(alice, submission), user=bob, comment="one of two")
        with pytest.raises(DatabaseError, match="still exists"):
            portal_role.run("UPDATE responses_approval SET approver_id = NULL WHERE request_id = %s", [request.pk])
        assert Decision.objects.get(request=request).approver_id == bob.pk
        with pytest.raises(workflow.WrongStatus, match="already approved"):
            workflow.approve(request, user=bob, comment="and again")

    def test_a_cleared_approver_does_not_count_even_when_the_owner_cleared_it(self, submission, settings, alice, bob):
        settings.APPROVALS_REQUIRED = 2
        request = workflow.approve(_pending_delete(alice, submission), user=bob, comment="one of two")
        tamper_decision("UPDATE responses_approval SET approver_id = NULL WHERE request_id = %s", [request.pk])
        request = workflow.approve(request, user=bob, comment="and again")  # bob, now "a different person"
        assert request.status == Status.PENDING_APPROVAL  # still one person: the cleared row counts for nobody
        added = request.events.filter(kind=EventKind.APPROVAL_ADDED).latest("seq")
        assert added.detail == {"approvals": 1, "approvals_required": 2}

    def test_a_cleared_approver_does_not_count_at_claim(self, submission, settings, alice, bob, carol):
        settings.APPROVALS_REQUIRED = 2
        request = workflow.approve(_pending_delete(alice, submission), user=bob, comment="one of two")
        tamper_decision("UPDATE responses_approval SET approver_id = NULL WHERE request_id = %s", [request.pk])
        request = workflow.approve(request, user=carol, comment="two of two")
        assert request.status == Status.PENDING_APPROVAL  # bob's approval is nobody's now
        tamper_request("UPDATE responses_responserequest SET status = 'approved' WHERE id = %s", [request.pk])
        jobs.reconcile(grace_seconds=0)
        run_worker()
        _refused_unproven(request, submission)

    def test_deleting_a_user_still_clears_their_references(self, submission, alice, bob):
        request = workflow.approve(_pending_delete(alice, submission), user=bob, comment="go")
        run_worker()
        get_user_model().objects.filter(pk__in=[alice.pk, bob.pk]).delete()
        request.refresh_from_db()
        assert request.requester_id is None and request.requester_username == "alice"
        assert Decision.objects.get(request=request).approver_id is None
        assert _problems_of(request) == []  # approved by a user deleted since: still proven in the trail


class TestApprovalsRequiredIsFrozen:
    def test_the_portal_role_cannot_lower_it(self, submission, portal_role, settings, alice):
        settings.APPROVALS_REQUIRED = 2
        request = _pending_delete(alice, submission)
        with pytest.raises(DatabaseError, match="cannot change after filing"):
            portal_role.run(
                "UPDATE responses_responserequest SET approvals_required = 1 WHERE id = %s", [request.pk]
            )
        request.refresh_from_db()
        assert request.approvals_required == 2

    def test_lowered_by_the_owner_it_is_caught_at_claim(self, submission, settings, alice, bob):
        settings.APPROVALS_REQUIRED = 2
        request = _pending_delete(alice, submission)
        tamper_request("UPDATE responses_responserequest SET approvals_required = 1 WHERE id = %s", [request.pk])
        request = workflow.approve(request, user=bob, comment="one is enough now?")
        assert request.status in (Status.APPROVED, Status.QUEUED)  # the workflow counts against the row...
        run_worker()
        _refused_unproven(request, submission)  # ...the claim against the keyed FILED event
        failed = request.events.filter(kind=EventKind.FAILED).latest("seq")
        assert "it needs 1 approvals now but was filed needing 2" in failed.detail["approvals_unproven"]


class TestWhatWasFiledIsFrozen:
    """Point 17: requester, justification and SIEM reference."""

    @pytest.mark.parametrize(
        "column, value",
        [
            ("justification", "nothing to see here"),
            ("external_ref", "ALERT-1"),
            ("requester_username", "carol"),
            ("requester_id", None),  # set to carol's id below: anyone else
        ],
    )
    def test_the_portal_role_cannot_rewrite_it(self, postgres, portal_role, ksc_settings, alice, carol, column, value):
        request = _pending_delete(alice, ksc_settings)
        value = carol.pk if column == "requester_id" else value
        with pytest.raises(DatabaseError, match="cannot change after filing"):
            portal_role.run(f"UPDATE responses_responserequest SET {column} = %s WHERE id = %s", [value, request.pk])
        request.refresh_from_db()
        assert (request.requester_id, request.justification, request.external_ref) == (
            alice.pk,
            "dropper found by the EDR (ALERT-9)",
            "ALERT-9",
        )

    def test_the_portal_role_cannot_orphan_a_request_whose_requester_exists(
        self, submission, portal_role, alice
    ):
        request = _pending_delete(alice, submission)
        with pytest.raises(DatabaseError, match="still exists"):
            portal_role.run("UPDATE responses_responserequest SET requester_id = NULL WHERE id = %s", [request.pk])

    @pytest.mark.parametrize(
        "column, value, words",
        [
            ("justification", "nothing to see here", "justification"),
            ("external_ref", "ALERT-1", "external_ref"),
            ("requester_username", "carol", "requester"),
        ],
    )
    def test_verify_audit_compares_it_with_the_filed_event(self, postgres, ksc_settings, alice, column, value, words):
        request = _pending_delete(alice, ksc_settings)
        assert _problems_of(request) == []
        tamper_request(f"UPDATE responses_responserequest SET {column} = %s WHERE id = %s", [value, request.pk])
        problems = _problems_of(request)
        assert any(f"its {words} differs from what was filed" in p for p in problems), problems

    def test_another_requester_id_set_by_the_owner_does_not_let_the_requester_approve(
        self, submission, settings, alice, bob, carol
    ):
        """alice is an approver too; the owner makes carol the request's requester, alice approves "carol's" request."""
        alice.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
        request = _pending_delete(alice, submission)
        tamper_request("UPDATE responses_responserequest SET requester_id = %s WHERE id = %s", [carol.pk, request.pk])
        workflow.approve(request, user=alice, comment="my own")
        run_worker()
        _refused_unproven(request, submission)


class TestAnHonestRequestStillPasses:
    def test_approved_submitted_failed_retried_and_verified(self, submission, alice, bob, carol):
        request = workflow.approve(_pending_delete(alice, submission), user=bob, comment="go")
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1
        assert _problems_of(request) == []
        assert audit_chain.verify().intact
