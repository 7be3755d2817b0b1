"""Escalation when nobody approves (issue 29, point 3): tier 2 and on-call after the SLA, managers after twice it.

Real pieces: the notifications sweep (escalate_overdue), the keyed trail, the
`notify` worker, an SMTP server and an HTTP server playing the on-call service
(Apprise's JSON). Time is moved by handing the sweep a later ``now``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts import roles
from notifications import jobs
from responses import workflow
from responses.models import EventKind, Status
from tests.fixtures.accounts import make_user
from tests.fixtures.notifications import file, run_notify_worker
from tests.support.subprocesses import settings_in_subprocess

LEADS = "SOC-Leads"


@pytest.fixture
def escalating(notifying, webhook, settings):
    settings.APPROVAL_SLA = 3600
    settings.APPROVAL_SLA_BY_TASK = {"isolateHost": 900}  # APPROVAL_SLA_ISOLATEHOST=900
    settings.ESCALATE_TO = LEADS
    settings.ESCALATE_URLS = [webhook.url("oncall")]
    settings.SLA_BREACH_TO = ["mgr"]
    return settings


@pytest.fixture
def erin(db):
    user = make_user("erin", roles.APPROVERS)
    user.groups.add(Group.objects.get_or_create(name=LEADS)[0])
    return user


@pytest.fixture
def mgr(db):
    return make_user("mgr", roles.AUDITORS)


def later(rr, minutes):
    return rr.created_at + dt.timedelta(minutes=minutes)


def ladder(rr):
    return [e.detail["tier"] for e in rr.events.filter(kind=EventKind.ESCALATED).order_by("seq")]


def test_an_unapproved_isolation_goes_to_tier_two_and_on_call_then_managers(
    escalating, smtp_server, webhook, notify_queue, alice, bob, erin, mgr, client, login
):
    rr = file(alice)  # isolateHost: SLA 15 min
    run_notify_worker(notify_queue)
    smtp_server.mails.clear(), webhook.posts.clear()

    assert jobs.sweep(now=later(rr, 14))["escalated"] == 0
    assert ladder(rr) == []

    assert jobs.sweep(now=later(rr, 16))["escalated"] == 1
    run_notify_worker(notify_queue)
    assert ladder(rr) == [2]
    # tier 2: erin (SOC-Leads, may decide) by e-mail, not bob (an approver outside the tier), not the manager yet
    escalated = [m for m in smtp_server.mails if "Escalated" in m["Subject"]]
    assert [m["To"] for m in escalated] == ["erin@example.test"]
    oncall = [p for p in webhook.posts if "Escalated" in p["title"]]
    assert len(oncall) == 1 and oncall[0]["type"] == "warning" and "PAYROLL-01" in oncall[0]["title"]

    # a second sweep at the same time does nothing again, even after Redis lost every job
    notify_queue.connection.flushdb()
    assert jobs.sweep(now=later(rr, 20))["escalated"] == 0

    smtp_server.mails.clear()
    assert jobs.sweep(now=later(rr, 31))["escalated"] == 1
    run_notify_worker(notify_queue)
    assert ladder(rr) == [2, 3]
    assert [m["To"] for m in smtp_server.mails if "SLA breached" in m["Subject"]] == ["mgr@example.test"]

    # the request page shows the ladder; expiry and the decision are unchanged
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL
    login(client, bob)
    page = client.get(reverse("responses:detail", kwargs={"key": rr.uuid})).content.decode()
    assert 'id="escalation-ladder"' in page and "Escalated at" in page and "SLA breached at" in page
    workflow.approve(rr, user=erin, comment="on it")
    rr.refresh_from_db()
    assert rr.status != Status.PENDING_APPROVAL


def test_the_requester_is_never_told_to_approve_her_own_request_at_any_tier(
    escalating, smtp_server, notify_queue, erin
):
    erin.groups.add(Group.objects.get_or_create(name=roles.ANALYSTS)[0])  # she files and is in tier 2
    rr = file(erin)
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()
    jobs.sweep(now=later(rr, 16))
    run_notify_worker(notify_queue)
    assert ladder(rr) == [2]
    assert not [m for m in smtp_server.mails if "Escalated" in m["Subject"]], "no self-approval at tier 2"


def test_a_decided_request_is_not_escalated_and_other_tasks_keep_the_default_sla(
    escalating, notify_queue, alice, bob
):
    decided = file(alice)
    workflow.reject(decided, user=bob, comment="wrong host")
    scan = file(alice, task="deleteFile", params={"path": "C:\\evil.exe"})  # default SLA: 60 min
    jobs.sweep(now=later(scan, 59))
    assert ladder(decided) == [] and ladder(scan) == []
    jobs.sweep(now=later(scan, 61))
    assert ladder(scan) == [2]


def test_without_escalation_configured_nothing_is_escalated(notifying, notify_queue, alice):
    rr = file(alice)
    assert jobs.sweep(now=rr.created_at + dt.timedelta(days=1))["escalated"] == 0
    assert ladder(rr) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"APPROVAL_SLA_NOSUCHTASK": "600"}, "APPROVAL_SLA_NOSUCHTASK: no such task type"),
        ({"APPROVAL_SLA_ISOLATEHOST": "10"}, "APPROVAL_SLA_ISOLATEHOST"),
        ({"ESCALATE_URLS": "notascheme://x"}, "ESCALATE_URLS: entry 1"),
    ],
    ids=["unknown-task", "too-short", "bad-url"],
)
def test_bad_escalation_settings_stop_the_start_with_a_clear_message(env, message):
    result = settings_in_subprocess({"SECRET_KEY": "k" * 50, "AUDIT_CHAIN_KEY": "a" * 50, **env})
    assert result.returncode != 0 and message in result.stderr, result.stderr[-800:]
