"""Limits on the blast radius: per-requester filing rate, hourly cap on KSC submissions, KES task load."""

from __future__ import annotations

import pytest
from django.utils import translation

from responses import jobs, queueing, workflow
from responses.models import EventKind, ResponseRequest, Status
from tests.fixtures.api import REQUESTS, body
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


def file(user, host: str = HOST, action: int = 1) -> ResponseRequest:
    return file_request(
        user=user, task="isolateHost", target_host=host, params={"action": action}, justification="limit test"
    )


class TestFilingRate:
    def test_it_refuses_past_the_limit_and_files_nothing(self, settings, alice, frank):
        settings.REQUEST_RATE_LIMIT = 3
        for _ in range(3):
            file(alice)
        with pytest.raises(workflow.RateLimited) as refused, translation.override("en"):
            file(alice)
        assert "You have filed 3 requests in the last 60 minutes" in refused.value.message
        assert "try again in" in refused.value.message
        assert ResponseRequest.objects.filter(requester=alice).count() == 3
        file(frank)  # the limit is per requester
        assert ResponseRequest.objects.filter(requester=frank).count() == 1

    def test_old_requests_do_not_count(self, settings, alice):
        settings.REQUEST_RATE_LIMIT = 2
        settings.REQUEST_RATE_WINDOW = 600
        old = [file(alice), file(alice)]
        from datetime import timedelta

        from django.utils import timezone

        ResponseRequest.objects.filter(pk__in=[r.pk for r in old]).update(
            created_at=timezone.now() - timedelta(seconds=601)
        )
        file(alice)
        assert ResponseRequest.objects.filter(requester=alice).count() == 3

    def test_the_api_answers_429(self, settings, api, alice):
        settings.REQUEST_RATE_LIMIT = 1
        client = api(alice)
        assert client.post(REQUESTS, body(), format="json").status_code == 201
        response = client.post(REQUESTS, body(), format="json")
        assert response.status_code == 429
        assert "REQUEST_RATE_LIMIT" in response.json()["detail"]
        assert ResponseRequest.objects.count() == 1


