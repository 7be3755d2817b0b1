"""An isolation's scheduled release under faults (issue 28, points 2 and 7): exactly once, on time.

Real parts, as tests/test_faults.py: `manage.py rqworker ksc` processes (the portal's worker with its
keeper, which runs the isolation schedule), the KSC simulator as its own process over HTTPS, and a
private redis-server these tests flush. The release is due by the database's clock: the test moves
the planned end instead of waiting hours, and nothing in this process releases anything.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import django_rq
import pytest
from django.utils import timezone

from benchmarks import faults
from ksc_simulator.inventory import default_hosts
from responses import workflow
from responses.models import EventKind, Isolation, IsolationState, ResponseRequest, Status
from tests.fixtures.fault_stand import SHORT
from tests.support.filing import file_request


@pytest.fixture
def stand(fault_stand):
    """tests/fixtures/fault_stand.py's stand: a private redis-server, the simulator as a process, room for workers."""
    return fault_stand


def release_actions(stand) -> list[int]:
    bodies = [json.loads(incident["pData"]["KLINCDT_BODY"]) for incident in stand.incidents()]
    return [body["params"]["action"] for body in bodies if body["task"] == "isolateHost"]


def isolation_in_effect(stand, alice, bob, *, end_in: dt.timedelta) -> Isolation:
    """An isolation filed and approved, submitted by the workers; its end put ``end_in`` from now.

    The end counts from when the [Response] task completed; the outcome sweep's timing is not
    what is tested here, so the row is moved to "in effect" with the end the test needs.
    """
    host = default_hosts()[0].id
    request = file_request(
        user=alice, task="isolateHost", target_host=host, params={"action": 1},
        justification="C2 beacon (fault run)", end={"isolate_hours": 1},
    )  # fmt: skip
    workflow.approve(request, user=bob)
    assert faults.wait_until(lambda: ResponseRequest.objects.get(pk=request.pk).status == Status.SUBMITTED, 60)
    since = timezone.now()
    Isolation.objects.filter(request=request).update(
        state=IsolationState.ACTIVE, since=since, release_at=since + end_in, warned_for=since + end_in
    )
    return Isolation.objects.select_related("release").get(request=request)


def test_a_worker_killed_while_it_sends_the_release_leaves_exactly_one_release_incident(stand, alice, bob):
    first, second = stand.start_worker(), stand.start_worker()
    row = isolation_in_effect(stand, alice, bob, end_in=dt.timedelta(seconds=-1))  # due now
    stand.set_faults({"delay_ms": 1500})  # AddIncident and UpdateIncident each take 1.5 s
    key = row.release.uuid
    assert faults.wait_until(lambda: faults.started(key), 60), "no keeper released it"
    time.sleep(0.5)
    victim = stand.worker_by_pid(faults.job_worker_pid(stand, key))
    assert victim in (first, second), "the release's job ran in neither worker"
    stand.kill_worker(victim)
    stand.set_faults({})
    stand.start_worker()
    assert faults.wait_settled([key], time.monotonic(), 120) is not None
    release = ResponseRequest.objects.get(uuid=key)
    assert release.status == Status.SUBMITTED, release.last_error
    assert release_actions(stand) == [1, 0], "one isolation and exactly one release reached KSC"
    assert release.events.filter(kind=EventKind.APPROVED).count() == 1, "released once"


def test_a_redis_flush_before_the_end_loses_nothing_the_release_goes_on_time(stand, alice, bob):
    stand.start_worker(), stand.start_worker()
    row = isolation_in_effect(stand, alice, bob, end_in=dt.timedelta(seconds=8))
    django_rq.get_queue("ksc").connection.flushdb()  # leases, queues and schedules gone before the end
    key = row.release.uuid
    assert faults.wait_until(lambda: ResponseRequest.objects.get(uuid=key).status == Status.SUBMITTED, 90)
    approved = ResponseRequest.objects.get(uuid=key).events.get(kind=EventKind.APPROVED)
    # On time: within the keeper's beat (RECONCILE_INTERVAL, 3 s here) and its lease after the flush.
    assert approved.detail["late_seconds"] <= 2 * int(SHORT["RECONCILE_INTERVAL"]) + 2, approved.detail
    assert release_actions(stand) == [1, 0]
