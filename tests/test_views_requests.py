"""A request's page and its actions, the approval queue, the lists and the CSV export."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from responses import workflow
from responses.models import EventKind, ResponseRequest, Status
from tests.support.pages import HOST, file, page, read_csv, set_status

# --- The request's page ---------------------------------------------------------------------


def test_it_shows_the_request_its_status_and_its_timeline(client, login, alice):
    rr = file(alice, external_ref="INC-42")
    login(client, alice)

    response = client.get(f"/requests/{rr.uuid}/")

    assert response.status_code == 200
    html = page(response)
    assert "Isolate the host from the network" in html
    assert 'data-status="pending_approval">Pending approval</span>' in html
    assert "TKY-WS-0142" in html and HOST in html and "INC-42" in html
    assert "Beaconing to a known C2 address" in html
    assert '<li class="event event-filed">' in html
    assert 'http-equiv="refresh"' not in html  # nothing moves while it waits for a person


def test_it_refreshes_itself_while_the_request_is_in_flight(client, login, alice):
    rr = set_status(file(alice), Status.QUEUED)
    login(client, alice)

    html = page(client.get(f"/requests/{rr.uuid}/"))

    assert '<meta http-equiv="refresh" content="5">' in html


def test_it_shows_the_ksc_incident_id_and_the_attempts_once_submitted(client, login, alice):
    from responses.models import AttemptOutcome, SubmissionAttempt

    rr = set_status(file(alice), Status.SUBMITTED, ksc_incident_id=4242, submitted_at=timezone.now(), attempts=1)
    SubmissionAttempt.objects.create(
        request=rr, number=1, started_at=timezone.now(), outcome=AttemptOutcome.SUBMITTED, ksc_incident_id=4242
    )
    login(client, alice)

    html = page(client.get(f"/requests/{rr.uuid}/"))

    assert '<dd id="ksc-incident"><strong>4242</strong></dd>' in html
    assert 'data-status="submitted">Submitted</span>' in html
    # No longer on its way to KSC; the page now follows the outcome on the host instead.
    assert '<meta http-equiv="refresh" content="5">' not in html
    assert '<meta http-equiv="refresh" content="15">' in html


def test_it_lets_the_requester_cancel_while_pending(client, login, alice):
    rr = file(alice)
    login(client, alice)
    assert f'action="/requests/{rr.uuid}/cancel/"' in page(client.get(f"/requests/{rr.uuid}/"))

    response = client.post(f"/requests/{rr.uuid}/cancel/", {"comment": "Wrong host"})

    assert response.status_code == 302 and response["Location"] == f"/requests/{rr.uuid}/"
    rr.refresh_from_db()
    assert rr.status == Status.CANCELLED
    assert rr.events.last().message == "Wrong host"


def test_it_offers_no_cancel_once_decided(client, login, alice, bob):
    rr = file(alice)
    workflow.approve(rr, user=bob)
    login(client, alice)

    html = page(client.get(f"/requests/{rr.uuid}/"))
    response = client.post(f"/requests/{rr.uuid}/cancel/")

    assert "/cancel/" not in html
    assert response.status_code == 409
    assert "only requests pending approval can be cancelled" in page(response)


def test_an_approver_approves_with_a_comment(client, login, alice, bob, ksc_queue, django_capture_on_commit_callbacks):
    rr = file(alice)
    login(client, bob)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/requests/{rr.uuid}/approve/", {"comment": "Confirmed with the SOC lead"})

    assert response.status_code == 302
    rr.refresh_from_db()
    assert rr.status == Status.QUEUED
    assert rr.approvals.get().comment == "Confirmed with the SOC lead"
    assert ksc_queue.job_ids == [str(rr.uuid)]


def test_a_rejection_needs_a_comment_shown_next_to_the_field(client, login, alice, bob):
    rr = file(alice)
    login(client, bob)

    response = client.post(f"/requests/{rr.uuid}/reject/", {"comment": "  "})

    assert response.status_code == 400
    html = page(response)
    assert f'aria-describedby="comment-reject-{rr.uuid}-error"' in html
    assert "“Comment” is required." in html  # the label, not the internal name
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL


def test_the_requester_reads_why_a_request_was_rejected(client, login, alice, bob):
    rr = file(alice)
    login(client, bob)
    client.post(f"/requests/{rr.uuid}/reject/", {"comment": "Host belongs to the CFO; call first"})
    login(client, alice)

    html = page(client.get(f"/requests/{rr.uuid}/"))

    assert 'data-status="rejected">Rejected</span>' in html
    assert "Host belongs to the CFO; call first" in html


def test_a_second_approval_of_a_decided_request_is_a_conflict(client, login, alice, bob, carol):
    rr = file(alice)
    workflow.reject(rr, user=carol, comment="no")
    login(client, bob)

    response = client.post(f"/requests/{rr.uuid}/approve/")

    assert response.status_code == 409
    assert "only requests pending approval can be approved or rejected" in page(response)
    assert rr.approvals.count() == 1


def test_an_approver_retries_a_failed_request(client, login, alice, bob, carol, ksc_queue, django_capture_on_commit_callbacks):
    rr = file(alice)
    workflow.approve(rr, user=bob)
    set_status(rr, Status.FAILED, last_error="KSC refused HostGroup.AddIncident: error 1183")
    login(client, carol)
    assert "/retry/" in page(client.get(f"/requests/{rr.uuid}/"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/requests/{rr.uuid}/retry/", {"comment": "KSC is back"})

    assert response.status_code == 302
    rr.refresh_from_db()
    assert rr.status == Status.QUEUED
    assert rr.events.filter(kind=EventKind.RETRIED, actor_username="carol").exists()


def test_after_an_action_it_returns_to_a_local_page_only(client, login, alice, bob):
    first, second = file(alice), file(alice)
    login(client, bob)

    local = client.post(f"/requests/{first.uuid}/approve/", {"next": "/approvals/"})
    foreign = client.post(f"/requests/{second.uuid}/approve/", {"next": "https://evil.example/"})

    assert local["Location"] == "/approvals/"
    assert foreign["Location"] == f"/requests/{second.uuid}/"


def test_a_submitted_isolation_offers_to_release_it_with_the_same_host(client, login, alice, bob):
    rr = set_status(file(alice, external_ref="INC-9"), Status.SUBMITTED, ksc_incident_id=7)
    login(client, alice)

    html = page(client.get(f"/requests/{rr.uuid}/"))

    assert 'id="release-isolation"' in html
    href = html[html.index('href="/requests/new/?', html.index("Actions")) :].split('"')[1].replace("&amp;", "&")
    query = parse_qs(urlsplit(href).query)
    assert query == {
        "task": ["isolateHost"],
        "target_host": [HOST],
        "target_host_name": ["TKY-WS-0142"],
        "params-action": ["0"],
        "external_ref": ["INC-9"],
    }
    # The link opens the new-request form prefilled with the opposite action; filing it needs approval again.
    form = page(client.get(href))
    assert re.search(r'<input type="radio" name="params-action" value="0"[^>]* checked', form) and f'value="{HOST}"' in form


def test_release_is_not_offered_for_a_release_or_an_unsent_isolation(client, login, alice):
    release = set_status(file(alice, params={"action": 0}), Status.SUBMITTED, ksc_incident_id=8)
    pending = file(alice)
    login(client, alice)

    assert "release-isolation" not in page(client.get(f"/requests/{release.uuid}/"))
    assert "release-isolation" not in page(client.get(f"/requests/{pending.uuid}/"))


# --- The approval queue --------------------------------------------------------------------


def test_the_queue_lists_pending_requests_oldest_first_with_what_an_approver_needs(client, login, alice, frank, bob):
    older = file(alice, justification="First")
    newer = file(frank, task="deleteFile", params={"path": r"C:\evil.exe"}, justification="Second")
    file(alice, task="getFile", params={"path": r"C:\x"})  # needs no approval: never in the queue
    ResponseRequest.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(hours=3))
    login(client, bob)

    response = client.get("/approvals/")

    assert [entry["rr"].uuid for entry in response.context["entries"]] == [older.uuid, newer.uuid]
    html = page(response)
    assert "Isolate the host from the network" in html and r"Delete the file C:\evil.exe" in html
    assert "Changes the endpoint" in html
    assert "alice" in html and "frank" in html
    assert "3\xa0hours" in html  # how long it has waited
    # One form per request; nothing approves several at once.
    assert html.count('<form method="post" action="/requests/') == 2
    assert 'type="checkbox"' not in html


def test_the_queue_leaves_out_requests_past_their_approval_window(client, login, alice, bob):
    rr = file(alice)
    ResponseRequest.objects.filter(pk=rr.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    login(client, bob)

    assert list(client.get("/approvals/").context["entries"]) == []


def test_the_queue_offers_no_decision_on_your_own_request(client, login, bob):
    from django.contrib.auth.models import Group

    from accounts import roles

    bob.groups.add(Group.objects.get(name=roles.ANALYSTS))
    rr = file(bob)
    login(client, bob)

    html = page(client.get("/approvals/"))

    assert f"/requests/{rr.uuid}/approve/" not in html
    assert "Nobody can approve or reject their own request" in html


def test_an_auditor_sees_the_queue_without_any_button(client, login, alice, dave):
    file(alice)
    login(client, dave)

    html = page(client.get("/approvals/"))

    assert "Isolate the host from the network" in html
    assert '<form method="post" action="/requests/' not in html


def test_approvers_are_warned_when_kes_may_hold_too_many_tasks_for_the_host(client, login, settings, alice, bob):
    settings.HOST_TASKS_WARNING = 3
    for _ in range(3):
        set_status(file(alice, task="getFile", params={"path": r"C:\x"}), Status.SUBMITTED, submitted_at=timezone.now())
    busy = file(alice)
    quiet = file(alice, target_host="another-host")
    login(client, bob)

    queue = page(client.get("/approvals/"))
    detail = page(client.get(f"/requests/{busy.uuid}/"))

    warning = "KES may already hold 3 response tasks for this host"
    assert queue.count(warning) == 1  # the busy host's entry only
    assert warning in detail
    assert "KES may already hold" not in page(client.get(f"/requests/{quiet.uuid}/"))


# --- Lists, filters and the CSV export -----------------------------------------------------


def test_my_requests_lists_only_mine(client, login, alice, frank):
    mine = file(alice)
    theirs = file(frank)
    login(client, alice)

    response = client.get("/requests/mine/")

    assert [rr.uuid for rr in response.context["page"]] == [mine.uuid]
    assert str(theirs.uuid) not in page(response)


def test_my_requests_filters_by_status(client, login, alice):
    pending = file(alice)
    cancelled = workflow.cancel(file(alice), user=alice)
    login(client, alice)

    response = client.get("/requests/mine/", {"status": "cancelled"})

    assert [rr.uuid for rr in response.context["page"]] == [cancelled.uuid]
    assert pending.uuid not in [rr.uuid for rr in response.context["page"]]


@pytest.fixture
def history(alice, frank, bob, carol):
    """Four requests: approved by bob, rejected by carol, pending, and a scan that needed nobody."""
    approved = workflow.approve(file(alice, justification="Ransomware note found"), user=bob)
    rejected = workflow.reject(
        file(frank, target_host="host-b", target_host_name="OSK-SRV-01", justification="Lateral movement"),
        user=carol,
        comment="no",
    )
    pending = file(frank, task="deleteFile", params={"path": r"C:\a.exe"}, justification="Dropper")
    scan = file(alice, task="getFile", params={"path": r"C:\b"}, justification="Sample for the sandbox")
    ResponseRequest.objects.filter(pk=approved.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    return {"approved": approved, "rejected": rejected, "pending": pending, "scan": scan}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"approved", "rejected", "pending", "scan"}),
        ({"status": "rejected"}, {"rejected"}),
        ({"task": "deleteFile"}, {"pending"}),
        ({"requester": "FRANK"}, {"rejected", "pending"}),
        ({"approver": "bob"}, {"approved"}),
        ({"approver": "carol"}, {"rejected"}),
        ({"host": "osk-srv"}, {"rejected"}),
        ({"q": "ransomware"}, {"approved"}),
        ({"q": "OSK-SRV lateral"}, {"rejected"}),
        ({"created_to": (timezone.localdate() - dt.timedelta(days=5)).isoformat()}, {"approved"}),
        ({"created_from": timezone.localdate().isoformat()}, {"rejected", "pending", "scan"}),
    ],
)
def test_all_requests_filters(client, login, dave, history, query, expected):
    login(client, dave)

    response = client.get("/requests/", query)

    assert response.status_code == 200
    assert {rr.uuid for rr in response.context["page"]} == {history[name].uuid for name in expected}


def test_an_invalid_filter_shows_its_error_and_no_rows(client, login, dave, history):
    login(client, dave)

    response = client.get("/requests/", {"created_from": "2030-01-02", "created_to": "2030-01-01"})

    assert list(response.context["page"]) == []
    assert "until must be later than since." in page(response)


def test_the_csv_export_holds_the_filtered_list(client, login, dave, history):
    login(client, dave)
    export_link = page(client.get("/requests/", {"requester": "frank", "per_page": "25"}))
    assert 'href="/requests/export.csv?requester=frank"' in export_link

    rows = read_csv(client.get("/requests/export.csv", {"requester": "frank"}))

    assert {row["uuid"] for row in rows} == {str(history["rejected"].uuid), str(history["pending"].uuid)}
    rejected = next(row for row in rows if row["uuid"] == str(history["rejected"].uuid))
    assert rejected["decisions"] == "carol:reject"
    # The status in words, its code in its own column (issue 17, point 7).
    assert (rejected["status"], rejected["status_code"]) == ("Rejected", "rejected")
    assert rejected["target_host_name"] == "OSK-SRV-01"


def test_the_csv_export_defuses_spreadsheet_formulas(client, login, alice, dave):
    file(alice, justification='=HYPERLINK("https://evil.example")')
    login(client, dave)

    rows = read_csv(client.get("/requests/export.csv"))

    assert rows[0]["justification"] == '\'=HYPERLINK("https://evil.example")'


@pytest.mark.parametrize("sign", ["\uff1d", "\uff0b", "\uff0d", "\uff20"])
def test_the_csv_export_defuses_full_width_formula_signs(client, login, alice, dave, sign):
    # Informational finding of issue 23: ＝ ＋ － ＠ start a formula in East Asian spreadsheets.
    file(alice, justification=f'{sign}HYPERLINK("https://evil.example")')
    login(client, dave)

    rows = read_csv(client.get("/requests/export.csv"))

    assert rows[0]["justification"] == f'\'{sign}HYPERLINK("https://evil.example")'


def test_the_lists_paginate(client, login, alice):
    for _ in range(30):
        file(alice)
    login(client, alice)

    first = client.get("/requests/mine/", {"per_page": "25"})
    second = client.get("/requests/mine/", {"per_page": "25", "page": "2"})

    assert len(first.context["page"]) == 25 and len(second.context["page"]) == 5
    assert 'href="?per_page=25&amp;page=2"' in page(first)
