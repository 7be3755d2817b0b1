"""The fast scenarios of the fault run (benchmarks/faults.py), with short settings.

Real parts: `manage.py rqworker ksc` processes (the portal's PortalWorker with its
keeper), the KSC simulator as its own process over HTTPS, and a private
redis-server that these tests kill, restart and flush. What is asserted is that
every request recovers, exactly once in KSC; the deadlines are correctness bounds,
not speed goals (benchmarks/faults.py prints the times).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import django_rq
import pytest

from benchmarks import faults
from ksc_simulator.inventory import default_hosts
from responses import jobs
from responses.models import AttemptOutcome, EventKind, ResponseRequest, Status, SubmissionAttempt
from worker.rq_worker import PortalWorker, redis_lost


def faults_redis_error(name: str, text: str) -> Exception:
    import redis.exceptions

    return getattr(redis.exceptions, name)(text)


@pytest.fixture
def stand(fault_stand):
    """tests/fixtures/fault_stand.py's stand: a private redis-server, the simulator as a process, room for workers."""
    return fault_stand


@pytest.fixture
def approve(alice, bob):
    file_and_approve = faults.approver_for(alice, bob, [host.id for host in default_hosts()])
    return lambda index: file_and_approve(index).uuid


def assert_clean(row: faults.Row) -> None:
    assert (row.duplicates, row.lost, row.stuck) == (0, 0, 0), faults.table([row])
    assert row.incidents == row.requests


class TestSigkill:
    def test_a_request_whose_worker_was_sigkilled_runs_again(self, stand, approve):
        row = faults.sigkill_recovery(stand, approve, rounds=2)
        assert_clean(row)
        assert row.recovery is not None, "no worker was killed while it held a request"
        requeued = ResponseRequest.objects.filter(events__kind=EventKind.REQUEUED).distinct().count()
        assert requeued >= 1  # the survivor's keeper found the dead worker's request and queued it again

    def test_retries_still_run_when_the_worker_holding_the_schedule_is_killed(self, stand, approve):
        row = faults.scheduler_killed(stand, approve, requests=3)
        assert_clean(row)
        assert row.recovery is not None, "no keeper held the schedule"
        # (An isolation's paired release waits, scheduled, for the isolation's end: it was never submitted.)
        for request in ResponseRequest.objects.exclude(status=Status.SCHEDULED):
            outcomes = list(request.submission_attempts.order_by("number").values_list("outcome", flat=True))
            assert outcomes[0] == AttemptOutcome.RETRYING
            assert outcomes[-1] == AttemptOutcome.SUBMITTED

    def test_every_heartbeat_during_a_job_is_short(self, stand, settings):
        """RQ's prepare_job_execution used to reset the worker key to the job timeout + 60 s."""
        settings.WORKER_HEARTBEAT_TTL = 2
        queue = django_rq.get_queue(jobs.QUEUE)
        job = queue.enqueue(worker_key_ttl)
        PortalWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)
        job.refresh()
        assert 0 < job.return_value() <= 2


def worker_key_ttl() -> int:
    """A job that reports how long its worker's key will live (the first thing a job can see)."""
    from rq import get_current_job

    job = get_current_job()
    return job.connection.ttl(f"rq:worker:{job.worker_name}")


class TestRedisLoss:
    def test_a_flush_loses_nothing_and_the_keeper_comes_back_by_itself(self, stand, approve):
        row = faults.redis_flushed(stand, approve, requests=10)
        assert_clean(row)
        # Nobody ran reconcile_requests: the workers' keepers queued again what the flush lost.

    def test_approvals_while_redis_is_down_are_submitted_once_it_is_back(self, stand, approve):
        row = faults.redis_killed(stand, approve, requests=12, outage=3)
        assert_clean(row)
        assert len(stand.living_workers()) == 2
        assert ResponseRequest.objects.filter(events__kind=EventKind.ENQUEUE_FAILED).exists()

    def test_a_worker_survives_redis_dying_mid_job(self, stand, approve):
        worker = stand.start_worker()
        stand.set_faults({"delay_ms": 1500})
        first = approve(0)
        assert faults.wait_until(lambda: faults.started(first), 60), "the worker never claimed the request"
        stand.kill_redis()
        # The job ends while Redis is away (the row says so), and RQ cannot record it.
        assert faults.wait_until(lambda: not faults.in_flight([first]), 60)
        time.sleep(1.5)
        stand.start_redis()
        stand.set_faults({})
        assert faults.wait_settled([first], time.monotonic(), 120) is not None
        assert worker.poll() is None, "the worker exited when Redis went away"
        second = approve(1)  # the same worker, reconnected, takes the next one
        assert faults.wait_settled([second], time.monotonic(), 120) is not None
        assert worker.poll() is None
        # An approved isolation also has its paired release, scheduled for the isolation's end (issue 28).
        statuses = set(ResponseRequest.objects.exclude(status=Status.SCHEDULED).values_list("status", flat=True))
        assert statuses == {Status.SUBMITTED}
        assert len(stand.incidents()) == 2


