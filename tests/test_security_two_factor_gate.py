"""The two-factor gate holds every page against a session that gave only the password (issue 12, point 1).

The attack: log in with the password alone, then send ``Authorization: Token <anything>``
with each request. The gate used to step aside for any such header, and the session
views then served an approver who had typed no code (approvals reached KSC), an
approver who had never enrolled, and a superuser in the admin among everyone's TOTP
devices. Now the gate never reads the header: only the token-only API, which ignores
the session, is outside it.

Every URL pattern of the portal is walked (new pages are covered without editing this
file), for each persona, with and without such a header, through the real login form
(not the ``login`` fixture, which stands for password and code elsewhere in the suite).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts import stepup, twofactor
from accounts.tokens import issue_token
from responses.models import ResponseRequest, Status
from tests.fixtures.accounts import enrol_totp, totp_code
from tests.support.filing import file_request
from tests.support.gate import HOST, JUNK_TOKEN, LOGIN, OPEN, SETUP, VERIFY, every_path


def log_in_with_the_password(client, user: User) -> None:
    response = client.post(LOGIN, {"username": user.get_username(), "password": f"{user.get_username()}-password-1234"})
    assert response.status_code == 302, response.content.decode()[:300]


@pytest.fixture
def personas(alice, bob, carol, dave, root) -> dict[str, tuple[User, str]]:
    """Who logs in, and the page the password alone leads to. Carol is an approver who never enrolled."""
    for user in (alice, bob, dave, root):
        enrol_totp(user)  # the analyst and the auditor chose to; approvers and superusers must
    return {
        "analyst": (alice, VERIFY),
        "approver": (bob, VERIFY),
        "approver who never enrolled": (carol, SETUP),
        "auditor": (dave, VERIFY),
        "superuser": (root, VERIFY),
    }


@pytest.fixture
def pending(alice) -> ResponseRequest:
    return file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )


def walk_with_the_password_only(user: User, step_page: str, paths: list[str], header: str | None) -> list[str]:
    """A new client logs in with the password alone, then GETs and POSTs every path; what it was served."""
    client = Client()
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    log_in_with_the_password(client, user)
    served = []
    for path in paths:
        if path in OPEN or path == step_page:
            continue
        for method in (client.get, client.post):
            response = method(path, **extra)
            if twofactor.ignores_the_session(urlsplit(path).path):
                # The API never looks at the session: no token (or a junk one) is simply refused.
                ok = response.status_code in (401, 403, 405)
            else:
                ok = response.status_code == 302 and response["Location"].startswith(f"{step_page}?next=")
            if not ok:
                served.append(f"{method.__name__.upper()} {path} -> {response.status_code} {response.get('Location')}")
    assert "_auth_user_id" in client.session  # still logged in: the walk itself was gated, not logged out
    return served


@pytest.mark.parametrize(
    "persona", ["analyst", "approver", "approver who never enrolled", "auditor", "superuser"]
)
def test_every_url_holds_a_password_only_session(personas, pending, persona):
    # Without and with the junk header, each through a client and a login of its own; one test per
    # persona, so that the users and the request are made once for both walks.
    user, step_page = personas[persona]
    device = enrol_totp(User.objects.get(username="bob"))
    paths = every_path(pending, device.pk) + ["/no-such-page/"]

    served = {
        header or "no header": walk_with_the_password_only(user, step_page, paths, header)
        for header in (None, JUNK_TOKEN)
    }

    assert served == {"no header": [], JUNK_TOKEN: []}, f"{persona} with the password only reached: {served}"
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL  # nothing was approved on the way


def test_an_approver_with_a_password_alone_cannot_approve_even_with_a_valid_token(client, bob, pending):
    # A token that DRF would accept proves nothing to a session page: pages do not read tokens.
    enrol_totp(bob)
    _, key = issue_token(bob)
    log_in_with_the_password(client, bob)

    response = client.post(f"/requests/{pending.uuid}/approve/", {"comment": "ok"}, HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL


def test_the_api_with_a_valid_token_is_not_held_beside_a_half_logged_in_session(client, bob):
    enrol_totp(bob)
    _, key = issue_token(bob)
    log_in_with_the_password(client, bob)

    assert client.get("/api/v1/requests/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    # The schema and its docs accept the session, so they are pages like the others.
    assert client.get("/api/v1/schema/", HTTP_AUTHORIZATION=f"Token {key}")["Location"].startswith(VERIFY)


class TestStepUpFreshness:
    def test_the_password_alone_does_not_make_an_enrolled_user_fresh(self, client, bob):
        device = enrol_totp(bob)
        log_in_with_the_password(client, bob)
        assert stepup.SESSION_KEY not in client.session

        assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 302
        assert isinstance(client.session[stepup.SESSION_KEY], int)

    def test_nor_an_approver_who_must_still_enrol(self, client, carol):
        log_in_with_the_password(client, carol)
        assert stepup.SESSION_KEY not in client.session

    def test_for_a_user_without_a_second_factor_the_password_is_the_proof(self, client, alice):
        log_in_with_the_password(client, alice)
        assert isinstance(client.session[stepup.SESSION_KEY], int)
