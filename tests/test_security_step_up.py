"""Step-up at the moment of decision: approve, reject and retry need a proof of identity of the last 10 minutes.

A session whose last proof (the login, or a code typed since) is older than
STEP_UP_SECONDS gets a confirmation form instead of the decision; the form carries
the comment and posts back to the same URL, and with a good code the decision is
made as first sent. Cancelling one's own request needs no step-up; the API is out
of scope (token-based).
"""

from __future__ import annotations

import html
import re
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import stepup
from responses import workflow
from responses.models import Decision, ResponseRequest, Status
from tests.fixtures.accounts import totp_code
from tests.fixtures.api import client_with_token
from tests.support.filing import file_request

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
COMMENT = "Confirmed with the host owner\nticket INC-42 <b>"


@pytest.fixture
def pending(alice) -> ResponseRequest:
    return file_request(
        user=alice, task="isolateHost", target_host=HOST, params={"action": 1}, justification="Beaconing"
    )


def stale(client, seconds: int = 11 * 60) -> None:
    """The session's last proof of identity was ``seconds`` ago."""
    session = client.session
    session[stepup.SESSION_KEY] = int(time.time()) - seconds
    session.save()


def hidden_fields(page: str) -> dict[str, str]:
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
        if name != "csrfmiddlewaretoken"  # the page's own, fresh token
    }


def test_an_approval_with_a_stale_proof_asks_for_a_code_and_changes_nothing(client, login, bob, pending):
    login(client, bob)
    stale(client)

    response = client.post(f"/requests/{pending.uuid}/approve/", {"comment": COMMENT, "next": "/approvals/"})

    assert response.status_code == 403
    page = response.content.decode()
    assert "Confirm it is you" in page and 'name="stepup_code"' in page
    assert f'action="/requests/{pending.uuid}/approve/"' in page  # posts back to the decision itself
    assert hidden_fields(page) == {"comment": COMMENT, "next": "/approvals/"}  # the comment is not lost
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL and not Decision.objects.exists()


def test_with_a_good_code_the_decision_is_made_as_first_sent(client, login, bob, pending):
    login(client, bob)
    stale(client)
    form = hidden_fields(client.post(f"/requests/{pending.uuid}/approve/", {"comment": COMMENT}).content.decode())
    device = TOTPDevice.objects.get(user=bob)

    response = client.post(f"/requests/{pending.uuid}/approve/", {**form, "stepup_code": totp_code(device)})

    assert response.status_code == 302 and response["Location"] == f"/requests/{pending.uuid}/"
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED
    assert Decision.objects.get().comment == COMMENT  # line break and all, as typed
    # ...and the proof is fresh again for the next decisions.
    assert client.session[stepup.SESSION_KEY] >= int(time.time()) - 5


def test_a_wrong_code_is_refused_and_nothing_changes(client, login, bob, pending):
    login(client, bob)
    stale(client)
    device = TOTPDevice.objects.get(user=bob)
    wrong = "000000" if totp_code(device) != "000000" else "111111"

    response = client.post(f"/requests/{pending.uuid}/approve/", {"comment": "ok", "stepup_code": wrong})

    assert response.status_code == 403
    assert "That code is not valid" in response.content.decode()
    assert hidden_fields(response.content.decode()) == {"comment": "ok"}
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL


def test_guessing_codes_at_the_step_up_locks_the_login_out(client, login, bob, pending, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting between guesses: only the lockout is under test
    login(client, bob)
    stale(client)
    device = TOTPDevice.objects.get(user=bob)
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    url = f"/requests/{pending.uuid}/approve/"

    statuses = [client.post(url, {"comment": "ok", "stepup_code": wrong}).status_code for _ in range(2)]

    assert statuses == [403, 429]
    assert "_auth_user_id" not in client.session  # the session is ended
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL


def test_rejecting_and_retrying_need_it_too(client, login, bob, carol, pending):
    login(client, bob)
    stale(client)
    assert client.post(f"/requests/{pending.uuid}/reject/", {"comment": "no"}).status_code == 403

    workflow.approve(pending, user=carol)
    ResponseRequest.objects.filter(pk=pending.pk).update(status=Status.FAILED)
    assert client.post(f"/requests/{pending.uuid}/retry/").status_code == 403
    pending.refresh_from_db()
    assert pending.status == Status.FAILED


@pytest.mark.parametrize(
    ("who", "proof_age", "action", "data", "status"),
    [
        ("bob", 9 * 60, "approve", {"comment": "ok"}, Status.APPROVED),
        ("alice", 11 * 60, "cancel", {}, Status.CANCELLED),
    ],
    ids=["a decision within 10 minutes of the login", "cancelling one's own request, however old the proof"],
)
def test_no_step_up_is_asked(request, client, login, pending, who, proof_age, action, data, status):
    login(client, request.getfixturevalue(who))
    stale(client, seconds=proof_age)

    response = client.post(f"/requests/{pending.uuid}/{action}/", data)

    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == status


def test_without_an_authenticator_the_password_is_the_proof(client, login, dave, pending):
    # An auditor has no authenticator: the form asks for the password; the workflow then decides.
    login(client, dave)
    stale(client)
    url = f"/requests/{pending.uuid}/reject/"
    page = client.post(url, {"comment": "no"}).content.decode()
    assert 'name="stepup_password"' in page and 'name="stepup_code"' not in page

    wrong = client.post(url, {"comment": "no", "stepup_password": "guess"})
    assert wrong.status_code == 403 and "Wrong password" in wrong.content.decode()

    right = client.post(url, {"comment": "no", "stepup_password": "dave-password-1234"})
    assert right.status_code == 403 and "Only members of Approvers" in right.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL


def test_the_api_is_token_based_and_out_of_scope(bob, pending):
    from accounts.models import TokenScope
    from accounts.tokens import issue_token

    _, key = issue_token(bob, scope=TokenScope.DECISIONS)
    response = client_with_token(key).post(
        f"/api/v1/requests/{pending.uuid}/approve/", {"comment": "ok"}, format="json"
    )
    assert response.status_code == 200
