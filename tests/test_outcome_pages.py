"""The outcome on the host in the API (detail, list, filter) and on the pages (badge, self-refresh)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from responses.models import OutcomeState, ResponseOutcome, Status
from tests.fixtures.api import REQUESTS, file, url
from tests.support.pages import page, set_status


def submitted(user, incident: int = 4242):
    return set_status(file(user), Status.SUBMITTED, ksc_incident_id=incident, submitted_at=timezone.now())


def with_outcome(request, state: str, **fields) -> ResponseOutcome:
    closed = timezone.now() if state in ("completed", "warning", "failed", "gone") else None
    return ResponseOutcome.objects.create(request=request, state=state, closed_at=closed, **fields)


class TestApi:
    def test_the_detail_carries_the_outcome(self, api, alice):
        request = submitted(alice)
        with_outcome(
            request,
            OutcomeState.FAILED,
            ksc_task_id="1001",
            ksc_task_name="[Response][Kuma] isolateHost - x - 4242",
            reason="The host refused the firewall rule",
        )
        data = api(alice).get(url(request)).json()
        assert data["status"] == "submitted"
        outcome = data["outcome"]
        assert outcome["state"] == "failed" and outcome["final"] is True
        assert outcome["ksc_task_id"] == "1001" and outcome["reason"] == "The host refused the firewall rule"

    def test_a_submitted_request_without_a_sweep_yet_is_waiting_not_done(self, api, alice):
        request = submitted(alice)
        outcome = api(alice).get(url(request)).json()["outcome"]
        assert outcome["state"] == "waiting" and outcome["final"] is False

    def test_a_request_not_yet_submitted_has_no_outcome(self, api, alice):
        request = file(alice)
        assert api(alice).get(url(request)).json()["outcome"] is None

    def test_the_list_filters_by_outcome(self, api, alice):
        done = submitted(alice, 1)
        with_outcome(done, OutcomeState.COMPLETED)
        waiting = submitted(alice, 2)  # no outcome row yet: counts as waiting
        file(alice)
        client = api(alice)
        completed = client.get(REQUESTS, {"outcome": "completed"}).json()["results"]
        assert [item["id"] for item in completed] == [str(done.uuid)]
        assert completed[0]["outcome"]["state"] == "completed"
        waiting_ids = [item["id"] for item in client.get(REQUESTS, {"outcome": "waiting"}).json()["results"]]
        assert waiting_ids == [str(waiting.uuid)]

    def test_an_unknown_outcome_filter_is_refused(self, api, alice):
        response = api(alice).get(REQUESTS, {"outcome": "done"})
        assert response.status_code == 400
        assert "done" in " ".join(response.json()["errors"]["outcome"])


class TestPages:
    def test_submitted_is_not_green_and_the_page_follows_the_outcome(self, client, login, alice):
        request = submitted(alice)
        login(client, alice)
        html = page(client.get(f"/requests/{request.uuid}/"))
        assert 'class="badge badge-blue" data-status="submitted"' in html, "Submitted never reads as done"
        assert 'data-outcome="waiting"' in html and "Waiting for the KSC task" in html
        assert '<meta http-equiv="refresh" content="15">' in html

    def test_a_final_outcome_stops_the_refresh_and_shows_kscs_words(self, client, login, alice):
        request = submitted(alice)
        with_outcome(
            request,
            OutcomeState.WARNING,
            ksc_task_id="1002",
            ksc_task_name="[Response][Kuma] isolateHost - y - 4242",
            reason="Some rules were not applied",
            matched_by="[Response] name, incident id 4242 in the name",
        )
        login(client, alice)
        html = page(client.get(f"/requests/{request.uuid}/"))
        assert 'badge badge-amber" data-outcome="warning"' in html
        assert "Some rules were not applied" in html and "incident id 4242 in the name" in html
        assert 'http-equiv="refresh"' not in html

    @pytest.mark.parametrize("state,color", [("completed", "green"), ("no_task", "red"), ("unknown", "amber")])
    def test_the_lists_show_the_outcome_badge(self, client, login, alice, state, color):
        request = submitted(alice)
        with_outcome(request, state)
        login(client, alice)
        html = page(client.get("/requests/mine/"))
        assert f'badge badge-{color}" data-outcome="{state}"' in html


def test_all_requests_filters_by_outcome(client, login, alice, dave):
    done = submitted(alice, 1)
    with_outcome(done, OutcomeState.COMPLETED)
    failed = submitted(alice, 2)
    with_outcome(failed, OutcomeState.FAILED)
    login(client, dave)
    html = page(client.get("/requests/", {"outcome": "failed"}))
    assert f"/requests/{failed.uuid}/" in html and f"/requests/{done.uuid}/" not in html
    refused = page(client.get("/requests/", {"outcome": "done"}))
    assert "Select a valid choice" in refused and f"/requests/{failed.uuid}/" not in refused
