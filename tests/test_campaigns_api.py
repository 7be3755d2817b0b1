"""The campaigns' API and pages: file with an idempotent retry, read, hosts, decisions, refusals; the page, CSV."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignStatus
from responses import outcomes
from responses.models import OutcomeState, ResponseRequest
from responses.states import TokenScope
from tests.fixtures.submission import run_worker

TOKYO = [f"TKY-WS-{n:04d}" for n in range(101, 119)]


@pytest.fixture
def campaign_settings(submission, settings):
    settings.CAMPAIGN_CANARY = 2
    settings.CAMPAIGN_WAVE = 5
    settings.CAMPAIGN_GROUP_SHARE = 100
    settings.CAMPAIGN_SMALL = 100
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    return submission


def _body(**changes):
    return {
        "task": "isolateHost",
        "params": {"action": 1},
        "hosts": [*TOKYO[:4], "NO-SUCH-HOST"],
        "justification": "Emotet (INC-9)",
        "external_ref": "INC-9",
        **changes,
    }


def test_it_files_with_an_idempotent_retry(campaign_settings, api, alice):
    client = api(alice, scope=TokenScope.FILE)
    first = client.post("/api/v1/campaigns/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["status"] == "pending_approval"
    assert data["approvals_required"] == 1
    assert data["hosts"]["total"] == 4
    assert data["hosts"]["unresolved"][0]["line"] == "NO-SUCH-HOST"
    again = client.post("/api/v1/campaigns/", _body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and again.json()["id"] == data["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1  # the retry filed nothing


def test_bad_input_is_a_400_naming_the_fields_and_files_nothing(campaign_settings, api, alice):
    client = api(alice, scope=TokenScope.FILE)
    answer = client.post("/api/v1/campaigns/", _body(hosts="", justification="", task="nope"), format="json")
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) >= {"task", "justification", "hosts"}
    answer = client.post("/api/v1/campaigns/", {**_body(), "colour": "red"}, format="json")
    assert answer.status_code == 400 and "colour" in answer.json()["errors"]
    answer = client.post("/api/v1/campaigns/", _body(hosts=[1, 2]), format="json")
    assert answer.status_code == 400 and "hosts" in answer.json()["errors"]
    assert not Campaign.objects.exists()


def test_decisions_through_the_api_need_a_decisions_token_and_another_person(
    campaign_settings, api, alice, bob, mallory, django_assert_max_num_queries
):
    filed = api(alice, scope=TokenScope.FILE).post("/api/v1/campaigns/", _body(), format="json").json()
    url = f"/api/v1/campaigns/{filed['id']}/"
    assert api(mallory).get(url).status_code == 404  # not theirs to see: not found, not forbidden
    assert api(bob, scope=TokenScope.FILE).post(url + "approve/", {}, format="json").status_code == 403
    assert api(alice).post(url + "approve/", {}, format="json").status_code == 403  # own campaign
    approved = api(bob).post(url + "approve/", {"comment": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "running"
    assert api(bob).post(url + "approve/", {}, format="json").status_code == 409
    run_worker()
    hosts = api(alice).get(url + "hosts/").json()
    assert hosts["count"] == 4
    statuses = sorted(row["status"] for row in hosts["results"])
    assert statuses == ["submitted", "submitted", "waiting", "waiting"]  # the canary of 2 went out
    assert sorted(str(row["outcome"]) for row in hosts["results"]) == ["None", "None", "waiting", "waiting"]
    campaign_settings.advance_clock(5)
    outcomes.sweep()  # the canary's tasks completed: their outcome rows exist now
    with django_assert_max_num_queries(8):  # one page of hosts, whatever its size: no query per row
        hosts = api(alice).get(url + "hosts/").json()
    done = [row["outcome"] for row in hosts["results"] if row["status"] == "submitted"]
    assert len(done) == 2 and all(state in OutcomeState.values and state != "waiting" for state in done)
    paused = api(bob).post(url + "pause/", {"comment": "checking"}, format="json")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert api(bob).post(url + "pause/", {"comment": "again"}, format="json").status_code == 409
    assert api(bob).post(url + "resume/", {}, format="json").status_code == 400  # a resume says why
    aborted = api(alice).post(url + "abort/", {"comment": "contained"}, format="json")
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    reverse = api(alice).post(url + "reverse/", {}, format="json")
    assert reverse.status_code == 201, reverse.content
    release = reverse.json()
    assert release["params"] == {"action": 0} and release["hosts"]["total"] == 2  # exactly the submitted hosts
    assert release["reverse_of"] == filed["id"]


def test_the_campaign_page_and_its_csv(campaign_settings, client, login, alice, bob):
    from campaigns import filing
    from campaigns import workflow as campaigns

    campaign = filing.file_campaign(
        alice, task="isolateHost", params={"action": 1}, hosts=TOKYO[:3], justification="x", external_ref=""
    )
    campaigns.approve(campaign, user=bob)
    login(client, alice)
    page = client.get(f"/campaigns/{campaign.uuid}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "TKY-WS-0101" in text and 'id="waves"' in text
    child = ResponseRequest.objects.filter(campaign_host__campaign=campaign).first()
    assert f"/requests/{child.uuid}/" in text  # the campaign links to each host's request
    csv = client.get(f"/campaigns/{campaign.uuid}/?format=csv")
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0].startswith("host_id,display_name") and len(lines) == 4
    filtered = client.get(f"/campaigns/{campaign.uuid}/?state=waiting")
    assert "TKY-WS-0101" not in filtered.content.decode() and "TKY-WS-0103" in filtered.content.decode()
    assert client.get("/campaigns/").status_code == 200
    assert Campaign.objects.get().status == CampaignStatus.RUNNING


def test_hosts_ticked_in_the_host_search_arrive_in_the_campaign_form(campaign_settings, client, login, alice):
    simulator = campaign_settings
    login(client, alice)
    found = client.get("/hosts/search", {"q": "TKY-WS-010"}).content.decode()
    first, second = simulator.host_id("TKY-WS-0101"), simulator.host_id("TKY-WS-0102")
    assert f'value="{first}" form="campaign-hosts"' in found and 'id="campaign-hosts"' in found
    chosen = client.get("/campaigns/new/", {"host": [first, second]}).content.decode()
    assert f'name="host" value="{first}"' in chosen  # carried through the task's choice
    form = client.get("/campaigns/new/", {"task": "isolateHost", "host": [first, second]}).content.decode()
    assert f"{first}\n{second}" in form
