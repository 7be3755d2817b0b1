"""Faults of issue 24 point 6 and issue 29 point 6 that the submission job must survive (real parts throughout).

The portal's worker on the test Redis, the KSC simulator over HTTPS and its faults:

- once KSC holds the incident, the request is never FAILED (filing it again would make a
  second incident): UpdateIncident is retried, then left "update pending" for the keeper;
- a session KSC refuses again right after a fresh login is retried, not failed;
- a certificate KSC's TLS handshake presents that the portal does not accept holds the
  request (nothing was sent) until it verifies again;
- every deadline is the database's clock; a wait is never longer than its setting.
"""

from __future__ import annotations

import datetime as dt

import django_rq
import pytest
from django.db.models import F
from django.utils import timezone

from ksc_simulator.certificates import generate_certificate
from responses import jobs, submission, workflow
from responses.clock import database_now
from responses.ksc_servers import reset_client
from responses.models import AttemptOutcome, EventKind, ResponseRequest, Status
from tests.fixtures.submission import approved, outcomes
from tests.support.filing import file_request
from worker.rq_worker import PortalWorker

WaitReason = submission.WaitReason


def burst() -> None:
    """One burst of the worker: what is queued now runs; nothing the database schedules later."""
    queue = django_rq.get_queue(jobs.QUEUE)
    PortalWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)


def make_due(request: ResponseRequest) -> None:
    """Move a waiting request's next try to now (the test does not wait RECONCILE_INTERVAL)."""
    ResponseRequest.objects.filter(pk=request.pk).update(next_try_at=database_now() - dt.timedelta(seconds=1))


def live(simulator) -> list[dict]:
    return [incident for incident in simulator.incidents() if not incident["deleted"]]


class TestNeverFailedWithAnIncident:
    def test_an_update_incident_answered_with_html_leaves_the_update_pending(self, submission, alice, bob):
        """Issue 24.6: UpdateIncident answered with HTML left 10 of 10 FAILED with an incident never updated."""
        submission.set_faults({"malformed_next": 10, "methods": ["HostGroup.UpdateIncident"]})
        request = approved(alice, bob, submission)

        burst()  # 3 tries (the fixture's KSC_SUBMIT_TRIES), no back-off waits

        request.refresh_from_db()
        assert request.status == Status.QUEUED  # never FAILED: KSC holds its incident
        assert request.ksc_incident_id is not None
        assert request.wait_reason == WaitReason.UPDATE and request.next_try_at is not None
        assert "Update pending" in request.last_error and str(request.ksc_incident_id) in request.last_error
        assert outcomes(request) == [AttemptOutcome.RETRYING] * 3
        (incident,) = submission.incidents()
        assert incident["updates"] == []
        pending = request.events.filter(kind=EventKind.RETRY_SCHEDULED).order_by("seq").last()
        assert pending.detail["update_pending"] is True and pending.detail["incident_id"] == request.ksc_incident_id

        # KSC answers again: the keeper's try updates the same incident; still one incident.
        submission.set_faults({})
        assert jobs.queue_due_tries() == 0  # not due yet
        make_due(request)
        assert jobs.queue_due_tries() == 1
        burst()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        (incident,) = submission.incidents()
        assert incident["id"] == request.ksc_incident_id and len(incident["updates"]) == 1
        assert request.next_try_at is None and request.wait_reason == ""

    def test_a_refused_session_during_update_incident_never_fails_the_request(self, submission, alice, bob):
        """A KSC that logs sessions out again and again: 20 of 40 FAILED, 9 of them with an incident."""
        submission.set_faults({"fail_next": 20, "status": 401, "methods": ["HostGroup.UpdateIncident"]})
        request = approved(alice, bob, submission)
        burst()
        request.refresh_from_db()
        assert request.status == Status.QUEUED and request.wait_reason == WaitReason.UPDATE
        assert "right after a fresh login" in request.last_error
        submission.set_faults({})
        make_due(request)
        jobs.queue_due_tries()
        burst()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED and len(submission.incidents()) == 1

    def test_an_unexpected_error_after_the_incident_was_kept_never_fails_it(
        self, submission, alice, bob, monkeypatch
    ):
        request = approved(alice, bob, submission)

        def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr("responses.payload.update_incident_data", broken)
        burst()
        request.refresh_from_db()
        assert request.status == Status.QUEUED and request.wait_reason == WaitReason.UPDATE
        assert request.ksc_incident_id is not None


class TestRefusedSession:
    def test_a_session_refused_right_after_a_fresh_login_is_retried(self, submission, alice, bob):
        """KscAuthError twice in KscClient.call used to fail the request at once."""
        submission.set_faults({"fail_next": 2, "status": 401, "methods": ["HostGroup.AddIncident"]})
        request = approved(alice, bob, submission)
        burst()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert outcomes(request) == [AttemptOutcome.RETRYING, AttemptOutcome.SUBMITTED]
        assert len(submission.incidents()) == 1

    def test_a_refused_account_still_fails_at_once(self, submission, alice, bob):
        submission.set_faults({"reject_login": True})
        request = approved(alice, bob, submission)
        burst()
        request.refresh_from_db()
        assert request.status == Status.FAILED and outcomes(request) == [AttemptOutcome.FAILED]


