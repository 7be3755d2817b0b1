"""Who may open which page and press which button: every persona × every URL × every method.

The views ask responses.workflow (permission, visible_requests, get_for_user); this matrix
proves the pages agree with it: analysts cannot approve, nobody approves their own
request, auditors change nothing, an analyst sees only their own requests unless they
are an approver or auditor, anonymous users are sent to log in, and a refused action
changes nothing. Every POST also needs a CSRF token.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from accounts import roles
from responses import workflow
from responses.models import RequestEvent, ResponseRequest, Status
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
PERSONAS = ("anonymous", "alice", "frank", "bob", "dave", "root", "mallory")
LOGIN = "login"  # a redirect to the login page
OK, DONE, FORBIDDEN, HIDDEN, NOT_ALLOWED = 200, 302, 403, 404, 405

PREVIEW = {"task": "isolateHost", "target_host": HOST, "params-action": "1", "justification": "why"}

# (method, url, data): the request's uuid is filled in as {uuid}. alice filed the request;
# it is pending approval, except for "retry", which needs a FAILED request.
#              anonymous alice      frank      bob        dave       root       mallory
MATRIX = [
    ("GET", "/", None, (LOGIN, OK, OK, OK, OK, OK, OK)),
    ("GET", "/requests/new/", None, (LOGIN, OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("GET", "/requests/new/?task=isolateHost", None, (LOGIN, OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("POST", "/requests/new/", PREVIEW, (LOGIN, OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("GET", "/hosts/search", None, (LOGIN, OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("GET", "/requests/mine/", None, (LOGIN, OK, OK, OK, OK, OK, OK)),
    ("GET", "/requests/", None, (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK, FORBIDDEN)),
    ("GET", "/requests/export.csv", None, (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK, FORBIDDEN)),
    ("GET", "/approvals/", None, (LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK, FORBIDDEN)),
    ("GET", "/requests/{uuid}/", None, (LOGIN, OK, HIDDEN, OK, OK, OK, HIDDEN)),
    (
        "POST",
        "/requests/{uuid}/approve/",
        {"comment": "ok"},
        (LOGIN, FORBIDDEN, HIDDEN, DONE, FORBIDDEN, FORBIDDEN, HIDDEN),
    ),
    (
        "POST",
        "/requests/{uuid}/reject/",
        {"comment": "no"},
        (LOGIN, FORBIDDEN, HIDDEN, DONE, FORBIDDEN, FORBIDDEN, HIDDEN),
    ),
    ("POST", "/requests/{uuid}/cancel/", {}, (LOGIN, DONE, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, HIDDEN)),
    ("POST", "/requests/{uuid}/retry/", {}, (LOGIN, FORBIDDEN, HIDDEN, DONE, FORBIDDEN, FORBIDDEN, HIDDEN)),
    # GET never acts; pages are not POST targets.
    ("GET", "/requests/{uuid}/approve/", None, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("GET", "/requests/{uuid}/reject/", None, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("GET", "/requests/{uuid}/cancel/", None, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("GET", "/requests/{uuid}/retry/", None, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/requests/mine/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/requests/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/requests/{uuid}/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/approvals/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/hosts/search", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("POST", "/requests/export.csv", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("PUT", "/requests/new/", {}, (LOGIN, *[NOT_ALLOWED] * 6)),
    ("DELETE", "/requests/{uuid}/", None, (LOGIN, *[NOT_ALLOWED] * 6)),
]

CASES = [
    pytest.param(method, url, data, persona, expected, id=f"{persona}-{method}-{url}")
    for method, url, data, row in MATRIX
    for persona, expected in zip(PERSONAS, row, strict=True)
]


def snapshot() -> list[tuple]:
    """Everything an action could change: each request's status and decisions, and the trail."""
    return [
        (rr.uuid, rr.status, rr.approvals.count(), rr.events.count()) for rr in ResponseRequest.objects.order_by("id")
    ] + [("events", RequestEvent.objects.count())]


@pytest.fixture
def everyone(alice, frank, bob, carol, dave, root, mallory):
    return {"alice": alice, "frank": frank, "bob": bob, "carol": carol, "dave": dave, "root": root, "mallory": mallory}


def filed_request(alice, carol, *, failed: bool) -> ResponseRequest:
    rr = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    if failed:
        workflow.approve(rr, user=carol)
        ResponseRequest.objects.filter(pk=rr.pk).update(status=Status.FAILED, last_error="KSC was down")
    return rr