@pytest.mark.parametrize(
    ("error", "passes"),
    [
        (faults_redis_error("ResponseError", "MISCONF Redis is configured to save RDB snapshots"), True),
        (faults_redis_error("ReadOnlyError", "You can't write against a read only replica."), True),
        (faults_redis_error("ResponseError", "NOREPLICAS Not enough good replicas to write."), True),
        (faults_redis_error("ResponseError", "UNBLOCKED force unblock from blocking operation"), True),
        (faults_redis_error("ResponseError", "Error running script: @user_script:1: MISCONF Redis is"), True),
        (faults_redis_error("ResponseError", "Command # 1 (SADD rq:queues x) of pipeline caused error: MISCONF Redis"), True),
        (faults_redis_error("ResponseError", "WRONGTYPE Operation against a key holding the wrong kind"), False),
        (faults_redis_error("DataError", "Invalid input of type"), False),
    ],
)
def test_only_redis_errors_that_pass_with_time_are_waited_out(error, passes):
    assert redis_lost(error) is passes


class TestRedisRefusingWrites:
    @pytest.mark.parametrize("how", ["misconf", "readonly"])
    def test_workers_wait_until_redis_takes_writes_again(self, stand, approve, how):
        """MISCONF (a failed save, disk full) and READONLY (a failover) once made RQ's loop quit."""
        row = faults.redis_refuses_writes(stand, approve, requests=9, how=how, outage=4)
        assert_clean(row)
        assert len(stand.living_workers()) == 2, "a worker exited while Redis refused writes"
        assert row.note.endswith("survived: 2/2"), row.note
        # Approved while writes were refused: not queued then, queued by the keeper afterwards.
        assert ResponseRequest.objects.filter(events__kind=EventKind.ENQUEUE_FAILED).exists()
        log = (stand.workdir / "workers.log").read_text()
        assert "unhandled exception" not in log


class TestSmtpDown:
    def test_e_mails_outlive_a_mail_server_down_longer_than_the_quick_tries(self, stand, approve):
        row = faults.smtp_down(stand, approve, requests=3, outage=12)
        assert_clean(row)
        assert row.requests >= 3, row.note  # at least bob's "approval needed" per request
        assert row.incidents == row.requests  # every e-mail delivered, none given up
        # The quick tries (2) were all spent while the server was down: on main that was the end.
        tries = int(re.search(r"up to (\d+) tries each", row.note).group(1))
        assert tries >= 2, row.note


class TestOverload:
    def test_e_mails_do_not_wait_for_the_backlog_of_submissions(self, stand, approve):
        """2,000 approved at once sent the first e-mail 81 s after the workers started: all behind `ksc`."""
        row = faults.overload(stand, approve, requests=40)
        assert_clean(row)
        assert row.recovery is not None, row.note
        waiting = int(re.search(r"with (\d+)/40 submissions still waiting", row.note).group(1))
        assert waiting >= 20, row.note  # the first e-mail came while most submissions still waited


