"""Comment without deciding (issue 29, point 5): an approver asks, the requester is told and answers on the page.

Through the pages (CSRF on, the 2FA gate passed by a real login), the keyed
trail, and the real `notify` worker delivering to an SMTP server.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit import chain as audit_chain
from responses import workflow
from responses.models import EventKind, ResponseRequest, Status
from tests.fixtures.notifications import file, run_notify_worker

QUESTION = "Is PAYROLL-01 the host that beacons, or its replica PAYROLL-02?"
ANSWER = "PAYROLL-01: the KUMA alert names its MAC address."


def comment_url(rr):
    return reverse("responses:comment", kwargs={"key": rr.uuid})


def thread(rr):
    return list(rr.events.filter(kind=EventKind.COMMENT).order_by("seq").values_list("actor_username", "message"))


@pytest.fixture
def pending(notifying, alice):
    return file(alice)


def test_an_approver_asks_the_requester_answers_and_each_side_is_told(
    pending, client, login, alice, bob, carol, smtp_server, notify_queue
):
    run_notify_worker(notify_queue)
    smtp_server.mails.clear()

    login(client, bob)
    response = client.post(comment_url(pending), {"comment": f"  {QUESTION}  "})
    assert response.status_code == 302 and response["Location"].endswith("#questions")
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL and not pending.approvals.exists(), "asking decides nothing"
    assert thread(pending) == [("bob", QUESTION)]
    run_notify_worker(notify_queue)
    [mail] = smtp_server.mails
    assert mail["To"] == "alice@example.test" and QUESTION in mail.get_content()
    smtp_server.mails.clear()

    client.logout()
    login(client, alice)
    page = client.get(reverse("responses:detail", kwargs={"key": pending.uuid})).content.decode()
    assert QUESTION in page and 'id="thread-comment"' in page and "Your answer" in page
    assert client.post(comment_url(pending), {"comment": ANSWER}).status_code == 302
    assert thread(pending) == [("bob", QUESTION), ("alice", ANSWER)]
    run_notify_worker(notify_queue)
    # bob asked: he hears the answer; carol, another approver who did not ask, does not
    assert [mail["To"] for mail in smtp_server.mails] == ["bob@example.test"]
    assert ANSWER in smtp_server.mails[0].get_content()

    # the thread is in the keyed trail, which still verifies
    report = audit_chain.verify()
    assert not report.problems, report.problems
    # and bob may still decide it: a question is not a decision
    workflow.approve(pending, user=carol, comment="ok after the answer")
    assert ResponseRequest.objects.get(pk=pending.pk).status in (Status.APPROVED, Status.QUEUED)


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "Write the question or the answer."), ("x" * 2001, "longer than 2000"), ("a\x00b", "control characters")],
    ids=["blank", "too-long", "control"],
)
def test_a_bad_comment_is_refused_on_the_page_and_changes_nothing(pending, client, login, bob, text, message):
    login(client, bob)
    before = pending.events.count()
    response = client.post(comment_url(pending), {"comment": text})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'aria-invalid="true"' in html
    assert pending.events.count() == before


def test_who_may_write_in_the_thread(pending, client, login, dave, frank, bob):
    # dave audits (reads everything, writes nothing); frank is another analyst (cannot even see it)
    login(client, dave)
    assert client.post(comment_url(pending), {"comment": "auditor here"}).status_code == 403
    client.logout()
    login(client, frank)
    assert client.post(comment_url(pending), {"comment": "me too"}).status_code == 404
    assert thread(pending) == []
    # once decided, the thread is closed
    client.logout()
    workflow.reject(pending, user=bob, comment="wrong host")
    login(client, bob)
    response = client.post(comment_url(pending), {"comment": "one more thing"})
    assert response.status_code == 409 and "pending approval" in response.content.decode()
    assert thread(pending) == []


def test_csrf_protects_the_thread(pending, login, bob):
    client = Client(enforce_csrf_checks=True)
    login(client, bob)
    assert client.post(comment_url(pending), {"comment": QUESTION}).status_code == 403
    assert thread(pending) == []


def test_a_get_is_refused(pending, client, login, bob):
    login(client, bob)
    assert client.get(comment_url(pending)).status_code == 405
