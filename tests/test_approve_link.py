"""The Approve link of e-mails (issue 29, point 4): it opens a page to confirm who you are and approve; it never decides.

From the link in a real e-mail (SMTP server, the real `notify` worker) to the
decision through the ordinary approve URL and its step-up.
"""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from accounts import roles, stepup
from responses.models import Status
from tests.fixtures.accounts import enrol_totp, make_user, totp_code
from tests.fixtures.notifications import file, run_notify_worker


def link_in_mail(smtp_server, address: str) -> str:
    [mail] = smtp_server.to(address)
    match = re.search(r"https://edr\.example\.test(/requests/[0-9a-f-]{36}/approve/confirm/)", mail.get_content())
    assert match, mail.get_content()
    return match.group(1)


def stale(client) -> None:
    session = client.session
    session[stepup.SESSION_KEY] = int(time.time()) - 24 * 3600  # the last proof of identity was yesterday
    session.save()


@pytest.fixture
def waiting(notifying, smtp_server, notify_queue, alice, bob):
    rr = file(alice)
    run_notify_worker(notify_queue)
    return rr


def test_the_link_in_the_mail_opens_a_page_that_changes_nothing(waiting, smtp_server, client, login, bob):
    url = link_in_mail(smtp_server, "bob@example.test")
    assert url == reverse("responses:approve_link", kwargs={"key": waiting.uuid})
    login(client, bob)
    page = client.get(url)
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert f'action="{reverse("responses:approve", kwargs={"key": waiting.uuid})}"' in html
    assert "PAYROLL-01" in html and "KUMA alert 4711" in html
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_APPROVAL and not waiting.approvals.exists(), "a GET decides nothing"


def test_with_a_fresh_proof_one_press_approves(waiting, smtp_server, client, login, bob):
    url = link_in_mail(smtp_server, "bob@example.test")
    login(client, bob)
    html = client.get(url).content.decode()
    assert stepup.CODE_FIELD not in html, "the code typed at sign-in is fresh: no second code"
    response = client.post(reverse("responses:approve", kwargs={"key": waiting.uuid}), {"comment": "from my phone"})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status != Status.PENDING_APPROVAL
    assert waiting.approvals.get().comment == "from my phone"


def test_with_a_stale_proof_the_page_asks_for_the_code_and_the_code_approves(waiting, smtp_server, client, login, bob):
    url = link_in_mail(smtp_server, "bob@example.test")
    login(client, bob)
    stale(client)
    html = client.get(url).content.decode()
    assert f'name="{stepup.CODE_FIELD}"' in html
    code = totp_code(enrol_totp(bob))
    approve = reverse("responses:approve", kwargs={"key": waiting.uuid})
    assert client.post(approve, {"comment": "ok", stepup.CODE_FIELD: code}).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status != Status.PENDING_APPROVAL


def test_with_a_stale_proof_a_wrong_code_approves_nothing(waiting, client, login, bob):
    login(client, bob)
    stale(client)
    approve = reverse("responses:approve", kwargs={"key": waiting.uuid})
    assert client.post(approve, {"comment": "ok", stepup.CODE_FIELD: "000000"}).status_code == 403
    waiting.refresh_from_db()
    assert waiting.status == Status.PENDING_APPROVAL and not waiting.approvals.exists()


def test_the_requester_following_the_link_is_sent_to_the_request_page(notifying, client, login):
    olga = make_user("olga", roles.ANALYSTS, roles.APPROVERS)  # files and approves, never her own
    rr = file(olga)
    login(client, olga)
    response = client.get(reverse("responses:approve_link", kwargs={"key": rr.uuid}), follow=True)
    assert response.redirect_chain[-1][0] == reverse("responses:detail", kwargs={"key": rr.uuid})
    assert "Nobody can approve or reject their own request" in response.content.decode()


def test_an_analyst_following_the_link_learns_why_not(waiting, client, login, alice):
    login(client, alice)
    response = client.get(reverse("responses:approve_link", kwargs={"key": waiting.uuid}), follow=True)
    assert "Only members of Approvers can approve or reject requests." in response.content.decode()


def test_without_a_session_the_link_asks_for_a_login_first(waiting, client):
    url = reverse("responses:approve_link", kwargs={"key": waiting.uuid})
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"] and "next=" in response["Location"]


def test_another_analyst_cannot_even_see_it(waiting, client, login, frank):
    login(client, frank)
    assert client.get(reverse("responses:approve_link", kwargs={"key": waiting.uuid})).status_code == 404