class TestHourlyCap:
    def test_requests_over_the_cap_wait_and_go_later(
        self, transactional_db, ksc_settings, ksc_queue, settings, alice, bob
    ):
        settings.KSC_SUBMIT_HOURLY_CAP = 2
        settings.KSC_SUBMIT_BACKOFF = 0
        hosts = [host["KLHST_WKS_HOSTNAME"] for host in ksc_settings.hosts()[:3]]
        requests = [workflow.approve(file(alice, host), user=bob) for host in hosts]
        run_worker()
        statuses = sorted(ResponseRequest.objects.values_list("status", flat=True))
        assert statuses == [Status.QUEUED, Status.SUBMITTED, Status.SUBMITTED]
        assert len(ksc_settings.incidents()) == 2
        held = ResponseRequest.objects.get(status=Status.QUEUED)
        assert held.events.filter(kind=EventKind.HELD).count() == 1
        assert "KSC_SUBMIT_HOURLY_CAP" in held.events.get(kind=EventKind.HELD).message

        # Still over the cap: the reconciler leaves it, and writes nothing new to its trail.
        events_before = held.events.count()
        assert jobs.reconcile(grace_seconds=0)["released"] == 0
        assert held.events.count() == events_before
        settings.KSC_SUBMIT_HOURLY_CAP = 3  # room again
        assert jobs.reconcile(grace_seconds=0)["released"] == 1
        run_worker()
        held.refresh_from_db()
        assert held.status == Status.SUBMITTED
        assert len(ksc_settings.incidents()) == 3
        assert held.events.filter(kind=EventKind.HELD).count() == 1
        assert {r.pk for r in requests} == set(ResponseRequest.objects.values_list("pk", flat=True))


    def test_the_reconciler_looks_at_every_held_request_in_one_query(
        self, transactional_db, ksc_queue, settings, alice, bob, monkeypatch
    ):
        """Under overload (2,000 held) it once asked four things per held request per run, taking
        most of RECONCILE_INTERVAL; now one query says which are held, and the cap is counted once."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone
        from rq.job import Job

        settings.KSC_SUBMIT_HOURLY_CAP = 1
        submitted = workflow.approve(file(alice, action=0), user=bob)
        ResponseRequest.objects.filter(pk=submitted.pk).update(status=Status.SUBMITTED, submitted_at=timezone.now())
        lookups = []
        real_fetch = Job.fetch.__func__
        monkeypatch.setattr(Job, "fetch", classmethod(lambda cls, *a, **k: lookups.append(a) or real_fetch(cls, *a, **k)))

        def hold(count):
            for _ in range(count):
                rr = workflow.approve(file(alice), user=bob)
                queueing.hold(rr.uuid, "held back: the hourly cap")
            ksc_queue.empty()  # their jobs ran and returned "held"
            lookups.clear()
            with CaptureQueriesContext(connection) as queries:
                assert jobs.reconcile(grace_seconds=0)["released"] == 0
            return len(queries)

        few, many = hold(3), hold(20)
        assert few == many  # the same queries for 3 held requests and for 23
        assert lookups == []  # and no RQ job is looked up while the cap leaves no room

        settings.KSC_SUBMIT_HOURLY_CAP = 6  # room for five
        assert jobs.reconcile(grace_seconds=0)["released"] == 5
        assert jobs.reconcile(grace_seconds=0)["released"] == 0  # the five waiting jobs fill the room
        assert ksc_queue.count == 5
        first_five = sorted(ResponseRequest.objects.filter(status=Status.QUEUED).order_by("approved_at", "pk")
                            .values_list("uuid", flat=True)[:5], key=str)  # fmt: skip
        assert sorted(ksc_queue.get_job_ids()) == sorted(str(key) for key in first_five)


class TestHostTaskLoad:
    def test_it_counts_in_flight_and_recent_submissions_per_host(self, alice, bob):
        a, b = "host-a", "host-b"
        pending = file(alice, a)  # pending approval: not yet a task on the host
        approved = workflow.approve(file(alice, a), user=bob)
        ResponseRequest.objects.filter(pk=approved.pk).update(status=Status.SUBMITTED, submitted_at=approved.created_at)
        workflow.approve(file(alice, b), user=bob)
        assert pending.status == Status.PENDING_APPROVAL
        assert queueing.host_task_load([a, b, "host-c"]) == {a: 1, b: 1}


def test_the_limit_works_with_the_web_s_lazy_user(settings, alice):
    from django.utils.functional import SimpleLazyObject

    settings.REQUEST_RATE_LIMIT = 1
    lazy = SimpleLazyObject(lambda: alice)  # what request.user is in a view
    file(lazy)
    with pytest.raises(workflow.RateLimited):
        file(lazy)
    assert ResponseRequest.objects.count() == 1


class TestRedisGrowth:
    def test_rq_forgets_finished_jobs_soon_the_rows_keep_the_outcome(
        self, transactional_db, ksc_settings, ksc_queue, settings, alice, bob
    ):
        """2,000 approved at once grew Redis from 6 to 44.5 MB: every finished job stayed a day."""
        settings.KSC_SUBMIT_HOURLY_CAP = 1
        hosts = [host["KLHST_WKS_HOSTNAME"] for host in ksc_settings.hosts()[:2]]
        submitted, held = (workflow.approve(file(alice, host), user=bob) for host in hosts)
        run_worker()
        assert ResponseRequest.objects.get(pk=submitted.pk).status == Status.SUBMITTED
        assert ResponseRequest.objects.get(pk=held.pk).status == Status.QUEUED  # its job returned "held"
        connection = ksc_queue.connection
        for rr in (submitted, held):
            ttl = connection.ttl(f"rq:job:{rr.uuid}")
            assert 0 < ttl <= queueing.JOB_RESULT_TTL <= 600, ttl
            for key in connection.scan_iter(f"rq:results:{rr.uuid}*"):
                assert 0 < connection.ttl(key) <= queueing.JOB_RESULT_TTL
