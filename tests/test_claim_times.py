"""KLINCDT_ADDED for identical requests: distinct whole seconds, found with one query, never far ahead."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from responses import submission, workflow
from responses.models import ResponseRequest
from tests.support.filing import file_request

HOST = "7f2c9a1e-0000-4000-8000-00000000c1a1"


def identical(alice, bob, count: int) -> list[ResponseRequest]:
    requests = []
    for index in range(count):
        filed = file_request(
            user=alice,
            task="isolateHost",
            target_host=HOST,
            params={"action": 1},
            justification=f"the same host, again ({index})",
        )
        requests.append(workflow.approve(filed, user=bob))
    return requests


def claim_queries(key) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert submission.claim_for_submission(key) is not None
    return len(captured)


@pytest.mark.django_db
def test_claiming_costs_the_same_queries_for_the_fortieth_identical_request_as_for_the_first(alice, bob):
    requests = identical(alice, bob, 40)
    counts = [claim_queries(request.uuid) for request in requests]
    # The second-by-second probe took one more query per identical request already claimed.
    assert counts[-1] == counts[0], counts
    added = list(ResponseRequest.objects.filter(fingerprint=requests[0].fingerprint).values_list("ksc_added", flat=True))
    assert len(set(added)) == 40
    assert all(value.microsecond == 0 for value in added)


@pytest.mark.django_db
def test_requests_approved_a_while_ago_take_past_seconds_not_future_ones(alice, bob):
    requests = identical(alice, bob, 30)
    approved = timezone.now() - dt.timedelta(minutes=10)
    ResponseRequest.objects.filter(pk__in=[r.pk for r in requests]).update(approved_at=approved)
    for request in requests:
        submission.claim_for_submission(request.uuid)
    now = timezone.now()
    added = sorted(ResponseRequest.objects.filter(pk__in=[r.pk for r in requests]).values_list("ksc_added", flat=True))
    assert len(set(added)) == 30
    assert added[-1] <= now  # the old probe walked 29 seconds into the future
    assert added[0] >= approved.replace(microsecond=0)  # never before the request was approved


@pytest.mark.django_db
def test_fresh_identical_requests_go_ahead_only_as_far_as_there_are_twins(alice, bob):
    requests = identical(alice, bob, 20)
    for request in requests:
        submission.claim_for_submission(request.uuid)
    now = timezone.now()
    added = sorted(ResponseRequest.objects.filter(pk__in=[r.pk for r in requests]).values_list("ksc_added", flat=True))
    assert len(set(added)) == 20
    assert added[0] >= min(r.approved_at for r in requests).replace(microsecond=0)
    assert added[-1] <= now + dt.timedelta(seconds=20)
