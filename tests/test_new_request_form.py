"""The new-request form has one constructor; where it starts from is a Prefill (issue 25, point 8).

Refusals of the list pages are the policy's Verdict, word for word.
"""

from __future__ import annotations

import inspect

import pytest

from responses import catalog, policy
from responses.forms import NewRequestForm, Prefill, prefill
from tests.fixtures.accounts import sign_in

ISOLATE = catalog.TASKS["isolateHost"]
SCAN = catalog.TASKS["onDemandScan"]
SEALED = {
    "task": "isolateHost",
    "target_host": "h-0105",
    "target_host_name": "TKY-WS-0105",
    "params": {"action": 1},
    "justification": "Beacon (ALERT-7).",
    "external_ref": "SOC-4411",
    "archive_names": {},
}


def test_the_form_has_one_constructor_and_no_other_way_to_start():
    made_elsewhere = [
        name
        for name, member in inspect.getmembers(NewRequestForm)
        if isinstance(inspect.getattr_static(NewRequestForm, name), classmethod | staticmethod)
    ]
    assert made_elsewhere == []
    assert list(inspect.signature(NewRequestForm).parameters) == ["task", "data", "files", "prefill"]


def test_a_sealed_preview_starts_the_form_to_change_it():
    form = NewRequestForm(ISOLATE, prefill=prefill.from_filing(ISOLATE, SEALED))

    assert not form.is_bound
    assert form.common["target_host"].value() == "h-0105"
    assert form.common["external_ref"].value() == "SOC-4411"
    assert form.params["action"].value() == 1


def test_a_sealed_preview_posted_back_validates_to_the_same_filing():
    form = NewRequestForm(ISOLATE, prefill.as_posted(ISOLATE, SEALED), {})

    assert form.is_valid(), form.error_summary
    filed = form.filing.as_dict()
    assert set(filed["end"]) <= {"isolate_hours", "isolate_until", "until_released_reason", "time_zone"}
    assert {key: value for key, value in filed.items() if key != "end"} == {**SEALED, "server": ""}  # "": the user's default server, named at filing


def test_a_posted_scan_carries_its_rows_and_the_management_form():
    sealed = {**SEALED, "task": "onDemandScan", "params": [{"type": 22, "path": "C:\\Temp", "enabled": True, "recursive": False}]}
    data = prefill.as_posted(SCAN, sealed)

    assert data["scan-TOTAL_FORMS"] == str(catalog.MAX_SCAN_OBJECTS)
    form = NewRequestForm(SCAN, data, {})
    assert form.is_valid(), form.error_summary
    assert form.filing.params == catalog.clean_params("onDemandScan", sealed["params"])


def test_a_link_fills_only_what_it_may_and_never_an_archive():
    query = {
        "target_host": "h-1",
        "sealed": "not a field",
        "params-action": "0",
        "requester": "mallory",
    }
    start = prefill.from_query(ISOLATE, query)

    assert start == Prefill({"target_host": "h-1"}, {"action": "0"})
    ioc = catalog.TASKS["iocScan"]
    carried = {"params-ioc__carried": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==", "params-ioc__carried_name": "a.zip"}
    assert prefill.from_query(ioc, carried).params is None  # a link carries no archive
    assert prefill.from_query(ioc, carried, carried=True).params["ioc__carried_name"] == "a.zip"


def test_a_kept_scan_draft_keeps_its_rows_in_order_and_drops_the_empty_tail():
    data = {"target_host": "h-1", "scan-0-path": "C:\\A", "scan-1-path": "C:\\B", "scan-2-path": ""}
    start = prefill.from_draft(SCAN, data)

    assert start.common == {"target_host": "h-1"}
    assert start.params == [{"path": "C:\\A"}, {"path": "C:\\B"}]


@pytest.mark.parametrize(
    ("user", "url", "page"),
    [
        ("alice", "/requests/", policy.ALL_REQUESTS_PAGE),
        ("alice", "/approvals/", policy.APPROVAL_QUEUE_PAGE),
        ("alice", "/requests/export.csv", policy.EXPORT_PAGE),
        ("mallory", "/hosts/primary/h-1/", policy.HOST_PAGE),
    ],
)
def test_a_refused_page_shows_the_policys_reason(request, client, user, url, page):
    person = request.getfixturevalue(user)
    verdict = policy.may_open(person, page)
    assert not verdict and verdict.reason
    sign_in(client, person)

    response = client.get(url)

    assert response.status_code == 403
    assert verdict.reason in response.content.decode()


def test_who_may_open_the_list_pages_is_allowed(dave, alice):
    for page in (policy.ALL_REQUESTS_PAGE, policy.APPROVAL_QUEUE_PAGE, policy.EXPORT_PAGE, policy.HOST_PAGE):
        assert policy.may_open(dave, page)
    assert policy.may_open(alice, policy.HOST_PAGE)
