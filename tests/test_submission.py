"""Submitting approved requests to KSC: exactly once, whatever fails.

Real parts throughout: the `ksc` queue on the test Redis, RQ workers (the
portal's own PortalWorker in burst mode, or a real `manage.py rqworker`
process that the test kills), and the KSC simulator over HTTPS on loopback,
whose incidents are counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import django_rq
import pytest
from django.db import connection

from portal.local_redis import free_port
from responses import jobs, queueing, workflow
from responses.models import AttemptOutcome, EventKind, ResponseRequest, Status
from tests.fixtures.submission import approved, outcomes, run_worker, wait_for
from tests.support.filing import file_request

ROOT = Path(__file__).resolve().parent.parent


class TestHappyPath:
    def test_it_submits_once_and_records_the_incident(self, submission, alice, bob):
        request = approved(alice, bob, submission)
        assert request.status == Status.QUEUED
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        incidents = submission.incidents()
        assert len(incidents) == 1
        incident = incidents[0]
        assert request.ksc_incident_id == incident["id"]
        pdata = incident["pData"]
        assert pdata["KLHST_WKS_HOSTNAME"] == request.target_host
        assert pdata["KLINCDT_SEVERITY"] == 2
        assert pdata["KLINCDT_ADDED"]["type"] == "datetime"
        assert json.loads(pdata["KLINCDT_BODY"]) == {
            "targetHost": request.target_host,
            "task": "isolateHost",
            "params": {"action": 1},
            "responseEventIncident": True,
            "responseEventIncidentArea": "Kuma",
        }
        # UpdateIncident marked it unhandled, with the host id, so KSC creates the response task
        assert incident["updates"][-1]["pData"] == {
            "KLINCDT_IS_HANDLED": False,
            "KLHST_WKS_HOSTNAME": request.target_host,
        }
        assert outcomes(request) == [AttemptOutcome.SUBMITTED]
        kinds = list(request.events.values_list("kind", flat=True))
        assert kinds[-2:] == [EventKind.CLAIMED, EventKind.SUBMITTED]
        submitted = request.events.get(kind=EventKind.SUBMITTED)
        assert submitted.detail["incident_id"] == request.ksc_incident_id

    def test_one_ksc_session_serves_many_jobs(self, submission, alice, bob):
        for _ in range(3):
            approved(alice, bob, submission)
        run_worker()
        assert list(ResponseRequest.objects.values_list("status", "last_error")) == [(Status.SUBMITTED, "")] * 3
        stats = submission.stats()
        # One authentication for three jobs (a login, or a StartSession, whichever the backend uses).
        assert stats["logins"] == 1, stats
        assert stats["calls"].get("Session.StartSession", 0) <= 1, stats
        assert len(submission.incidents()) == 3

    def test_a_request_that_needs_no_approval_goes_straight_to_ksc(self, submission, alice):
        host = submission.hosts()[1]["KLHST_WKS_HOSTNAME"]
        request = file_request(
            user=alice, task="getFile", target_host=host, params={"path": "C:\\evidence.bin"}, justification="triage"
        )
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert [i["id"] for i in submission.incidents()] == [request.ksc_incident_id]


class TestExactlyOnce:
    def test_running_the_job_twice_creates_one_incident(self, submission, alice, bob):
        request = approved(alice, bob, submission)
        assert jobs.submit_to_ksc(str(request.uuid)) == "submitted"
        assert jobs.submit_to_ksc(str(request.uuid)) == "skipped"
        # and a duplicate job in Redis (a reconciler racing the original) does nothing either
        queueing.push_job(request.uuid)
        run_worker()
        assert len(submission.incidents()) == 1
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED and request.attempts == 1

    def test_a_connection_dropped_after_ksc_stored_the_incident_is_adopted(self, submission, alice, bob):
        submission.set_faults({"drop_after_add": 1})
        request = approved(alice, bob, submission)
        run_worker()
        request.refresh_from_db()
        incidents = submission.incidents()
        assert len(incidents) == 1  # not two: the second attempt found the first one's incident
        assert request.status == Status.SUBMITTED
        assert request.ksc_incident_id == incidents[0]["id"]
        assert outcomes(request) == [AttemptOutcome.RETRYING, AttemptOutcome.ADOPTED]
        assert request.events.filter(kind=EventKind.ADOPTED, detail__adopted=True).exists()

    def test_an_approver_retry_after_failure_adopts_instead_of_adding(self, submission, settings, alice, bob, carol):
        settings.KSC_SUBMIT_TRIES = 1
        submission.set_faults({"drop_after_add": 1})
        request = approved(alice, bob, submission)
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.FAILED
        assert len(submission.incidents()) == 1  # KSC has it, though we never heard back
        workflow.retry(request, user=carol, comment="network is back")
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1
        assert request.ksc_incident_id == submission.incidents()[0]["id"]
        assert outcomes(request) == [AttemptOutcome.FAILED, AttemptOutcome.ADOPTED]

    def test_two_identical_requests_make_two_incidents(self, submission, alice, bob):
        # The adoption rule must not merge two legitimate, identical requests.
        first = approved(alice, bob, submission)
        second = approved(alice, bob, submission)
        run_worker()
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.ksc_added != second.ksc_added or first.fingerprint != second.fingerprint
        assert len(submission.incidents()) == 2
        assert first.ksc_incident_id != second.ksc_incident_id

    def test_a_worker_killed_between_add_incident_and_saving_the_id(self, submission, alice, bob, settings):
        """A real `manage.py rqworker` process is SIGKILLed while KSC is creating the incident."""
        # KSC takes 3 s before carrying out each call; the worker dies during AddIncident's wait,
        # after which KSC still creates the incident (a slow KSC whose client is gone).
        request = approved(alice, bob, submission)
        submission.set_faults({"delay_ms": 3000})
        env = worker_environment(submission)
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", jobs.QUEUE, "--burst"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: ResponseRequest.objects.get(pk=request.pk).status == Status.SUBMITTING,
                "the worker to claim the request",
            )
            wait_for(lambda: submission.stats()["calls"].get("HostGroup.AddIncident", 0) >= 1, "AddIncident sent")
        except AssertionError:
            os.killpg(worker.pid, signal.SIGKILL)
            raise AssertionError(worker.communicate(timeout=10)[1].decode()[-3000:]) from None
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        # While the dead worker's heartbeat lasts (4 s), its job counts as alive and is left alone.
        assert worker_key_alive()
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 0
        submission.clear_faults()
        wait_for(lambda: len(submission.incidents()) == 1, "KSC to finish the incident the dead worker asked for")
        request.refresh_from_db()
        assert request.status == Status.SUBMITTING and request.ksc_incident_id is None
        wait_for(lambda: not worker_key_alive(), "the killed worker's heartbeat to expire", timeout=15)

        counts = jobs.reconcile(grace_seconds=0)
        assert counts["requeued"] == 1
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1
        assert request.ksc_incident_id == submission.incidents()[0]["id"]
        assert request.events.filter(kind=EventKind.REQUEUED).count() == 1
        assert outcomes(request)[-1] == AttemptOutcome.ADOPTED


class TestFaults:
    @pytest.mark.parametrize(
        ("failures", "status", "attempts", "incidents"),
        [
            (2, Status.SUBMITTED, [AttemptOutcome.RETRYING, AttemptOutcome.RETRYING, AttemptOutcome.SUBMITTED], 1),
            (10, Status.FAILED, [AttemptOutcome.RETRYING, AttemptOutcome.RETRYING, AttemptOutcome.FAILED], 0),
        ],
        ids=["twice: retried, then submitted", "past the tries: failed with the last error"],
    )
    def test_ksc_unavailable_is_retried_up_to_the_tries(self, submission, alice, bob, failures, status, attempts, incidents):
        submission.set_faults({"fail_next": failures, "status": 503, "methods": ["HostGroup.AddIncident"]})
        request = approved(alice, bob, submission)
        run_worker()
        request.refresh_from_db()
        assert request.status == status
        assert outcomes(request) == attempts and request.attempts == 3
        assert len(submission.incidents()) == incidents
        # Only a request that failed keeps KSC's last error, and has its FAILED event.
        failed = status == Status.FAILED
        assert ("503" in request.last_error) is failed
        assert request.events.filter(kind=EventKind.FAILED).count() == int(failed)

    def test_ksc_unreachable_fails_after_the_tries(self, submission, settings, alice, bob):
        request = approved(alice, bob, submission)
        settings.KSC_PORT = free_port()  # nothing listens there
        from responses.ksc_servers import reset_client

        reset_client()
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.FAILED
        assert request.attempts == 3
        assert request.last_error

    def test_a_refused_login_fails_at_once(self, submission, alice, bob):
        submission.set_faults({"reject_login": True})
        request = approved(alice, bob, submission)
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.FAILED
        assert request.attempts == 1  # retrying cannot fix a refused account
        assert submission.incidents() == []
        assert submission.password not in request.last_error
        assert request.last_error

    def test_a_ksc_refusal_fails_at_once_with_ksc_code_and_message(self, submission, alice, bob):
        request = file_request(
            user=alice,
            task="isolateHost",
            target_host="host-that-ksc-does-not-know",
            params={"action": 1},
            justification="typo in host id",
        )
        workflow.approve(request, user=bob)
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.FAILED
        assert request.attempts == 1
        attempt = request.submission_attempts.get()
        assert attempt.error_code is not None
        assert str(attempt.error_code) in request.last_error or attempt.error_message in request.last_error
        assert submission.incidents() == []


class TestRedisDown:
    def test_an_approval_while_redis_is_down_is_not_lost(self, submission, settings, alice, bob):
        working = settings.RQ_QUEUES
        settings.RQ_QUEUES = {
            name: {**config, "URL": f"redis://127.0.0.1:{free_port()}/0"} for name, config in working.items()
        }
        request = approved(alice, bob, submission)
        assert request.status == Status.APPROVED  # committed, but no job: Redis refused it
        assert request.events.filter(kind=EventKind.ENQUEUE_FAILED).count() == 1

        settings.RQ_QUEUES = working  # Redis is back
        counts = jobs.reconcile(grace_seconds=0)
        assert counts["enqueued"] == 1
        request.refresh_from_db()
        assert request.status == Status.QUEUED
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1

    def test_a_queued_request_whose_job_vanished_is_queued_again(self, submission, alice, bob, ksc_queue):
        request = approved(alice, bob, submission)
        ksc_queue.connection.flushdb()  # Redis restarted without persistence
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 1
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 0  # its new job is alive now
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1

    def test_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(
        self, submission, alice, bob, ksc_queue
    ):
        """RQ moves a job to its intermediate list, then marks it started; a SIGKILL in between strands it."""
        from rq.intermediate_queue import IntermediateQueue

        request = approved(alice, bob, submission)
        intermediate = IntermediateQueue(ksc_queue.key, connection=ksc_queue.connection)
        ksc_queue.connection.lmove(ksc_queue.key, intermediate.key)  # what a worker's dequeue does
        assert jobs.reconcile(grace_seconds=0)["requeued"] == 1
        assert intermediate.get_job_ids() == []  # it cannot run a second time from there
        run_worker()
        request.refresh_from_db()
        assert request.status == Status.SUBMITTED
        assert len(submission.incidents()) == 1

    def test_the_reconcile_command(self, submission, alice, bob, ksc_queue):
        from io import StringIO

        from django.core.management import call_command

        approved(alice, bob, submission)
        ksc_queue.connection.flushdb()
        out = StringIO()
        err = StringIO()
        call_command("reconcile_requests", "--grace", "0", "--schedule", stdout=out, stderr=err)
        assert out.getvalue().strip() == (
            "expired 0, enqueued 0, re-queued 1, released 0, found in KSC 0, duplicates removed 0"
        )
        assert "no longer needed" in err.getvalue()  # an old cron line still works

    def test_the_reconcile_command_refuses_a_negative_grace(self, db):
        from django.core.management import call_command
        from django.core.management.base import CommandError

        with pytest.raises(CommandError) as refused:
            call_command("reconcile_requests", "--grace", "-1")
        assert refused.value.returncode == 2
        with pytest.raises(CommandError, match="single run"):
            call_command("reconcile_requests", "--loop", "--grace", "5")


# --- helpers ---------------------------------------------------------------------------------


def worker_key_alive() -> bool:
    """Whether any worker's key still lives in Redis (the set of workers keeps dead ones' names)."""
    from rq.worker import Worker

    redis = django_rq.get_queue(jobs.QUEUE).connection
    return any(redis.exists(key) for key in Worker.all_keys(connection=redis))


def worker_environment(simulator) -> dict[str, str]:
    """The environment of a worker process that shares this test's database, Redis and KSC."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSC_")}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        KSC_HOST=simulator.host,
        KSC_PORT=str(simulator.port),
        KSC_CERT=str(simulator.cert_path),
        KSC_USER=simulator.user,
        KSC_PASSWORD=simulator.password,
        KSC_CLIENT="builtin",
        KSC_READ_TIMEOUT="30",
        WORKER_HEARTBEAT_TTL="4",  # so that the killed worker is known dead within seconds
    )
    return env
