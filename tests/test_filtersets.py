"""The web list, its CSV export and GET /api/v1/requests/ give the same rows for the same filters.

One FilterSet (responses/filtersets.py) serves all three; before it, ``requester`` and
``host`` meant different things on the web and in the API. Every filter is asked on
all three over the same requests, as an auditor, and the rows compared by request id.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from responses import workflow
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.fixtures.api import REQUESTS
from tests.support.filing import file_request

DAY = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def requests_to_filter(alice, frank, bob, carol):
    frank.groups.add(Group.objects.get_or_create(name=roles.ANALYSTS)[0])
    rows = []
    plan = [
        (alice, "isolateHost", "0f3b2a4c-host-aa01", {"action": 1}, "Beacon from PAYROLL (ALERT-1)", "KUMA-1"),
        (alice, "isolateHost", "0f3b2a4c-host-bb02", {"action": 0}, "Release after cleanup", ""),
        (frank, "deleteFile", "0f3b2a4c-host-aa01", {"path": "C:\\\\x.exe"}, "Scan the payroll server", "KUMA-2"),
        (frank, "isolateHost", "0f3b2a4c-host-cc03", {"action": 1}, "Lateral movement seen", "kuma-3"),
        (alice, "deleteFile", "0f3b2a4c-host-cc03", {"path": "C:\\\\y.exe"}, "Routine after ALERT-9", "KUMA-1"),
    ]
    for number, (user, task, host, params, why, ref) in enumerate(plan):
        rr = file_request(
            user=user,
            task=task,
            target_host=host,
            target_host_name=f"WS-{host[-4:].upper()}",
            params=params,
            justification=why,
            external_ref=ref,
        )
        rows.append(rr)
        # Filed on different days, the last two on the same day an hour apart.
        created = DAY + dt.timedelta(days=min(number, 3), hours=number)
        ResponseRequest.objects.filter(pk=rr.pk).update(created_at=created)
    workflow.approve(rows[0], user=bob)
    workflow.approve(rows[2], user=carol)
    workflow.reject(rows[3], user=carol, comment="Not this host")
    ResponseRequest.objects.filter(pk__in=[rows[0].pk, rows[2].pk]).update(status=Status.SUBMITTED)
    ResponseOutcome.objects.create(request=rows[2], state=OutcomeState.COMPLETED)
    return rows


QUERIES = [
    "status=pending_approval",
    "status=rejected",
    "outcome=waiting",
    "outcome=completed",
    "task=deleteFile",
    "requester=frank",
    "requester=ALICE",
    "approver=carol",
    "approver=Bob",
    "host=aa01",
    "host=ws-cc03",
    "host=0f3b2a4c-host-bb02",
    "external_ref=KUMA-1",
    "since=2026-03-12",
    "until=2026-03-11",
    "since=2026-03-13T12:00:00Z",
    "until=2026-03-13T14:30:00%2B00:00",
    "since=2026-03-11&until=2026-03-12",
    "q=payroll",
    "q=alert kuma-1",
    "task=isolateHost&requester=alice&status=submitted",
]


def web_ids(client, query: str) -> set[str]:
    response = client.get(f"{reverse('responses:all')}?{query}&per_page=100")
    assert response.status_code == 200
    return {str(rr.uuid) for rr in response.context["page"].object_list}


def csv_ids(client, query: str) -> set[str]:
    response = client.get(f"{reverse('responses:export')}?{query}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return {row[0] for row in rows[1:]}


def api_ids(api_client, query: str) -> set[str]:
    response = api_client.get(f"{REQUESTS}?{query}&page_size=200")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("query", QUERIES)
def test_the_list_the_csv_and_the_api_give_the_same_rows(client, login, api, dave, requests_to_filter, query):
    login(client, dave)

    web = web_ids(client, query)

    assert web == csv_ids(client, query) == api_ids(api(dave), query)
    # Each filter narrows: some rows, not all (a filter that is ignored would give all five).
    assert 0 < len(web) < len(requests_to_filter), web


def test_the_filters_mean_what_they_say(client, login, dave, requests_to_filter):
    login(client, dave)
    rows = requests_to_filter
    ids = [str(rr.uuid) for rr in rows]

    assert web_ids(client, "requester=ALICE") == {ids[0], ids[1], ids[4]}  # either case
    assert web_ids(client, "host=aa01") == {ids[0], ids[2]}  # part of the id
    assert web_ids(client, "approver=carol") == {ids[2], ids[3]}  # approved or rejected
    assert web_ids(client, "until=2026-03-11") == {ids[0], ids[1]}  # the day included
    assert web_ids(client, "since=2026-03-13T12:00:00Z") == {ids[3], ids[4]}
    assert web_ids(client, "until=2026-03-13T14:30:00%2B00:00") == {ids[0], ids[1], ids[2]}  # before
    assert web_ids(client, "outcome=waiting") == {ids[0]}  # submitted, no outcome row yet
    assert web_ids(client, "external_ref=KUMA-1") == {ids[0], ids[4]}  # exact: not kuma-3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=nonsense", "status"),
        ("outcome=done", "outcome"),
        ("task=formatDisk", "task"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-03-12&until=2026-03-11", "until"),
        ("requester=a%00b", "requester"),
        ("host=" + "x" * 300, "host"),
    ],
)
def test_bad_filters_give_no_rows_anywhere_and_say_which(client, login, api, dave, requests_to_filter, query, field):
    login(client, dave)

    page = client.get(f"{reverse('responses:all')}?{query}")
    assert page.status_code == 200
    assert list(page.context["page"].object_list) == []  # never a silently wider list
    assert page.context["filters"].errors[field]
    assert client.get(f"{reverse('responses:export')}?{query}").status_code == 400
    response = api(dave).get(f"{REQUESTS}?{query}")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_schema_documents_each_filter(api, dave):
    schema = api(dave).get("/api/v1/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/requests/"]["get"]["parameters"]}

    for name in ("status", "outcome", "task", "requester", "approver", "host", "external_ref", "since", "until", "q"):
        assert name in parameters, name
        assert parameters[name].get("description"), name
    assert "pending_approval" in parameters["status"]["schema"]["enum"]


def test_an_analyst_filters_only_their_own_requests(api, alice, requests_to_filter):
    mine = {str(rr.uuid) for rr in requests_to_filter if rr.requester_id == alice.pk}

    assert api_ids(api(alice), "q=alert") <= mine
    assert api_ids(api(alice), "requester=frank") == set()


def test_today_is_a_whole_day_in_the_portal_time_zone(client, login, dave, alice, settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    rr = file_request(
        user=alice, task="isolateHost", target_host="h-1", params={"action": 1}, justification="late evening"
    )
    # 23:30 in Tokyo on 3 March is 14:30 UTC the same day.
    ResponseRequest.objects.filter(pk=rr.pk).update(created_at=dt.datetime(2026, 3, 3, 14, 30, tzinfo=dt.UTC))
    login(client, dave)
    with timezone.override("Asia/Tokyo"):
        assert web_ids(client, "since=2026-03-03&until=2026-03-03") == {str(rr.uuid)}
        assert web_ids(client, "since=2026-03-04") == set()


def test_saved_links_with_the_web_lists_earlier_date_names_still_filter(client, login, dave, requests_to_filter):
    login(client, dave)

    assert web_ids(client, "created_from=2026-03-12&created_to=2026-03-12") == web_ids(
        client, "since=2026-03-12&until=2026-03-12"
    )
    assert len(web_ids(client, "created_to=2026-03-11")) == 2
