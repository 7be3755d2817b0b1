"""Isolate until (issue 28): an isolation's end, its paired release, and the keeper's duty at the end.

Real parts: the filing path (KSC checks the host), the submission job against the simulator over
HTTPS, the outcome sweep; the clock of the duty is injected (``run_due_releases(now=...)``), nothing
sleeps until an end.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit import chain as audit_chain
from responses import isolation, workflow
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import (
    Decision,
    EventKind,
    ExtensionStatus,
    Isolation,
    IsolationState,
    ResponseRequest,
    Status,
)
from tests.support.isolation import actions, file_isolation, isolated, kinds, submit
from worker import keeper


@pytest.fixture
def stand(submission, settings):
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    return submission


class TestTheEndIsApprovedWithTheIsolation:
    def test_it_files_an_end_in_hours_into_the_fingerprint(self, stand, alice):
        four = file_isolation(alice, stand, isolate_hours=4)
        assert four.isolation_end == {"hours": 4}
        other = ResponseRequest(task=four.task, target_host=four.target_host, params=four.params, isolation_end={"hours": 8})
        assert four.fingerprint == four.content_fingerprint() != other.content_fingerprint(), "the end is approved"

    def test_an_isolation_without_an_end_gets_the_default(self, stand, alice, settings):
        settings.ISOLATION_DEFAULT_HOURS = 8
        assert file_isolation(alice, stand).isolation_end == {"hours": 8}

    def test_until_released_needs_a_reason(self, stand, alice):
        with pytest.raises(InvalidRequest) as refused:
            file_isolation(alice, stand, isolate_until=None)
        assert "until_released_reason" in refused.value.errors
        request = file_isolation(alice, stand, isolate_until=None, until_released_reason="forensic imaging")
        assert request.isolation_end == {"until_released": "forensic imaging"}

    @pytest.mark.parametrize(
        ("end", "field"),
        [
            ({"isolate_hours": 73}, "isolate_hours"),  # over ISOLATION_MAX_HOURS
            ({"isolate_hours": 0.1}, "isolate_hours"),  # 6 minutes: under ISOLATION_MIN_MINUTES
            ({"isolate_hours": "four"}, "isolate_hours"),
            ({"isolate_hours": True}, "isolate_hours"),
            ({"isolate_until": "2026-12-08T09:00"}, "isolate_until"),  # no offset: never guessed
            ({"isolate_until": "tomorrow at nine"}, "isolate_until"),
            ({"isolate_until": "2001-01-01T00:00Z"}, "isolate_until"),  # in the past
            ({"isolate_until": "2999-01-01T00:00Z"}, "isolate_until"),  # beyond the maximum
            ({"isolate_until": "2999-01-01T00:00Z", "isolate_hours": 4}, "isolate_hours"),  # both
            ({"isolate_hours": 4, "until_released_reason": "why"}, "until_released_reason"),
            ({"isolate_hours": 4, "time_zone": "Mars/Olympus"}, "time_zone"),
        ],
    )
    def test_a_bad_end_is_a_field_error_and_files_nothing(self, stand, alice, end, field):
        with pytest.raises(InvalidRequest) as refused:
            file_isolation(alice, stand, **end)
        assert field in refused.value.errors, refused.value.errors
        assert not ResponseRequest.objects.exists()

    def test_an_end_on_a_task_that_is_no_isolation_is_refused(self, stand, alice):
        from responses import filing

        host = stand.hosts()[0]["KLHST_WKS_HOSTNAME"]
        with pytest.raises(InvalidRequest) as refused:
            filing.file_request(
                user=alice, task="isolateHost", target_host=host, params={"action": 0},
                justification="release", source="api", end={"isolate_hours": 4},
            )  # fmt: skip
        assert "isolate_hours" in refused.value.errors
        assert not ResponseRequest.objects.exists()

    def test_a_tokyo_users_until_0900_is_stored_in_utc_and_shown_in_both(self, stand, alice):
        tomorrow = (timezone.now() + dt.timedelta(hours=30)).astimezone(isolation.zone("Asia/Tokyo")).date()
        local = isolation.local_until(f"{tomorrow.isoformat()}T09:00", "Asia/Tokyo")
        request = file_isolation(alice, stand, isolate_until=local.isoformat(), time_zone="Asia/Tokyo")
        assert request.isolation_end == {"until": f"{tomorrow.isoformat()}T00:00:00+00:00", "tz": "Asia/Tokyo"}
        words = isolation.describe_end(request.isolation_end)
        assert f"{tomorrow.isoformat()} 09:00 Asia/Tokyo" in words and f"{tomorrow.isoformat()} 00:00 UTC" in words


class TestApprovalSchedulesTheRelease:
    def test_the_last_approval_creates_the_paired_release_scheduled_and_linked(self, stand, alice, bob):
        request = file_isolation(alice, stand, isolate_hours=4)
        assert not Isolation.objects.exists(), "nothing is scheduled before the approval"
        workflow.approve(request, user=bob, comment="contain")
        row = Isolation.objects.get(request=request)
        release = row.release
        assert (release.status, release.task, release.params) == (Status.SCHEDULED, "isolateHost", {"action": 0})
        assert (release.target_host, release.requester) == (request.target_host, alice)
        assert release.released_isolation == row and ResponseRequest.objects.get(pk=request.pk).isolation == row
        assert list(Decision.objects.filter(request=release).values_list("approver__username", flat=True)) == ["bob"]
        assert kinds(release) == [EventKind.FILED]
        assert EventKind.RELEASE_SCHEDULED in kinds(request)
        assert row.release_at is None, "hours count from when the isolation takes effect"
        assert audit_chain.verify().intact, audit_chain.verify().problems

    def test_a_second_approver_is_needed_before_anything_is_scheduled(self, stand, alice, bob, carol, settings):
        settings.APPROVALS_REQUIRED = 2
        request = file_isolation(alice, stand, isolate_hours=4)
        workflow.approve(request, user=bob)
        assert not Isolation.objects.exists()
        workflow.approve(request, user=carol)
        release = Isolation.objects.get(request=request).release
        assert sorted(Decision.objects.filter(request=release).values_list("approver_username", flat=True)) == [
            "bob",
            "carol",
        ]


class TestTheEnd:
    def test_the_release_goes_out_at_the_end_with_no_further_click(self, stand, alice, bob):
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        row.refresh_from_db()
        assert row.state == IsolationState.ACTIVE and row.since is not None
        assert row.release_at == row.since + dt.timedelta(hours=4), "counted from the task's completion"
        assert isolation.run_due_releases(now=row.release_at - dt.timedelta(seconds=1))["released"] == 0
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=5))["released"] == 1
        release = ResponseRequest.objects.get(pk=row.release_id)
        assert release.status in (Status.APPROVED, Status.QUEUED)
        approved = release.events.get(kind=EventKind.APPROVED)
        assert approved.actor_username == "system" and approved.detail["late_seconds"] == 5
        assert approved.detail["approvers"] == ["bob"]
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=9))["released"] == 0, "once"
        submit(release)
        assert actions(stand) == [1, 0], "one isolation, one release"
        isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=60))
        row.refresh_from_db()
        assert row.state == IsolationState.RELEASED
        assert audit_chain.verify().intact, audit_chain.verify().problems

    def test_a_release_due_while_the_portal_was_down_goes_at_the_next_chance_and_says_how_late(
        self, stand, alice, bob
    ):
        row = isolated(alice, bob, stand, isolate_hours=1)
        isolation.run_due_releases()
        row.refresh_from_db()
        isolation.run_due_releases(now=row.release_at + dt.timedelta(hours=3))
        approved = row.release.events.get(kind=EventKind.APPROVED)
        assert approved.detail["late_seconds"] == 3 * 3600
        assert "3.0 hours late" in approved.message

    def test_the_warning_comes_once_before_the_end(self, stand, alice, bob, settings):
        settings.ISOLATION_END_WARNING = 3600
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        row.refresh_from_db()
        assert isolation.run_due_releases(now=row.release_at - dt.timedelta(minutes=61))["warned"] == 0
        assert isolation.run_due_releases(now=row.release_at - dt.timedelta(minutes=59))["warned"] == 1
        assert isolation.run_due_releases(now=row.release_at - dt.timedelta(minutes=30))["warned"] == 0
        ending = row.request.events.get(kind=EventKind.ISOLATION_ENDING)
        assert ending.detail["minutes_left"] == 59

    def test_a_failed_isolation_cancels_its_release_with_an_event(self, stand, alice, bob):
        stand.configure_tasks({"outcome": "fail", "reason": "The network driver refused"})
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        row.refresh_from_db()
        row.release.refresh_from_db()
        assert row.state == IsolationState.FAILED and row.release.status == Status.CANCELLED
        stood = row.release.events.get(kind=EventKind.STOOD_DOWN)
        assert "The network driver refused" in stood.message
        assert EventKind.STOOD_DOWN in kinds(row.request)
        assert audit_chain.verify().intact, audit_chain.verify().problems

    def test_a_newer_isolation_change_makes_the_old_release_stand_down(self, stand, alice, bob, frank):
        row = isolated(alice, bob, stand, isolate_hours=4)
        isolation.run_due_releases()
        newer = isolated(frank, bob, stand, isolate_hours=24)  # re-isolated by another analyst, a longer end
        isolation.run_due_releases()
        row.refresh_from_db()
        assert row.state == IsolationState.SUPERSEDED
        assert ResponseRequest.objects.get(pk=row.release_id).status == Status.CANCELLED
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(minutes=1))["released"] == 0
        newer.refresh_from_db()
        assert newer.state == IsolationState.ACTIVE and newer.release.status == Status.SCHEDULED

    def test_a_release_waits_while_a_newer_change_is_on_its_way(self, stand, alice, bob, frank):
        row = isolated(alice, bob, stand, isolate_hours=1)
        isolation.run_due_releases()
        row.refresh_from_db()
        pending = file_isolation(frank, stand, isolate_hours=8)  # pending approval: still on its way
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(minutes=1))["released"] == 0
        workflow.cancel(pending, user=frank)
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(minutes=2))["released"] == 1

    def test_a_host_gone_from_ksc_stands_the_release_down(self, stand, alice, bob, monkeypatch):
        row = isolated(alice, bob, stand, isolate_hours=1)
        isolation.run_due_releases()
        row.refresh_from_db()
        monkeypatch.setattr(isolation.HostCheck, "exists", staticmethod(lambda host_id, server: False))
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(minutes=1))["released"] == 0
        assert ResponseRequest.objects.get(pk=row.release_id).status == Status.CANCELLED

    def test_an_until_end_is_known_at_approval(self, stand, alice, bob):
        until = (timezone.now() + dt.timedelta(hours=2)).replace(microsecond=0)
        row = isolated(alice, bob, stand, isolate_until=until.isoformat())
        assert row.release_at == until
        isolation.run_due_releases()
        assert isolation.run_due_releases(now=until + dt.timedelta(seconds=1))["released"] == 1


class TestOneIsolationChangeInFlight:
    def test_a_second_isolation_over_a_running_one_is_refused_with_a_link(self, stand, alice, frank):
        first = file_isolation(alice, stand, isolate_hours=4)
        with pytest.raises(InvalidRequest) as refused:
            file_isolation(frank, stand, isolate_hours=8)
        assert f"/requests/{first.uuid}/" in refused.value.errors["target_host"][0]
        assert refused.value.errors["in_flight"] == [str(first.uuid)]
        assert ResponseRequest.objects.count() == 1
        assert isolation.isolation_change_in_flight(first.target_host) == first
        assert isolation.isolation_change_in_flight(first.target_host, exclude=first) is None

    def test_a_completed_isolation_is_no_longer_in_flight_and_a_scheduled_release_never_is(self, stand, alice, bob):
        row = isolated(alice, bob, stand, isolate_hours=4)
        assert isolation.isolation_change_in_flight(row.host_id) is None

    def test_an_ioc_scan_that_isolates_is_an_isolation_change(self, stand, alice):
        assert isolation.changes_isolation("iocScan", {"isolateHost": True})
        assert not isolation.changes_isolation("iocScan", {"isolateHost": False})
        assert not isolation.changes_isolation("getFile", {})


class TestReleaseNowHoldExtend:
    def active(self, alice, bob, stand, hours=4) -> Isolation:
        row = isolated(alice, bob, stand, isolate_hours=hours)
        isolation.run_due_releases()
        row.refresh_from_db()
        return row

    def test_release_now_sends_the_release_on_the_approval_already_given(self, stand, alice, bob):
        row = self.active(alice, bob, stand)
        isolation.release_now(row, user=alice, comment="contained, reimaged")
        release = ResponseRequest.objects.get(pk=row.release_id)
        assert release.status in (Status.APPROVED, Status.QUEUED)
        approved = release.events.get(kind=EventKind.APPROVED)
        assert approved.actor_username == "alice" and approved.detail["released_now"] is True
        with pytest.raises(WrongStatus):
            isolation.release_now(row, user=bob)
        submit(release)
        assert actions(stand) == [1, 0]

    def test_release_now_is_refused_to_an_outsider(self, stand, alice, bob, frank):
        row = self.active(alice, bob, stand)
        with pytest.raises(NotAllowed):
            isolation.release_now(row, user=frank)

    def test_hold_keeps_it_isolated_past_the_end_with_a_reason(self, stand, alice, bob, carol):
        row = self.active(alice, bob, stand)
        with pytest.raises(NotAllowed):
            isolation.hold(row, user=alice, reason="mine")  # not an approver
        with pytest.raises(InvalidRequest):
            isolation.hold(row, user=carol, reason="  ")
        isolation.hold(row, user=carol, reason="Forensics needs the disk untouched")
        row.refresh_from_db()
        assert row.until_released and row.held_by == "carol"
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(hours=1))["released"] == 0
        assert ResponseRequest.objects.get(pk=row.release_id).status == Status.SCHEDULED
        held = row.request.events.get(kind=EventKind.ISOLATION_HELD)
        assert held.actor_username == "carol" and held.detail["reason"] == "Forensics needs the disk untouched"
        # Held: a release goes out only when someone releases it.
        isolation.release_now(row, user=alice)
        assert ResponseRequest.objects.get(pk=row.release_id).status in (Status.APPROVED, Status.QUEUED)
        assert audit_chain.verify().intact, audit_chain.verify().problems

    def test_an_extension_moves_the_release_only_once_approved(self, stand, alice, bob, carol):
        row = self.active(alice, bob, stand)
        planned = row.release_at
        extension = isolation.extend(row, user=alice, data={"isolate_hours": 4}, justification="still exfiltrating")
        assert extension.status == ExtensionStatus.PENDING
        row.refresh_from_db()
        assert row.release_at == planned, "not moved before the approval"
        with pytest.raises(NotAllowed):
            isolation.decide_extension(extension, user=alice, approve=True)  # no self-approval
        isolation.decide_extension(extension, user=carol, approve=True, comment="ok")
        row.refresh_from_db()
        assert row.release_at == planned + dt.timedelta(hours=4)
        assert isolation.run_due_releases(now=planned + dt.timedelta(minutes=1))["released"] == 0
        assert isolation.run_due_releases(now=row.release_at + dt.timedelta(seconds=1))["released"] == 1
        moved = row.release.events.filter(kind=EventKind.RELEASE_MOVED).last()
        assert moved.detail["approvers"] == ["carol"]
        assert audit_chain.verify().intact, audit_chain.verify().problems

    def test_a_rejected_extension_leaves_the_end(self, stand, alice, bob, carol):
        row = self.active(alice, bob, stand)
        planned = row.release_at
        extension = isolation.extend(row, user=alice, data={"isolate_hours": 2}, justification="more time")
        with pytest.raises(InvalidRequest):
            isolation.decide_extension(extension, user=carol, approve=False)  # a rejection says why
        isolation.decide_extension(extension, user=carol, approve=False, comment="release it as planned")
        row.refresh_from_db()
        assert row.release_at == planned
        assert extension.__class__.objects.get(pk=extension.pk).status == ExtensionStatus.REJECTED

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({}, "isolate_hours"),
            ({"isolate_hours": 100}, "isolate_hours"),
            ({"isolate_until": "2001-01-01T00:00Z"}, "isolate_until"),
            ({"isolate_until": "soon"}, "isolate_until"),
        ],
    )
    def test_a_bad_extension_is_refused_and_changes_nothing(self, stand, alice, bob, data, field):
        row = self.active(alice, bob, stand)
        with pytest.raises(InvalidRequest) as refused:
            isolation.extend(row, user=alice, data=data, justification="more")
        assert field in refused.value.errors
        assert not row.extensions.exists()


def test_the_keeper_beat_runs_the_schedule(stand, alice, bob, monkeypatch):
    """The keeper's beat runs the duty (the reconciler's lease): a release is due by the database's clock."""
    row = isolated(alice, bob, stand, isolate_hours=1)
    isolation.run_due_releases()
    row.refresh_from_db()
    Isolation.objects.filter(pk=row.pk).update(release_at=timezone.now() - dt.timedelta(seconds=1))
    keeper.keeper_beat()
    assert ResponseRequest.objects.get(pk=row.release_id).status in (Status.APPROVED, Status.QUEUED)