class TestKeeperProcess:
    def test_reconcile_requests_loop_queues_what_an_outage_left_and_stops_on_sigterm(self, stand, approve):
        stand.kill_redis()
        key = approve(0)  # Redis refused the job: the request stays APPROVED
        stand.start_redis()
        keeper = subprocess.Popen(
            [sys.executable, "manage.py", "reconcile_requests", "--loop"],
            cwd=faults.ROOT,
            env=stand.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            queued = faults.wait_until(lambda: ResponseRequest.objects.get(uuid=key).status == Status.QUEUED, 120)
        finally:
            keeper.send_signal(signal.SIGTERM)
            output = keeper.communicate(timeout=30)[0]
        assert queued, output[-3000:]
        assert keeper.returncode == 0
        assert "keeper stopped" in output
        assert django_rq.get_queue(jobs.QUEUE).job_ids == [str(key)]


class TestLateAdd:
    def test_an_add_incident_ksc_completes_12_s_late_leaves_one_live_incident(self, stand, approve, settings):
        """Issue 24, point 1: the retry adds 1001, KSC completes the first call as 1002 later; 1002 goes."""
        settings.KSC_SUBMIT_BACKOFF = int(faults.RUN_SETTINGS["KSC_SUBMIT_BACKOFF"])  # RQ's retry, set when queued
        row = faults.late_add(stand, approve, requests=1)
        for event in ResponseRequest.objects.get().events.order_by("seq"):
            print(event.created_at.time(), event.kind, event.message, event.detail)
        assert_clean(row)
        assert row.settle is not None and row.settle < 60, faults.table([row])
        request = ResponseRequest.objects.get()
        assert request.status == Status.SUBMITTED
        made = stand.incidents()
        assert len(made) == 2
        late = next(incident["id"] for incident in made if incident["id"] != request.ksc_incident_id)
        assert [incident["id"] for incident in made if incident["deleted"]] == [late]
        removed = request.events.get(kind=EventKind.DUPLICATE_REMOVED)
        assert sorted(removed.detail["found"]) == sorted([request.ksc_incident_id, late])  # both ids in the trail
        assert removed.detail["kept"] == request.ksc_incident_id and removed.detail["removed"] == [late]
        assert str(late) in removed.message
        # The search goes on after the removal, at growing intervals, until KSC_UNKNOWN_OUTCOME_SEARCH.
        assert request.ksc_search_from is not None and request.ksc_recheck_at is not None


class TestKscFaultsAfterTheIncident:
    """Issue 24.6: each scenario of the fault run that broke, with fewer requests."""

    def test_sessions_ended_every_0_3_s_fail_no_request(self, stand, approve, settings):
        settings.KSC_SUBMIT_BACKOFF = int(faults.RUN_SETTINGS["KSC_SUBMIT_BACKOFF"])
        row = faults.sessions_refused(stand, approve, requests=8, duration=6.0)
        assert_clean(row)
        assert not ResponseRequest.objects.filter(status=Status.FAILED).exists(), row.note
        refused = SubmissionAttempt.objects.filter(error_message__contains="right after a fresh login")
        assert refused.exists(), "the fault never made KSC refuse a fresh session"

    def test_update_incident_answered_with_html_leaves_no_incident_unupdated(self, stand, approve, settings):
        settings.KSC_SUBMIT_BACKOFF = int(faults.RUN_SETTINGS["KSC_SUBMIT_BACKOFF"])
        row = faults.update_html(stand, approve, requests=2, calls=8)
        assert_clean(row)
        assert row.note.startswith("FAILED: 0,") and row.note.endswith("never updated: 0"), row.note
        assert SubmissionAttempt.objects.filter(error_message__contains="not a JSON object").exists()

    def test_a_certificate_change_holds_requests_then_lets_them_go(self, stand, approve):
        row = faults.cert_change(stand, approve, requests=3, window=6.0)
        assert_clean(row)
        assert row.settle is not None and row.settle < 30, faults.table([row])
        assert ResponseRequest.objects.filter(events__message__startswith="Held back: KSC's TLS").distinct().count() == 3

    def test_retries_scheduled_an_hour_late_run_after_their_backoff(self, stand, approve, settings):
        settings.KSC_SUBMIT_BACKOFF = int(faults.RUN_SETTINGS["KSC_SUBMIT_BACKOFF"])
        row = faults.clock_back(stand, approve, requests=3)
        assert_clean(row)
        assert row.note.startswith("3 retries moved an hour ahead"), row.note
        assert row.settle is not None and row.settle < 20, faults.table([row])


class TestSeveralServers:
    def test_a_worker_killed_in_an_add_incident_on_a_secondary_leaves_one_incident_there_and_none_elsewhere(
        self, stand, approve
    ):
        """Issue 26, point 9: the secondary is reached through the primary's gateway; the kill lands while
        the simulator holds the AddIncident it received; the restarted worker finishes the request."""
        row = faults.secondary_sigkill(stand, approve, rounds=2)
        assert_clean(row)  # also counts an incident on the primary or another server as a duplicate
        assert row.landed >= 1, "no kill landed during a held AddIncident"
        secondary = f"secondary:{faults.SECONDARY_ID}"
        on_secondary = {incident["id"] for incident in stand.incidents(secondary) if not incident.get("deleted")}
        # (An isolation's paired release waits, scheduled, for the isolation's end: never submitted.)
        requests = list(ResponseRequest.objects.filter(server=faults.SECONDARY_NAME).exclude(status=Status.SCHEDULED))
        assert len(requests) == 2
        for request in requests:
            assert request.status == Status.SUBMITTED and request.ksc_incident_id in on_secondary
        assert len(on_secondary) == 2
        assert stand.incidents() == []  # the primary holds none
        requeued = ResponseRequest.objects.filter(server=faults.SECONDARY_NAME, events__kind=EventKind.REQUEUED)
        assert requeued.exists()  # the restarted worker's keeper took the dead worker's request up
