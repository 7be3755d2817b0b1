"""Outcome tracking: each outcome of a submitted request, driven through the simulator's [Response] tasks.

Requests are filed, approved and submitted for real (the submission job runs
in-process against the simulator over HTTPS); the sweep then follows the task
the simulator creates after AddIncident, as KES would.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from responses import jobs, outcomes, workflow
from responses.models import EventKind, OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.support.filing import file_request
from worker.keeper import keeper_beat


@pytest.fixture
def tracking(ksc_settings, settings):
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    return ksc_settings


def submitted(alice, bob, simulator, *, host: int = 0, task="isolateHost", params=None) -> ResponseRequest:
    """A request filed, approved and submitted to the simulator: SUBMITTED with its incident id."""
    target = simulator.hosts()[host]
    request = file_request(
        user=alice,
        task=task,
        target_host=target["KLHST_WKS_HOSTNAME"],
        target_host_name=target["KLHST_WKS_DN"],
        params=params if params is not None else {"action": 1},
        justification="C2 traffic (ALERT-7)",
    )
    if request.status == Status.PENDING_APPROVAL:
        workflow.approve(request, user=bob, comment="go")
    assert jobs.submit_to_ksc(str(request.uuid)) == "submitted"
    request.refresh_from_db()
    return request


def file_submitted_without_ksc(alice) -> ResponseRequest:
    request = file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="C2 (ALERT-7)"
    )
    ResponseRequest.objects.filter(pk=request.pk).update(
        status=Status.SUBMITTED, ksc_incident_id=99, submitted_at=timezone.now(), ksc_added=timezone.now()
    )
    return request


def outcome(request: ResponseRequest) -> ResponseOutcome:
    return ResponseOutcome.objects.get(request=request)


def outcome_events(request: ResponseRequest) -> list[str]:
    return [event.message for event in request.events.filter(kind=EventKind.OUTCOME).order_by("seq")]


class TestEachOutcome:
    def test_it_follows_the_task_from_pending_through_running_to_completed(self, tracking, alice, bob):
        tracking.configure_tasks({"pending_s": 60, "run_s": 60})
        request = submitted(alice, bob, tracking)
        assert outcomes.outcome_of(request).state == OutcomeState.WAITING, "before any sweep: waiting, not done"
        outcomes.sweep()
        row = outcome(request)
        assert row.state == OutcomeState.PENDING
        assert row.ksc_task_name.startswith("[Response][Kuma] isolateHost - ")
        assert f"incident id {request.ksc_incident_id} in the name" in row.matched_by
        tracking.advance_clock(61)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.RUNNING
        tracking.advance_clock(61)
        outcomes.sweep()
        row = outcome(request)
        assert row.state == OutcomeState.COMPLETED and row.closed_at is not None
        events = outcome_events(request)
        assert len(events) == 3
        assert "waits for the host" in events[0] and "running" in events[1] and "completed" in events[2]
        detail = request.events.filter(kind=EventKind.OUTCOME).order_by("seq").last().detail
        assert detail["outcome_after"] == "completed" and detail["ksc"]["statistics"]["4"] == 1
        # A closed outcome is no longer asked about.
        calls = tracking.stats()["calls"].get("Tasks.GetTaskStatistics", 0)
        outcomes.sweep()
        assert tracking.stats()["calls"].get("Tasks.GetTaskStatistics", 0) == calls

    def test_a_warning_keeps_kscs_reason(self, tracking, alice, bob):
        tracking.configure_tasks({"outcome": "warn", "reason": "Some files were skipped: access denied"})
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        row = outcome(request)
        assert row.state == OutcomeState.WARNING
        assert row.reason == "Some files were skipped: access denied"
        assert "Some files were skipped" in outcome_events(request)[-1]

    def test_a_failure_keeps_kscs_reason(self, tracking, alice, bob):
        tracking.configure_tasks({"outcome": "fail", "reason": "The file is locked by another process"})
        request = submitted(alice, bob, tracking, task="deleteFile", params={"path": "C:\\Temp\\evil.exe"})
        outcomes.sweep()
        row = outcome(request)
        assert row.state == OutcomeState.FAILED and row.closed_at is not None
        assert row.reason == "The file is locked by another process"
        view = outcomes.outcome_of(request)
        assert view.final and view.label == "Failed"

    def test_no_task_appeared_says_why_plainly(self, tracking, alice, bob, settings):
        settings.KSC_TASK_APPEAR_TIMEOUT = 900
        host = tracking.hosts()[0]["KLHST_WKS_HOSTNAME"]
        tracking.configure_tasks({"hosts": {host: {"outcome": "never"}}})
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.WAITING
        outcomes.sweep(now=timezone.now() + dt.timedelta(minutes=16))
        row = outcome(request)
        assert row.state == OutcomeState.NO_TASK
        assert "Web Console" in row.reason and "12.9" in row.reason
        assert row.closed_at is None, "a late task is still adopted"

    def test_a_late_task_after_no_task_is_still_adopted(self, tracking, alice, bob, settings):
        tracking.configure_tasks({"delay_s": 1200})
        request = submitted(alice, bob, tracking)
        outcomes.sweep(now=timezone.now() + dt.timedelta(minutes=16))
        assert outcome(request).state == OutcomeState.NO_TASK
        tracking.advance_clock(1201)
        ResponseOutcome.objects.filter(request=request).update(next_check_at=timezone.now())
        outcomes.sweep(now=timezone.now() + dt.timedelta(minutes=21))
        assert outcome(request).state == OutcomeState.COMPLETED

    def test_a_task_rotated_away_before_finishing_is_gone(self, tracking, alice, bob):
        tracking.configure_tasks({"outcome": "rotate", "pending_s": 0, "run_s": 30})
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.RUNNING
        tracking.advance_clock(31)
        outcomes.sweep()
        row = outcome(request)
        assert row.state == OutcomeState.GONE and row.closed_at is not None
        assert "100" in row.reason

    def test_the_hundred_task_rotation_takes_an_unfinished_task_away(self, tracking, alice, bob):
        tracking.configure_tasks({"pending_s": 3600, "max_tasks": 1})
        first = submitted(alice, bob, tracking, host=0)
        outcomes.sweep()
        assert outcome(first).state == OutcomeState.PENDING
        second = submitted(alice, bob, tracking, host=1)
        outcomes.sweep()
        assert outcome(first).state == OutcomeState.GONE
        assert outcome(second).state == OutcomeState.PENDING

    def test_ksc_unreachable_during_tracking_is_unknown_and_tracking_goes_on(self, tracking, alice, bob):
        tracking.configure_tasks({"pending_s": 60, "run_s": 60})
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.PENDING
        tracking.set_faults({"fail_next": 50, "status": 503})
        result = outcomes.sweep()
        assert result.unreachable
        row = outcome(request)
        assert row.state == OutcomeState.UNKNOWN and row.closed_at is None
        assert "keeps trying" in outcome_events(request)[-1]
        tracking.clear_faults()
        tracking.advance_clock(61)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.RUNNING

    def test_a_refused_tasks_call_changes_nothing(self, tracking, alice, bob):
        request = submitted(alice, bob, tracking)
        tracking.configure_tasks({"deny_tasks": True})
        result = outcomes.sweep()
        assert "Access denied" in result.unreachable
        assert outcome(request).state == OutcomeState.WAITING


class TestMatching:
    def test_two_requests_for_one_host_a_second_apart_each_get_their_own_task(self, tracking, alice, bob):
        first = submitted(alice, bob, tracking)
        time.sleep(1)
        second = submitted(alice, bob, tracking)
        assert first.ksc_added != second.ksc_added
        outcomes.sweep()
        tasks = {task["incident"]: task["id"] for task in tracking.tasks()["tasks"] if task["incident"]}
        assert outcome(first).ksc_task_id == tasks[first.ksc_incident_id]
        assert outcome(second).ksc_task_id == tasks[second.ksc_incident_id]

    @pytest.mark.parametrize(
        "variant", [{"id_mode": "none"}, {"id_mode": "task", "area_case": "upper", "date_format": "%d.%m.%Y %H:%M"}]
    )
    def test_without_the_incident_id_in_the_name_the_order_decides(self, tracking, alice, bob, variant):
        tracking.configure_tasks({**variant, "delay_s": 1})
        first = submitted(alice, bob, tracking)
        time.sleep(1)
        second = submitted(alice, bob, tracking)
        tracking.advance_clock(2)
        outcomes.sweep()
        tasks = {task["incident"]: task["id"] for task in tracking.tasks()["tasks"] if task["incident"]}
        assert outcome(first).ksc_task_id == tasks[first.ksc_incident_id]
        assert outcome(second).ksc_task_id == tasks[second.ksc_incident_id]
        assert "created after KLINCDT_ADDED" in outcome(first).matched_by

    def test_a_task_for_another_host_or_type_is_not_taken(self, tracking, alice, bob):
        tracking.configure_tasks({"id_mode": "none"})
        # Filed first, so its task is older and within the time window of the request that follows.
        other_host = submitted(alice, bob, tracking, host=1, task="deleteFile", params={"path": "C:\\x.exe"})
        same_type_other_host = submitted(alice, bob, tracking, host=1)
        request = submitted(alice, bob, tracking, host=0)
        ResponseRequest.objects.filter(pk=same_type_other_host.pk).update(status=Status.FAILED)
        ResponseOutcome.objects.all().delete()
        ResponseRequest.objects.filter(pk=other_host.pk).update(status=Status.FAILED)  # not tracked
        outcomes.sweep()
        tasks = {task["incident"]: task["id"] for task in tracking.tasks()["tasks"] if task["incident"]}
        assert outcome(request).ksc_task_id == tasks[request.ksc_incident_id]

    def test_a_task_is_never_claimed_twice(self, tracking, alice, bob, settings):
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        task_id = outcome(request).ksc_task_id
        other = submitted(alice, bob, tracking, host=1)
        outcomes.sweep()
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            ResponseOutcome.objects.filter(request=other).update(ksc_task_id=task_id)

    def test_a_name_outside_the_pattern_is_not_a_response_task(self, settings):
        assert outcomes.parse_task_name("Virus scan") is None
        parsed = outcomes.parse_task_name("[RESPONSE][KUMA] Network isolation - 29.11.2026 15:00 - 77")
        assert (parsed.area, parsed.task, parsed.incident_id) == ("KUMA", "Network isolation", 77)


class TestScale:
    def test_the_sweep_stays_within_its_call_budget(self, tracking, alice, bob, settings):
        for host in range(3):
            submitted(alice, bob, tracking, host=host)
        settings.OUTCOME_SWEEP_MAX_CALLS = 10
        result = outcomes.sweep()
        assert result.budget_spent and result.calls == 10
        settings.OUTCOME_SWEEP_MAX_CALLS = 1000
        outcomes.sweep()
        assert ResponseOutcome.objects.filter(state=OutcomeState.COMPLETED).count() == 3

    def test_old_requests_are_checked_less_often(self):
        assert outcomes.check_interval(dt.timedelta(minutes=5)) == dt.timedelta(0)
        assert outcomes.check_interval(dt.timedelta(hours=5)) > dt.timedelta(0)
        assert outcomes.check_interval(dt.timedelta(days=10)) > outcomes.check_interval(dt.timedelta(hours=5))

    def test_tracking_stops_after_thirty_days(self, tracking, alice, bob):
        tracking.configure_tasks({"pending_s": 10**7})
        request = submitted(alice, bob, tracking)
        outcomes.sweep()
        assert outcome(request).state == OutcomeState.PENDING
        outcomes.sweep(now=timezone.now() + dt.timedelta(days=31))
        row = outcome(request)
        assert row.closed_at is not None and row.state == OutcomeState.PENDING
        assert "30 days" in outcome_events(request)[-1]

    def test_the_sweep_runs_the_late_duplicate_check_that_is_due(self, tracking, alice, bob):
        request = submitted(alice, bob, tracking)
        ResponseRequest.objects.filter(pk=request.pk).update(ksc_recheck_at=timezone.now() - dt.timedelta(seconds=1))
        outcomes.sweep()
        request.refresh_from_db()
        # Taken by the sweep (not left for the reconciler), and its finding is in the trail.
        assert request.ksc_recheck_at is None
        assert request.events.filter(kind__startswith="duplicate_").exists()


class TestCommand:
    def test_without_ksc_configured_it_says_so_and_changes_nothing(self, alice, settings):
        from responses.ksc_servers import reset_client

        reset_client()
        settings.KSC_HOST = None
        request = file_submitted_without_ksc(alice)
        with pytest.raises(CommandError) as raised:
            call_command("sweep_outcomes")
        assert "KSC_HOST is not set" in str(raised.value)
        assert outcome(request).state == OutcomeState.WAITING

    def test_it_prints_what_one_sweep_did(self, tracking, alice, bob, capsys):
        submitted(alice, bob, tracking)
        call_command("sweep_outcomes")
        out = capsys.readouterr().out
        assert "matched 1" in out and "KSC calls" in out

    def test_it_fails_when_ksc_cannot_be_asked(self, tracking, alice, bob):
        submitted(alice, bob, tracking)
        tracking.set_faults({"fail_next": 50, "status": 503})
        with pytest.raises(CommandError) as raised:
            call_command("sweep_outcomes")
        assert "KSC could not be asked" in str(raised.value)


def test_the_keepers_beat_puts_the_sweep_back_after_redis_lost_it(db, ksc_queue):
    # The sweep reschedules itself in Redis; a flushed Redis loses it, and the keeper's beat
    # (every RECONCILE_INTERVAL, in whichever worker wins the lease) must bring it back.
    ksc_queue.connection.flushdb()
    keeper_beat()
    assert outcomes.SWEEP_JOB_ID in ksc_queue.scheduled_job_registry.get_job_ids()