@pytest.mark.parametrize(("method", "url", "data", "persona", "expected"), CASES)
def test_the_authorization_matrix(client, login, everyone, method, url, data, persona, expected):
    rr = filed_request(everyone["alice"], everyone["carol"], failed=url.endswith("/retry/"))
    if persona != "anonymous":
        login(client, everyone[persona])
    before = snapshot()

    response = client.generic(method, url.format(uuid=rr.uuid), **_body(data))

    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    else:
        assert response.status_code == expected, response.content.decode()[:500]
    if expected != DONE:
        # A refusal, a page or a preview: nothing changed.
        assert snapshot() == before
    if (method, expected) == ("POST", DONE):
        assert snapshot() != before


def _body(data: dict | None) -> dict:
    """The keyword arguments of Client.generic: a form body, as a browser posts it."""
    if data is None:
        return {}
    return {"data": encode_multipart(BOUNDARY, data), "content_type": MULTIPART_CONTENT}


@pytest.fixture
def erin(db):
    """An analyst who is also an approver: the two-person rule still binds her."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("erin", "erin@example.test", "erin-password-1234")
    user.groups.add(Group.objects.get(name=roles.ANALYSTS), Group.objects.get(name=roles.APPROVERS))
    return user


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_nobody_approves_or_rejects_their_own_request(client, login, erin, action):
    rr = file_request(
        user=erin, task="isolateHost", target_host=HOST, params={"action": 1}, justification="mine"
    )
    login(client, erin)
    before = snapshot()

    response = client.post(f"/requests/{rr.uuid}/{action}/", {"comment": "looks fine to me"})

    assert response.status_code == 403
    assert "Nobody can approve or reject their own request" in response.content.decode()
    assert snapshot() == before


def test_nobody_retries_their_own_failed_request(client, login, erin, carol):
    rr = file_request(
        user=erin, task="isolateHost", target_host=HOST, params={"action": 1}, justification="mine"
    )
    workflow.approve(rr, user=carol)
    ResponseRequest.objects.filter(pk=rr.pk).update(status=Status.FAILED)
    login(client, erin)
    before = snapshot()

    assert client.post(f"/requests/{rr.uuid}/retry/").status_code == 403
    assert snapshot() == before


def test_an_analyst_who_approves_sees_every_request(client, login, alice, erin):
    rr = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    login(client, erin)

    assert client.get(f"/requests/{rr.uuid}/").status_code == 200


def test_a_disabled_account_is_sent_to_log_in(client, login, alice):
    rr = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    login(client, alice)
    alice.is_active = False
    alice.save()

    response = client.get(f"/requests/{rr.uuid}/")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


POSTS = [
    ("/requests/new/", PREVIEW, "alice"),
    ("/requests/{uuid}/approve/", {"comment": "ok"}, "bob"),
    ("/requests/{uuid}/reject/", {"comment": "no"}, "bob"),
    ("/requests/{uuid}/cancel/", {}, "alice"),
    ("/requests/{uuid}/retry/", {}, "bob"),
    ("/i18n/setlang/", {"language": "ja"}, "alice"),
    ("/accounts/logout/", {}, "alice"),
]


@pytest.mark.parametrize(("url", "data", "persona"), POSTS, ids=[url for url, _data, _persona in POSTS])
def test_every_post_needs_a_csrf_token(everyone, url, data, persona, login):
    rr = filed_request(everyone["alice"], everyone["carol"], failed=url.endswith("/retry/"))
    browser = Client(enforce_csrf_checks=True)
    login(browser, everyone[persona])
    before = snapshot()

    response = browser.post(url.format(uuid=rr.uuid), data)

    assert response.status_code == 403
    assert "CSRF" in response.content.decode()
    assert snapshot() == before
    assert "_auth_user_id" in browser.session  # not even logged out


def test_a_post_with_the_pages_csrf_token_goes_through(alice, bob, login):
    rr = file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )
    browser = Client(enforce_csrf_checks=True)
    login(browser, bob)
    page = browser.get(f"/requests/{rr.uuid}/")
    token = page.context["csrf_token"]

    response = browser.post(f"/requests/{rr.uuid}/reject/", {"comment": "no", "csrfmiddlewaretoken": str(token)})

    assert response.status_code == 302
    rr.refresh_from_db()
    assert rr.status == Status.REJECTED
