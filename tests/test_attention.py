"""The "Needs attention" page and its menu count (issue 29, point 2), on requests moved by the real workflow.

A deleteFile submitted by the real worker to the simulator fails on the host
(the real sweep reads KSC's task), another request is rejected, a third still
waits: each person's page shows what is theirs to look at, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from responses import outcomes, workflow
from responses.models import OutcomeState, ResponseRequest, Status
from tests.fixtures.accounts import make_user
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request

REASON = "The file is locked by another process"


def _file(user, simulator, path="C:\\Temp\\evil.exe"):
    host = simulator.hosts()[0]
    return file_request(
        user=user,
        task="deleteFile",
        target_host=host["KLHST_WKS_HOSTNAME"],
        target_host_name=host["KLHST_WKS_DN"],
        params={"path": path},
        justification="Dropper found by KUMA (ALERT-9)",
    )


@pytest.fixture
def story(submission, settings, alice, frank, bob, carol):
    """alice: one request failed on the host (bob approved), one rejected (by carol), one waiting; frank: one rejected."""
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    submission.configure_tasks({"outcome": "fail", "reason": REASON})
    failed = _file(alice, submission)
    workflow.approve(failed, user=bob, comment="go")
    run_worker()
    outcomes.sweep()
    failed.refresh_from_db()
    assert failed.status == Status.SUBMITTED and failed.outcome.state == OutcomeState.FAILED
    rejected = workflow.reject(_file(alice, submission, "C:\\Temp\\b.exe"), user=carol, comment="wrong host")
    waiting = _file(alice, submission, "C:\\Temp\\c.exe")
    franks = workflow.reject(_file(frank, submission, "C:\\Temp\\f.exe"), user=carol, comment="no")
    return {"failed": failed, "rejected": rejected, "waiting": waiting, "franks": franks}


def page(client, login, user, path=None):
    login(client, user)
    response = client.get(path or reverse("responses:attention"))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, heading_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', html, re.S)
    assert match, f"no section {heading_id}"
    return match.group(1)


def links(html: str) -> set[str]:
    return set(re.findall(r"/requests/([0-9a-f-]{36})/", html))


def test_the_analyst_sees_her_failures_and_rejections_not_what_waits_or_others(client, login, story, alice):
    html = page(client, login, alice)
    own = section(html, "h-att-own")
    assert links(own) == {str(story["failed"].uuid), str(story["rejected"].uuid)}
    assert REASON in own, "KSC's reason is on the page"
    assert 'data-outcome="failed"' in own and 'data-status="rejected"' in own
    assert 'id="h-att-waiting"' not in html, "an analyst has no approvals section"
    assert re.search(r'id="attention-count"[^>]*>2<', html), "the menu counts her two"


def test_the_approver_sees_what_waits_for_him_and_what_he_approved_that_failed(client, login, story, bob, carol):
    html = page(client, login, bob)
    assert links(section(html, "h-att-waiting")) == {str(story["waiting"].uuid)}
    assert links(section(html, "h-att-approved")) == {str(story["failed"].uuid)}
    assert re.search(r'id="attention-count"[^>]*>1<', html)
    client.logout()
    # carol rejected two and approved none: nothing went wrong on her account; the waiting one is hers to decide too
    html = page(client, login, carol)
    assert links(section(html, "h-att-approved")) == set()
    assert links(section(html, "h-att-waiting")) == {str(story["waiting"].uuid)}
    assert 'id="attention-count"' not in html


def test_an_approver_never_sees_his_own_request_as_waiting_for_him(submission, client, login, carol):
    olga = make_user("olga", roles.ANALYSTS, roles.APPROVERS)  # files and approves, never her own
    mine = _file(olga, submission)
    assert links(section(page(client, login, olga), "h-att-waiting")) == set()
    client.logout()
    assert links(section(page(client, login, carol), "h-att-waiting")) == {str(mine.uuid)}


def test_the_auditor_gets_saved_filters_that_find_the_failure(client, login, story, dave):
    html = page(client, login, dave)
    saved = section(html, "h-att-audit")
    hrefs = dict((label.strip(), href.replace("&amp;", "&")) for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', saved))
    listing = client.get(hrefs["Failed on the host"]).content.decode()
    assert str(story["failed"].uuid) in listing and str(story["rejected"].uuid) not in listing
    listing = client.get(hrefs["Rejected"]).content.decode()
    assert str(story["rejected"].uuid) in listing and str(story["franks"].uuid) in listing
    assert str(story["failed"].uuid) not in listing


def test_older_than_attention_days_drops_off(client, login, story, alice, settings):
    settings.ATTENTION_DAYS = 3
    old = timezone.now() - dt.timedelta(days=4)
    ResponseRequest.objects.filter(pk=story["rejected"].pk).update(updated_at=old)
    own = section(page(client, login, alice), "h-att-own")
    assert links(own) == {str(story["failed"].uuid)}


def test_the_home_page_leads_with_it(client, login, story, alice):
    html = page(client, login, alice, reverse("responses:home"))
    assert html.index('id="h-attention"') < html.index('id="h-analyst"')
    assert links(section(html, "h-att-own")) == {str(story["failed"].uuid), str(story["rejected"].uuid)}


def test_it_speaks_japanese(client, login, story, alice):
    login(client, alice)
    client.cookies["django_language"] = "ja"
    html = client.get(reverse("responses:attention"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "要対応" in html and "確認が必要な自分の依頼" in html


def test_it_needs_a_login(client, db):
    response = client.get(reverse("responses:attention"))
    assert response.status_code == 302 and "/login" in response["Location"]
