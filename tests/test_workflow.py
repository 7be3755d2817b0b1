"""The workflow: every allowed and refused transition, the two-person rule, expiry, the trail.

Enqueueing is real: approved requests go to the `ksc` queue on the test Redis.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts import roles
from responses import policy, workflow
from responses.models import Decision, EventKind, RequestEvent, ResponseRequest, Status, SubmissionAttempt
from tests.fixtures.api import HOST, file
from tests.support.filing import file_request


def kinds(request: ResponseRequest) -> list[str]:
    return list(request.events.values_list("kind", flat=True))


@pytest.fixture
def run_on_commit(transactional_db):
    """Real commits, so that on_commit callbacks (the enqueue) run as in production."""


class TestFiling:
    def test_a_request_that_needs_approval_waits(self, alice, ksc_queue):
        request = file(alice)
        assert request.status == Status.PENDING_APPROVAL
        assert request.approvals_required == 1
        assert request.expires_at is not None
        assert kinds(request) == [EventKind.FILED]
        assert ksc_queue.count == 0  # nothing reaches KSC before approval

    def test_a_request_that_needs_no_approval_is_queued_at_once(self, alice, ksc_queue, run_on_commit):
        request = file(alice, "getFile", {"path": "C:\\evidence.bin"})
        request.refresh_from_db()
        assert request.status == Status.QUEUED
        assert kinds(request) == [EventKind.FILED, EventKind.APPROVED, EventKind.QUEUED]
        assert ksc_queue.job_ids == [str(request.uuid)]  # the request's UUID is the RQ job id

    def test_it_stores_the_cleaned_params(self, alice):
        request = file(alice, "getFile", {"md5hash": "D41D8CD98F00B204E9800998ECF8427E"})
        assert request.params == {"md5hash": "d41d8cd98f00b204e9800998ecf8427e", "sha256hash": "", "path": ""}

    def test_only_analysts_file(self, bob, dave, mallory, root):
        for user in (bob, dave, mallory, root):
            with pytest.raises(workflow.NotAllowed, match="Only members of Analysts"):
                file(user)
        assert ResponseRequest.objects.count() == 0

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"task": "wipeDisk"}, "task"),
            ({"target_host": ""}, "target_host"),
            ({"target_host": "host\n"}, "target_host"),
            ({"params": {"action": 5}}, "params"),
            ({"justification": "   "}, "justification"),
            ({"justification": "x" * 4001}, "justification"),
            ({"external_ref": "ALERT\x00"}, "external_ref"),
        ],
    )
    def test_bad_input_is_refused_field_by_field_and_changes_nothing(self, alice, changes, field):
        arguments = {
            "user": alice,
            "task": "isolateHost",
            "target_host": HOST,
            "params": {"action": 1},
            "justification": "why",
        }
        arguments.update(changes)
        with pytest.raises(workflow.InvalidRequest) as refused:
            file_request(**arguments)
        assert field in refused.value.errors
        assert ResponseRequest.objects.count() == 0
        assert RequestEvent.objects.count() == 0

    def test_param_errors_are_nested_under_params(self, alice):
        with pytest.raises(workflow.InvalidRequest) as refused:
            file(alice, "deleteFile", {"md5hash": "nope"})
        assert "md5hash" in refused.value.errors["params"]


class TestTwoPersonRule:
    def test_another_approver_approves_and_it_is_queued_once(self, alice, bob, ksc_queue, run_on_commit):
        request = file(alice)
        request = workflow.approve(request, user=bob, comment="Confirmed with the host owner.")
        assert request.status == Status.QUEUED
        assert ksc_queue.job_ids == [str(request.uuid)]
        approval = Decision.objects.get(request=request)
        assert (approval.approver_username, approval.decision) == ("bob", "approve")
        assert approval.fingerprint == request.fingerprint
        events = list(request.events.all())
        assert [(e.kind, e.actor_username) for e in events] == [
            (EventKind.FILED, "alice"),
            (EventKind.APPROVED, "bob"),
            (EventKind.QUEUED, "system"),
        ]
        assert (events[1].status_before, events[1].status_after) == (Status.PENDING_APPROVAL, Status.APPROVED)
        assert events[1].message == "Confirmed with the host owner."

    def test_nobody_approves_their_own_request(self, alice, ksc_queue):
        alice.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
        alice = User.objects.get(pk=alice.pk)  # drop the cached roles
        request = file(alice)
        with pytest.raises(workflow.NotAllowed, match="their own request"):
            workflow.approve(request, user=alice)
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL
        assert Decision.objects.count() == 0
        assert ksc_queue.count == 0

    def test_a_superuser_cannot_approve_alone(self, root, alice):
        request = file(alice)
        with pytest.raises(workflow.NotAllowed, match="Only members of Approvers"):
            workflow.approve(request, user=root)
        root.groups.add(
            Group.objects.get_or_create(name=roles.ANALYSTS)[0], Group.objects.get_or_create(name=roles.APPROVERS)[0]
        )
        root = User.objects.get(pk=root.pk)
        own = file(root)
        with pytest.raises(workflow.NotAllowed, match="their own request"):
            workflow.approve(own, user=root)
        assert ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL).count() == 2

    def test_analysts_and_auditors_cannot_approve(self, alice, frank, dave, mallory):
        request = file(alice)
        for user in (frank, dave, mallory):
            with pytest.raises(workflow.NotAllowed):
                workflow.approve(request, user=user)
            with pytest.raises(workflow.NotAllowed):
                workflow.reject(request, user=user, comment="no")
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL

    def test_two_approvers_policy(self, settings, alice, bob, carol, ksc_queue, run_on_commit):
        settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 2}
        request = file(alice)
        assert request.approvals_required == 2
        request = workflow.approve(request, user=bob)
        assert request.status == Status.PENDING_APPROVAL
        assert ksc_queue.count == 0
        # the same approver twice counts once
        with pytest.raises(workflow.WrongStatus, match="already approved"):
            workflow.approve(request, user=bob)
        assert Decision.objects.filter(request=request).count() == 1
        request = workflow.approve(request, user=carol)
        assert request.status == Status.QUEUED
        assert ksc_queue.count == 1
        assert kinds(request) == [EventKind.FILED, EventKind.APPROVAL_ADDED, EventKind.APPROVED, EventKind.QUEUED]

    def test_the_approval_count_is_fixed_when_filed(self, settings, alice, bob):
        request = file(alice)
        settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 3}
        assert workflow.approve(request, user=bob).status in (Status.APPROVED, Status.QUEUED)

    def test_a_request_changed_in_the_database_is_not_approved(self, alice, bob):
        request = file(alice)
        ResponseRequest.objects.filter(pk=request.pk).update(params={"action": 0})
        with pytest.raises(workflow.NotAllowed, match="changed after it was filed"):
            workflow.approve(request, user=bob)
        assert Decision.objects.count() == 0


class TestRejectAndCancel:
    def test_one_rejection_rejects(self, settings, alice, bob, carol, ksc_queue):
        settings.APPROVALS_REQUIRED_BY_TASK = {"isolateHost": 2}
        request = file(alice)
        workflow.approve(request, user=bob)
        request = workflow.reject(request, user=carol, comment="Wrong host: that is the payroll server.")
        assert request.status == Status.REJECTED
        assert ksc_queue.count == 0
        event = request.events.get(kind=EventKind.REJECTED)
        assert (event.actor_username, event.message) == ("carol", "Wrong host: that is the payroll server.")

    def test_a_rejection_needs_a_reason(self, alice, bob):
        request = file(alice)
        with pytest.raises(workflow.InvalidRequest) as refused:
            workflow.reject(request, user=bob, comment="  ")
        assert "comment" in refused.value.errors
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL

    def test_the_requester_cancels_while_pending(self, alice):
        request = workflow.cancel(file(alice), user=alice, comment="Filed against the wrong host.")
        assert request.status == Status.CANCELLED
        assert request.events.get(kind=EventKind.CANCELLED).actor_username == "alice"

    def test_nobody_else_cancels(self, alice, frank, bob, dave, root):
        request = file(alice)
        for user in (frank, bob, dave, root):
            with pytest.raises(workflow.NotAllowed, match="Only the requester"):
                workflow.cancel(request, user=user)
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL

    @pytest.mark.parametrize("final", ["approve", "reject", "cancel"])
    def test_a_decided_request_cannot_be_decided_again(self, alice, bob, carol, final, ksc_queue, run_on_commit):
        request = file(alice)
        if final == "approve":
            workflow.approve(request, user=bob)
        elif final == "reject":
            workflow.reject(request, user=bob, comment="no")
        else:
            workflow.cancel(request, user=alice)
        request.refresh_from_db()
        status, events = request.status, RequestEvent.objects.count()
        with pytest.raises(workflow.WrongStatus):
            workflow.approve(request, user=carol)
        with pytest.raises(workflow.WrongStatus):
            workflow.reject(request, user=carol, comment="late")
        with pytest.raises(workflow.WrongStatus):
            workflow.cancel(request, user=alice)
        request.refresh_from_db()
        assert request.status == status
        assert RequestEvent.objects.count() == events


class TestRetry:
    def _failed(self, alice, bob) -> ResponseRequest:
        request = file(alice)
        workflow.approve(request, user=bob)
        ResponseRequest.objects.filter(pk=request.pk).update(status=Status.FAILED, last_error="KSC unreachable")
        request.refresh_from_db()
        return request

    def test_an_approver_retries_a_failed_request(self, alice, bob, carol, ksc_queue, run_on_commit):
        request = self._failed(alice, bob)
        ksc_queue.empty()
        request = workflow.retry(request, user=carol, comment="KSC is back.")
        assert request.status == Status.QUEUED
        assert request.last_error == ""
        assert ksc_queue.job_ids == [str(request.uuid)]
        assert request.events.filter(kind=EventKind.RETRIED, actor_username="carol").exists()

    def test_analysts_auditors_and_the_requester_cannot_retry(self, alice, bob, dave, ksc_queue):
        request = self._failed(alice, bob)
        for user in (alice, dave):
            with pytest.raises(workflow.NotAllowed):
                workflow.retry(request, user=user)
        request.refresh_from_db()
        assert request.status == Status.FAILED

    def test_only_failed_requests_are_retried(self, alice, bob, carol):
        request = file(alice)
        with pytest.raises(workflow.WrongStatus, match="only failed requests"):
            workflow.retry(request, user=bob)


class TestExpiry:
    def test_the_sweep_expires_overdue_requests(self, alice):
        overdue, fresh = file(alice), file(alice)
        ResponseRequest.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert workflow.expire_overdue() == 1
        overdue.refresh_from_db()
        fresh.refresh_from_db()
        assert (overdue.status, fresh.status) == (Status.EXPIRED, Status.PENDING_APPROVAL)
        event = overdue.events.get(kind=EventKind.EXPIRED)
        assert (event.actor_username, event.status_before) == ("system", Status.PENDING_APPROVAL)
        assert workflow.expire_overdue() == 0  # expiring twice writes nothing twice
        assert overdue.events.filter(kind=EventKind.EXPIRED).count() == 1

    def test_approving_an_overdue_request_expires_it_instead(self, alice, bob, ksc_queue):
        request = file(alice)
        ResponseRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
        with pytest.raises(workflow.WrongStatus, match="expired"):
            workflow.approve(request, user=bob)
        request.refresh_from_db()
        assert request.status == Status.EXPIRED  # the expiry stays, though the approval was refused
        assert Decision.objects.count() == 0
        assert ksc_queue.count == 0

    def test_reading_an_overdue_request_writes_nothing_and_says_overdue_the_keeper_expires_it(self, alice):
        request = file(alice)
        ResponseRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
        events = request.events.count()
        read = workflow.get_for_user(alice, request.uuid)
        assert (read.status, read.overdue) == (Status.PENDING_APPROVAL, True)
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL and request.events.count() == events  # a GET changed nothing
        assert workflow.expire_overdue() == 1  # the keeper's reconciler
        read = workflow.get_for_user(alice, request.uuid)
        assert (read.status, read.overdue) == (Status.EXPIRED, False)

    def test_its_page_says_overdue_and_opening_it_changes_nothing(self, client, login, alice):
        request = file(alice)
        ResponseRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
        login(client, alice)
        page = client.get(f"/requests/{request.uuid}/").content.decode()
        assert "data-overdue" in page and ">overdue<" in page
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL

    def test_a_request_within_its_window_is_not_overdue(self, alice):
        request = file(alice)
        assert workflow.get_for_user(alice, request.uuid).overdue is False

    def test_the_window_is_a_setting(self, settings, alice):
        settings.APPROVAL_TTL = 600
        request = file(alice)
        assert dt.timedelta(seconds=590) < request.expires_at - request.created_at <= dt.timedelta(seconds=601)


class TestVisibility:
    def test_analysts_see_their_own_requests_only(self, alice, frank, bob, dave, mallory, root):
        mine = file(alice)
        file(frank)
        assert list(ResponseRequest.objects.visible_to(alice)) == [mine]
        assert ResponseRequest.objects.visible_to(mallory).count() == 0
        for user in (bob, dave, root):
            assert ResponseRequest.objects.visible_to(user).count() == 2
        with pytest.raises(ResponseRequest.DoesNotExist):
            workflow.get_for_user(frank, mine.uuid)

    def test_allowed_actions_follow_the_permission_function(self, alice, bob, dave):
        request = file(alice)
        assert policy.allowed_actions(alice, request) == [workflow.CANCEL]
        assert policy.allowed_actions(bob, request) == [workflow.APPROVE, workflow.REJECT]
        assert policy.allowed_actions(dave, request) == []


class TestAuditTrail:
    def test_the_trail_survives_user_deletion(self, alice, bob, run_on_commit, ksc_queue):
        request = workflow.approve(file(alice), user=bob)
        alice.delete()
        bob.delete()
        request.refresh_from_db()
        assert request.requester is None and request.requester_username == "alice"
        assert list(request.events.values_list("actor_username", flat=True)) == ["alice", "bob", "system"]
        assert Decision.objects.get(request=request).approver_username == "bob"

    def test_auditlog_records_field_changes_with_the_actor(self, alice, bob):
        from auditlog.models import LogEntry

        request = workflow.approve(file(alice), user=bob)
        entries = LogEntry.objects.get_for_object(request).order_by("timestamp", "pk")
        assert entries.first().actor == alice  # created by alice
        change = entries.filter(action=LogEntry.Action.UPDATE).last()
        assert change.actor == bob
        assert change.changes_dict["status"] == ["pending_approval", "approved"]

    def test_auditlog_never_holds_password_hashes(self, alice):
        from auditlog.models import LogEntry

        alice.set_password("a-new-password-5678")
        alice.save()
        for entry in LogEntry.objects.all():
            assert "password" not in entry.changes_dict
            assert "md5$" not in str(entry.changes) and "argon2" not in str(entry.changes)

    def test_submission_attempts_are_kept_per_request(self, alice):
        request = file(alice)
        SubmissionAttempt.objects.create(request=request, number=1, started_at=timezone.now(), outcome="retrying")
        assert request.submission_attempts.count() == 1


def test_the_system_writes_the_trail_in_english_whatever_the_page_language(alice):
    from django.utils import translation

    with translation.override("ja"):
        request = file(alice, "getFile", {"path": "C:\\evidence.bin"})
    approved = request.events.get(kind=EventKind.APPROVED)
    assert approved.message == "This task needs no approval."
