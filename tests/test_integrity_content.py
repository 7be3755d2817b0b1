"""What reaches KSC is what was approved (issue 12.3).

An UPDATE of target_host or params after approval used to go to KSC as it was
in the row. Now the job and retry compare the row's fingerprint with the one
approved and refuse, and PostgreSQL refuses the UPDATE in the first place.
"""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, transaction

from responses import workflow
from responses.models import EventKind, ResponseRequest, Status, payload_fingerprint
from tests.fixtures.submission import approved, run_worker
from tests.support.filing import file_request
from tests.support.tampering import tamper_request


def _retarget(request: ResponseRequest, host: str, *, with_fingerprint: bool) -> None:
    """An UPDATE by hand, after approval: another host (and, for the careful attacker, its fingerprint)."""
    fingerprint = payload_fingerprint(request.task, host, request.params)
    if with_fingerprint:
        tamper_request(
            "UPDATE responses_responserequest SET target_host = %s, fingerprint = %s WHERE id = %s",
            [host, fingerprint, request.pk],
        )
    else:
        tamper_request("UPDATE responses_responserequest SET target_host = %s WHERE id = %s", [host, request.pk])


@pytest.mark.parametrize("with_fingerprint", [False, True], ids=["host-only", "host-and-fingerprint"])
def test_it_refuses_to_submit_a_request_changed_after_approval(submission, alice, bob, with_fingerprint):
    request = approved(alice, bob, submission)
    other_host = submission.hosts()[1]["KLHST_WKS_HOSTNAME"]
    _retarget(request, other_host, with_fingerprint=with_fingerprint)
    run_worker()
    request.refresh_from_db()
    assert submission.incidents() == []  # nothing reached KSC
    assert request.status == Status.FAILED
    assert "changed after it was approved" in request.last_error
    failed = request.events.get(kind=EventKind.FAILED)
    assert failed.detail["content_changed"] is True
    assert failed.detail["current_fingerprint"] == payload_fingerprint(request.task, other_host, request.params)


def test_retry_refuses_a_request_changed_after_approval(submission, alice, bob, carol):
    request = approved(alice, bob, submission)
    ResponseRequest.objects.filter(pk=request.pk).update(status=Status.FAILED)  # as if KSC had refused it
    params = json.dumps({"action": 0})
    tamper_request("UPDATE responses_responserequest SET params = %s WHERE id = %s", [params, request.pk])
    with pytest.raises(workflow.ContentChanged, match="changed after it was approved"):
        workflow.retry(request, user=carol, comment="try again")
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert request.events.filter(kind=EventKind.FAILED, actor_username="carol").count() == 1
    run_worker()
    assert submission.incidents() == []


def test_an_untouched_request_still_goes_through(submission, alice, bob):
    request = approved(alice, bob, submission)
    run_worker()
    request.refresh_from_db()
    assert request.status == Status.SUBMITTED
    filed = request.events.get(kind=EventKind.FILED)
    assert filed.detail["fingerprint"] == request.fingerprint


class TestPostgresFreezesApprovedContent:
    def test_an_update_of_the_host_after_approval_is_refused(self, postgres, alice, bob):
        request = file_request(
            user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x"
        )
        request = workflow.approve(request, user=bob)
        for change in ({"target_host": "h-2"}, {"params": {"action": 0}}, {"task": "getFile"}, {"fingerprint": "0"}):
            with pytest.raises(DatabaseError, match="cannot change after approval"), transaction.atomic():
                ResponseRequest.objects.filter(pk=request.pk).update(**change)
        request.refresh_from_db()
        assert (request.target_host, request.params) == ("h-1", {"action": 1})

    def test_status_changes_still_pass(self, postgres, alice, bob):
        request = file_request(
            user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="x"
        )
        request = workflow.approve(request, user=bob)
        ResponseRequest.objects.filter(pk=request.pk).update(status=Status.QUEUED, last_error="")
        request.refresh_from_db()
        assert request.status == Status.QUEUED