@pytest.fixture
def other_certificate(tmp_path):
    cert, _key = generate_certificate(tmp_path, ["127.0.0.1", "localhost"])
    return str(cert)


class TestCertificateChange:
    def test_a_refused_certificate_holds_the_request_until_it_verifies(
        self, submission, settings, alice, bob, other_certificate, client, login
    ):
        """Issue 24.6: a KSC certificate change failed 20 of 20 requests for good, though nothing was sent."""
        trusted = settings.KSC_VERIFY
        settings.KSC_VERIFY = other_certificate  # KSC now presents a certificate the portal does not trust
        reset_client()
        request = approved(alice, bob, submission)
        burst()
        request.refresh_from_db()
        assert request.status == Status.QUEUED and request.wait_reason == WaitReason.TLS
        assert "Held back" in request.last_error and "KSC_CERT" in request.last_error
        assert submission.stats()["calls"].get("HostGroup.AddIncident", 0) == 0  # nothing was sent
        assert submission.incidents() == []

        # Administrators (and approvers) see it on every page.
        login(client, bob)
        html = client.get("/").content.decode()
        assert "1 request is held" in html and "certificate" in html

        # Still refused: the keeper leaves it held, with no new line in the trail.
        events = request.events.count()
        make_due(request)
        assert jobs.queue_due_tries() == 0
        request.refresh_from_db()
        assert request.status == Status.QUEUED and request.next_try_at > database_now()
        assert request.events.count() == events

        # The certificate verifies again (KSC_CERT updated): the request goes on by itself.
        settings.KSC_VERIFY = trusted
        reset_client()
        make_due(request)
        assert jobs.queue_due_tries() == 1
        assert "request is held" not in client.get("/").content.decode()  # the banner goes
        burst()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED and len(submission.incidents()) == 1


class TestDatabaseClock:
    def test_expiry_follows_the_database_clock_not_this_machines(self, postgres, alice, monkeypatch):
        """A clock stepped 25 h forward on a portal machine expired every pending approval at once.

        PostgreSQL's clock is the shared one (responses/clock.py); SQLite, for development, has
        none and uses this process's clock: the test skips there with the reason.
        """
        request = file_request(
            user=alice,
            task="isolateHost",
            target_host="host-1",
            target_host_name="PC-1",
            params={"action": 1},
            justification="clock step",
        )
        stepped = timezone.now() + dt.timedelta(hours=25)
        monkeypatch.setattr(timezone, "now", lambda: stepped)
        assert workflow.expire_overdue() == 0
        request.refresh_from_db()
        assert request.status == Status.PENDING_APPROVAL
        assert ResponseRequest.objects.awaiting_decision().filter(pk=request.pk).exists()

    def test_a_wait_stepped_far_ahead_is_cut_to_its_setting(self, submission, settings, alice, bob):
        """Back 1 h: a settle wait became 3,597 s. No wait is longer than its setting."""
        settings.KSC_ADD_SETTLE = 4
        request = approved(alice, bob, submission)
        ResponseRequest.objects.filter(pk=request.pk).update(
            status=Status.QUEUED,
            next_try_at=database_now() + dt.timedelta(hours=1),
            wait_reason=WaitReason.SETTLE,
        )
        django_rq.get_queue(jobs.QUEUE).empty()  # its first job ran and ended waiting
        at = submission_module_not_due(request)
        assert at is not None and at <= database_now() + dt.timedelta(seconds=4)
        # The keeper takes a time beyond every setting for a clock step: due now.
        ResponseRequest.objects.filter(pk=request.pk).update(next_try_at=F("next_try_at") + dt.timedelta(hours=1))
        assert jobs.queue_due_tries() == 1


def submission_module_not_due(request: ResponseRequest):
    return submission.not_due_until(request.uuid)


class TestNoWorkerSleeps:
    def test_a_settle_wait_frees_the_worker_and_the_page_says_until_when(
        self, submission, settings, alice, bob, client, login
    ):
        """Issue 29.6: an isolation approved while KSC was healthy waited 80 s behind another's settle sleep."""
        settings.KSC_READ_TIMEOUT = 0.5
        settings.KSC_ADD_SETTLE = 30
        reset_client()
        submission.set_faults({"late_adds": 1, "late_add_ms": 1500})
        slow = approved(alice, bob, submission, action=1)
        burst()
        slow.refresh_from_db()
        assert slow.status == Status.QUEUED and slow.wait_reason == WaitReason.SETTLE
        assert slow.next_try_at == slow.ksc_unknown_since + dt.timedelta(seconds=30)

        # Meanwhile the worker takes the next request at once.
        other = approved(alice, bob, submission, action=0)
        burst()
        other.refresh_from_db()
        assert other.status == Status.SUBMITTED
        slow.refresh_from_db()
        assert slow.status == Status.QUEUED  # its RQ retry came early and returned: not due before settling

        login(client, alice)
        html = client.get(f"/requests/{slow.uuid}/").content.decode()
        assert "Waiting until" in html and "so that KSC does not get a duplicate" in html
        assert timezone.localtime(slow.next_try_at).strftime("%H:%M:%S") in html
