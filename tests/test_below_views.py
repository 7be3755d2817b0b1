"""Rules that lived in the views, now below them: the catalog's undo, the queue, the approvals count."""

from __future__ import annotations

import datetime as dt

from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from responses import catalog, workflow
from responses.models import ResponseRequest, Status
from tests.support.filing import file_request


def test_the_catalog_says_what_undoes_a_request():
    isolate = catalog.TASKS["isolateHost"]

    assert isolate.undo_params({"action": 1}) == {"action": 0}  # an isolation is undone by a release
    assert isolate.undo_params({"action": 0}) is None  # a release is not undone by isolating again
    assert isolate.undo_params(None) is None
    assert all(task.undo_params({"path": "C:\\x"}) is None for name, task in catalog.TASKS.items() if name != "isolateHost")


def file(alice, why: str) -> ResponseRequest:
    return file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification=why
    )


def test_the_queue_is_pending_requests_in_their_window_oldest_first(alice, bob):
    older, newer, expired, decided = (file(alice, why) for why in ("older", "newer", "expired", "decided"))
    now = timezone.now()
    ResponseRequest.objects.filter(pk=older.pk).update(created_at=now - dt.timedelta(hours=2))
    ResponseRequest.objects.filter(pk=expired.pk).update(expires_at=now - dt.timedelta(seconds=1))
    workflow.reject(decided, user=bob, comment="no")

    assert list(ResponseRequest.objects.awaiting_decision()) == [older, newer]
    assert list(ResponseRequest.objects.visible_to(bob).awaiting_decision()) == [older, newer]


def test_the_approvals_count_counts_approvals_only(alice, bob, carol, settings):
    settings.APPROVALS_REQUIRED = 2
    rr = file(alice, "two approvers")
    assert (rr.approvals_required, rr.approvals_given_so_far()) == (2, 0)

    workflow.approve(rr, user=bob)
    workflow.reject(ResponseRequest.objects.get(pk=rr.pk), user=carol, comment="not this one")

    assert ResponseRequest.objects.get(pk=rr.pk).approvals_given_so_far() == 1  # the rejection is not counted


def test_a_submitted_isolation_offers_its_release_prefilled(client, login, alice):
    rr = file(alice, "isolate it")
    ResponseRequest.objects.filter(pk=rr.pk).update(status=Status.SUBMITTED)
    login(client, alice)

    url = client.get(reverse("responses:detail", kwargs={"key": rr.uuid})).context["release_url"]

    assert url.startswith(reverse("responses:new") + "?")
    query = QueryDict(url.partition("?")[2])
    assert (query["task"], query["target_host"], query["params-action"]) == ("isolateHost", "h-1", "0")
