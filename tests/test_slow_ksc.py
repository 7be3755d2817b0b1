"""A slow KSC (issue 13, points 1 and 4): no duplicate incident, and no request lost as FAILED.

The scenarios of the fault-injection run that are fast enough for `make test`.
Real parts throughout: the portal's worker on the test Redis, the KSC
simulator over HTTPS whose ``add_delay_ms`` fault makes AddIncident store its
incident after the portal's read timeout gave up on it, as a slow KSC does.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.utils import timezone

from portal.local_redis import free_port
from responses import jobs, payload, submission, workflow
from responses.ksc_servers import build_client
from responses.models import AttemptOutcome, EventKind, ResponseRequest, Status
from tests.fixtures.api import url
from tests.fixtures.submission import approved, outcomes, run_worker, wait_for

UNKNOWN = "KSC may have created this incident; the portal keeps checking."


@pytest.fixture
def slow_ksc(submission, settings):
    """The ``submission`` set-up (3 tries, no backoff waits), but KSC answers within half a second or the portal gives up."""
    settings.KSC_READ_TIMEOUT = 0.5
    settings.KSC_ADD_SETTLE = 2.5
    return submission


def live(simulator) -> list[dict]:
    return [incident for incident in simulator.incidents() if not incident["deleted"]]


def all_adds_done(simulator) -> bool:
    """KSC is carrying out no AddIncident any more (the slow ones are stored)."""
    return not simulator.stats()["in_progress"].get("HostGroup.AddIncident")


def later() -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=5)


class TestSettle:
    def test_a_slow_ksc_makes_one_incident_per_request(self, slow_ksc, alice, bob):
        """Issue 13, point 1: AddIncident times out, KSC completes it later; the retry must not add again."""
        slow_ksc.set_faults({"add_delay_ms": 1500})  # longer than the 0.5 s read timeout
        requests = [approved(alice, bob, slow_ksc, action=1), approved(alice, bob, slow_ksc, action=0)]

        run_worker()
        wait_for(lambda: all_adds_done(slow_ksc), "KSC to finish every AddIncident")

        incidents = slow_ksc.incidents()
        assert (
            len(incidents) == 2
        )  # one each: the retry adopted and not any(incident["deleted"] for incident in incidents)
        for request in requests:
            request.refresh_from_db()
            assert request.status == Status.SUBMITTED
            assert outcomes(request) == [AttemptOutcome.RETRYING, AttemptOutcome.ADOPTED]
            assert request.ksc_unknown_since is None
            assert request.ksc_recheck_at is not None  # the late check is due a settle period later
        assert sorted(r.ksc_incident_id for r in ResponseRequest.objects.all()) == [i["id"] for i in incidents]

        # The late check looks once more, finds the one incident each, and removes nothing.
        assert jobs.check_late_duplicates(later()) == {"checked": 2, "removed": 0, "failed": 0}
        assert len(live(slow_ksc)) == 2
        for request in requests:
            request.refresh_from_db()
            # KSC may still carry out the given-up AddIncident: the next look is due, twice as far off.
            assert request.ksc_recheck_at is not None and request.ksc_search_checks == 1
            check = request.events.get(kind=EventKind.DUPLICATE_CHECK)
            next_check = dt.datetime.fromisoformat(check.detail.pop("next_check_at"))
            assert next_check == request.ksc_recheck_at
            assert check.detail == {
                "found": [request.ksc_incident_id],
                "kept": request.ksc_incident_id,
                "removed": [],
                "not_removed": {},
                "check": 1,
            }
        # Once a check runs past KSC_UNKNOWN_OUTCOME_SEARCH after the given-up attempt, the search ends.
        assert jobs.check_late_duplicates(later() + dt.timedelta(days=2))["checked"] == 2
        for request in requests:
            request.refresh_from_db()
            assert request.ksc_recheck_at is None and request.ksc_search_from is None
        assert jobs.check_late_duplicates(later() + dt.timedelta(days=3))["checked"] == 0

    def test_the_late_check_is_not_due_before_the_settle_period(self, slow_ksc, alice, bob):
        slow_ksc.set_faults({"drop_after_add": 1})  # stored, then the connection drops: outcome unknown
        request = approved(alice, bob, slow_ksc)
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert jobs.check_late_duplicates()["checked"] == 0  # due 2.5 s after the success, not now
        assert jobs.check_late_duplicates(request.ksc_recheck_at)["checked"] == 1

    def test_a_request_without_an_unknown_outcome_gets_no_late_check(self, slow_ksc, alice, bob):
        request = approved(alice, bob, slow_ksc)
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED and request.ksc_recheck_at is None
        assert jobs.check_late_duplicates(later())["checked"] == 0
        assert slow_ksc.stats()["calls"].get("HostGroup.FindIncidents", 0) == 0


class TestLateDuplicates:
    def test_a_duplicate_made_by_a_slow_ksc_is_removed(self, slow_ksc, settings, alice, bob, client, login):
        """The settle period is too short for this KSC: duplicates happen, and the late check removes them."""
        settings.KSC_ADD_SETTLE = 0.5
        settings.KSC_SUBMIT_TRIES = 6
        slow_ksc.set_faults({"add_delay_ms": 1500})
        request = approved(alice, bob, slow_ksc)

        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        wait_for(lambda: all_adds_done(slow_ksc), "KSC to finish every AddIncident")
        copies = [incident["id"] for incident in slow_ksc.incidents()]
        assert len(copies) >= 2, "the fault should have made KSC add the request more than once"
        assert request.ksc_incident_id == copies[0]  # the oldest was adopted

        counts = jobs.check_late_duplicates(later())

        assert counts == {"checked": 1, "removed": len(copies) - 1, "failed": 0}
        assert [incident["id"] for incident in live(slow_ksc)] == [request.ksc_incident_id]  # 0 duplicates
        removed = request.events.get(kind=EventKind.DUPLICATE_REMOVED)
        assert removed.detail.pop("next_check_at") is not None  # and KSC keeps being looked at
        assert removed.detail == {
            "found": copies,
            "kept": copies[0],
            "removed": copies[1:],
            "not_removed": {},
            "check": 1,
        }
        assert all(str(incident_id) in removed.message for incident_id in copies)
        assert "DeleteIncident" in removed.message
        login(client, bob)
        html = client.get(f"/requests/{request.uuid}/").content.decode()
        assert "Duplicate removed" in html and removed.message in html

    def test_a_failed_removal_is_said_loudly(self, slow_ksc, alice, bob, client, login, caplog):
        request, duplicate = _submitted_with_a_late_copy(slow_ksc, alice, bob)
        slow_ksc.set_faults({"fail_next": 1, "status": 500, "methods": ["HostGroup.DeleteIncident"]})

        with caplog.at_level(logging.ERROR, logger="responses.workflow"):
            counts = jobs.check_late_duplicates(later())

        assert counts == {"checked": 1, "removed": 0, "failed": 1}
        assert len(live(slow_ksc)) == 2  # KSC still holds both
        kept = request.events.get(kind=EventKind.DUPLICATE_KEPT)
        assert kept.detail["found"] == [request.ksc_incident_id, duplicate]
        assert list(kept.detail["not_removed"]) == [str(duplicate)]
        assert kept.message.startswith("DUPLICATE NOT REMOVED") and str(duplicate) in kept.message
        assert "by hand" in kept.message
        assert any("DUPLICATE NOT REMOVED" in record.getMessage() for record in caplog.records)
        login(client, bob)
        html = client.get(f"/requests/{request.uuid}/").content.decode()
        assert 'class="errors duplicate-kept" role="alert"' in html and "DUPLICATE NOT REMOVED" in html

    def test_a_check_that_cannot_reach_ksc_is_due_again_later(self, slow_ksc, alice, bob):
        request, duplicate = _submitted_with_a_late_copy(slow_ksc, alice, bob)
        slow_ksc.set_faults({"fail_next": 1, "status": 503, "methods": ["HostGroup.FindIncidents"]})

        assert jobs.check_late_duplicates(later())["checked"] == 0
        request.refresh_from_db()
        assert request.ksc_recheck_at is not None and not request.events.filter(kind__startswith="duplicate")
        assert jobs.check_late_duplicates(later())["removed"] == 1
        assert [incident["id"] for incident in live(slow_ksc)] == [request.ksc_incident_id]

    def test_the_reconciler_runs_the_check(self, slow_ksc, alice, bob):
        request, duplicate = _submitted_with_a_late_copy(slow_ksc, alice, bob)
        ResponseRequest.objects.filter(pk=request.pk).update(ksc_recheck_at=timezone.now())  # its time has come

        counts = jobs.reconcile(grace_seconds=0)

        assert counts["duplicates_removed"] == 1
        assert [incident["id"] for incident in live(slow_ksc)] == [request.ksc_incident_id]


def _submitted_with_a_late_copy(simulator, alice, bob) -> tuple[ResponseRequest, int]:
    """A request whose first AddIncident answer was lost (adopted later), then a late copy in KSC."""
    simulator.set_faults({"drop_after_add": 1})
    request = approved(alice, bob, simulator)
    run_worker()
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED and request.ksc_recheck_at is not None
    # What a slow KSC does with an AddIncident the portal gave up on: it carries it out late.
    with build_client(backend="builtin") as ksc:
        duplicate = ksc.add_incident(
            payload.add_incident_data(request.task, request.target_host, request.params, request.ksc_added)
        )
    return request, duplicate


class TestSweepFlagsLateCopies:
    def test_a_response_task_for_a_late_copy_triggers_the_check_at_once(self, slow_ksc, settings, alice, bob):
        """Issue 24.1: the outcome sweep reads every [Response] task; one for an incident no request keeps
        (a late copy of a watched request) makes the duplicate check run now, not at its next step."""
        from responses import outcomes as outcome_tracking

        settings.KSC_SUBMIT_HOURLY_CAP = 0
        request, duplicate = _submitted_with_a_late_copy(slow_ksc, alice, bob)
        assert request.ksc_search_from is not None
        # The search is at a late step: its next look is hours away.
        ResponseRequest.objects.filter(pk=request.pk).update(ksc_recheck_at=later() + dt.timedelta(hours=3))
        wait_for(
            lambda: any(task["incident"] == duplicate for task in slow_ksc.tasks()["tasks"]),
            "KES's task for the late copy",
        )

        outcome_tracking.sweep()

        request.refresh_from_db()
        assert [incident["id"] for incident in live(slow_ksc)] == [request.ksc_incident_id]
        removed = request.events.get(kind=EventKind.DUPLICATE_REMOVED)
        assert removed.detail["removed"] == [duplicate]
        assert request.ksc_recheck_at is not None  # and the search goes on at its next step


def failed_with_unknown_outcome(simulator, settings, alice, bob) -> ResponseRequest:
    """One try, and AddIncident times out while KSC goes on creating the incident."""
    settings.KSC_SUBMIT_TRIES = 1
    simulator.set_faults({"add_delay_ms": 1500})
    request = approved(alice, bob, simulator)
    run_worker()
    request.refresh_from_db()
    return request


class TestUnknownOutcome:
    def test_timeouts_past_the_tries_leave_the_outcome_unknown_and_the_reconciler_adopts(
        self, slow_ksc, settings, alice, bob, client, login, api
    ):
        """Issue 13, point 4: FAILED after timeouts, yet KSC carries the incident out; the portal finds it."""
        request = failed_with_unknown_outcome(slow_ksc, settings, alice, bob)

        assert request.status == Status.FAILED
        assert request.ksc_outcome_unknown
        assert request.last_error.endswith(UNKNOWN)
        assert outcomes(request) == [AttemptOutcome.FAILED]
        failed = request.events.get(kind=EventKind.FAILED)
        assert failed.detail["outcome_unknown"] is True and UNKNOWN in failed.message
        login(client, bob)
        html = client.get(f"/requests/{request.uuid}/").content.decode()
        assert 'id="outcome-unknown"' in html and UNKNOWN in html
        shown = api(bob).get(url(request)).json()
        assert (shown["status"], shown["ksc_outcome_unknown"]) == ("failed", True)
        assert shown["last_error"].endswith(UNKNOWN)

        wait_for(lambda: all_adds_done(slow_ksc), "KSC to finish the AddIncident")
        slow_ksc.clear_faults()
        counts = jobs.reconcile(grace_seconds=0)
        assert counts["found"] == 1
        run_worker()

        request.refresh_from_db()
        (incident,) = slow_ksc.incidents()
        assert request.status == Status.SUBMITTED  # 0 lost
        assert request.ksc_incident_id == incident["id"]
        assert incident["updates"]  # marked unhandled, so KSC creates the response task
        assert outcomes(request) == [AttemptOutcome.FAILED, AttemptOutcome.ADOPTED]
        assert request.events.get(kind=EventKind.FOUND_IN_KSC).detail == {"incident_id": incident["id"]}
        assert 'id="outcome-unknown"' not in client.get(f"/requests/{request.uuid}/").content.decode()
        assert api(bob).get(url(request)).json()["ksc_outcome_unknown"] is False

    def test_a_call_that_surely_did_not_reach_ksc_leaves_nothing_unknown(self, slow_ksc, settings, alice, bob):
        settings.KSC_SUBMIT_TRIES = 1
        request = approved(alice, bob, slow_ksc)
        settings.KSC_PORT = free_port()  # nothing listens there: the connection is refused before sending
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.FAILED and not request.ksc_outcome_unknown
        assert UNKNOWN not in request.last_error
        settings.KSC_PORT = slow_ksc.port
        assert jobs.search_unknown_outcomes() == 0
        assert slow_ksc.stats()["calls"].get("HostGroup.FindIncidents", 0) == 0

    def test_the_search_ends_after_its_window(self, slow_ksc, settings, alice, bob):
        request = failed_with_unknown_outcome(slow_ksc, settings, alice, bob)
        assert request.ksc_outcome_unknown

        assert jobs.search_unknown_outcomes(request.finished_at + dt.timedelta(hours=23)) == 0
        request.refresh_from_db()
        assert request.ksc_outcome_unknown  # still looking within 24 h
        assert jobs.search_unknown_outcomes(request.finished_at + dt.timedelta(hours=24, seconds=1)) == 0
        request.refresh_from_db()
        assert request.status == Status.FAILED and not request.ksc_outcome_unknown
        assert "24 hours" in request.events.get(kind=EventKind.SEARCH_ENDED).message

    def test_an_approver_retry_adopts_the_incident(self, slow_ksc, settings, alice, bob, carol):
        request = failed_with_unknown_outcome(slow_ksc, settings, alice, bob)
        assert request.ksc_outcome_unknown
        wait_for(lambda: all_adds_done(slow_ksc), "KSC to finish the AddIncident")
        slow_ksc.clear_faults()

        workflow.retry(request, user=carol, comment="KSC was slow")
        run_worker()

        request.refresh_from_db()
        (incident,) = slow_ksc.incidents()
        assert request.status == Status.SUBMITTED and request.ksc_incident_id == incident["id"]
        assert outcomes(request) == [AttemptOutcome.FAILED, AttemptOutcome.ADOPTED]

    def test_a_database_error_after_add_incident_leaves_the_outcome_unknown(self, slow_ksc, settings, alice, bob):
        """KSC answered AddIncident, then the database refused the id (another request holds it)."""
        settings.KSC_SUBMIT_TRIES = 1
        first = approved(alice, bob, slow_ksc)
        run_worker()
        first.refresh_from_db()
        # KSC restarted without its state and hands out ids again: the next id is one the portal holds.
        slow_ksc.simulator.state.next_incident_id = first.ksc_incident_id
        second = approved(alice, bob, slow_ksc, action=0)

        run_worker()

        second.refresh_from_db()
        assert second.status == Status.FAILED
        held = first.ksc_incident_id
        assert second.last_error.startswith(
            f"KSC answered with incident id {held}, which this portal already holds for another request"
        ), second.last_error
        assert second.last_error.endswith(f" — {UNKNOWN}") and "IntegrityError" not in second.last_error
        assert second.ksc_outcome_unknown
        (attempt,) = second.submission_attempts.all()
        assert attempt.outcome == AttemptOutcome.FAILED and attempt.finished_at is not None
        # KSC's incident for it carries an id another request holds: never adopted over it.
        assert jobs.search_unknown_outcomes() == 0
        second.refresh_from_db()
        assert second.status == Status.FAILED

    def test_an_attempt_whose_end_was_never_recorded_is_closed_at_the_next_chance(
        self, slow_ksc, ksc_queue, alice, bob
    ):
        """The attempt's worker (or the database) failed before it could record anything."""
        request = approved(alice, bob, slow_ksc)
        claimed = submission.claim_for_submission(request.uuid)
        assert claimed is not None
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 0  # its job is still queued: alive, left alone
        ksc_queue.connection.flushdb()  # the job is gone too
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 1

        request.refresh_from_db()
        (attempt,) = request.submission_attempts.all()
        assert attempt.outcome == AttemptOutcome.INTERRUPTED and attempt.finished_at is not None
        assert "may have created" in attempt.error_message
        assert request.ksc_unknown_since is not None  # so the next attempt lets KSC settle first
        requeued = request.events.get(kind=EventKind.REQUEUED)
        assert requeued.detail == {"interrupted_attempts": [1], "next_try_at": request.next_try_at.isoformat()}
        # The next try waits KSC_ADD_SETTLE (2.5 s) from then: the page says why and until when.
        assert request.wait_reason == submission.WaitReason.SETTLE
        assert request.next_try_at == request.ksc_unknown_since + dt.timedelta(seconds=2.5)

        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert outcomes(request) == [AttemptOutcome.INTERRUPTED, AttemptOutcome.SUBMITTED]
        assert len(slow_ksc.incidents()) == 1
