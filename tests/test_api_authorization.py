"""Who may do what through the API: the web UI's matrix, persona by persona, endpoint by endpoint.

alice and frank are analysts, bob and carol approvers, dave an auditor, mallory
has no role, root is a superuser (no bypass), anonymous sends no token. The
request acted on is alice's. A request the persona may not see is a 404, so
that its existence is not revealed; a visible one the persona may not act on is
a 403 with the reason.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from accounts import roles
from responses import policy, workflow
from responses.models import Decision, RequestEvent, ResponseRequest, Status
from tests.fixtures.api import NEW, REQUESTS, failed, file, url

PERSONAS = ["anonymous", "alice", "frank", "bob", "carol", "dave", "mallory", "root"]

# Expected status per endpoint (rows) and persona (columns). "read", "approve", "reject", "cancel":
# alice's request pending approval; "retry": alice's request that KSC refused (approved by bob).
# fmt: off
MATRIX: dict[str, tuple[int, ...]] = {
    #            anonymous  alice  frank  bob  carol  dave  mallory  root
    "list":     (      401,   200,   200, 200,   200,  200,     200,  200),
    "tasks":    (      401,   200,   200, 200,   200,  200,     200,  200),
    "hosts":    (      401,   200,   200, 403,   403,  403,     403,  403),
    "file":     (      401,   201,   201, 403,   403,  403,     403,  403),
    "read":     (      401,   200,   404, 200,   200,  200,     404,  200),
    "approve":  (      401,   403,   404, 200,   200,  403,     404,  403),
    "reject":   (      401,   403,   404, 200,   200,  403,     404,  403),
    "cancel":   (      401,   200,   404, 403,   403,  403,     404,  403),
    "retry":    (      401,   403,   404, 200,   200,  403,     404,  403),
}
# fmt: on
CASES = [(endpoint, persona, status) for endpoint, row in MATRIX.items() for persona, status in zip(PERSONAS, row, strict=True)]


def trail() -> tuple[int, int, int, list[str]]:
    return (
        ResponseRequest.objects.count(),
        RequestEvent.objects.count(),
        Decision.objects.count(),
        sorted(ResponseRequest.objects.values_list("status", flat=True)),
    )


@pytest.mark.parametrize(("endpoint", "persona", "expected"), CASES, ids=[f"{e}-{p}" for e, p, _ in CASES])
def test_the_matrix(request, api, alice, frank, bob, carol, dave, mallory, root, endpoint, persona, expected):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    target = failed(alice, bob) if endpoint == "retry" else file(alice)
    client = api(user)
    # What the one rule (policy.may, which the web UI asks too) says, before acting.
    rule = policy.may(user, endpoint, target) if endpoint in workflow.ACTIONS else None
    before = trail()
    if endpoint == "list":
        response = client.get(REQUESTS)
    elif endpoint == "tasks":
        response = client.get("/api/v1/tasks/")
    elif endpoint == "hosts":
        request.getfixturevalue("ksc_settings")  # the KSC simulator
        response = client.get("/api/v1/hosts/", {"q": "TKY-WS"})
    elif endpoint == "file":
        # Another task than the pending isolation of the same host: a second isolation change of a
        # host in flight is refused whoever files it (responses/isolation.py).
        response = client.post(REQUESTS, {**NEW, "task": "getFile", "params": {"md5hash": "D41D8CD98F00B204E9800998ECF8427E"}}, format="json")
    elif endpoint == "read":
        response = client.get(url(target))
    else:
        response = client.post(url(target, endpoint), {"comment": "Checked with the host owner."}, format="json")

    assert response.status_code == expected, response.json()
    if expected >= 400:
        assert response.json()["detail"]  # every refusal says why
        assert trail() == before  # and changes nothing
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Token")
    if expected == 403 and rule is not None:
        assert response.json()["detail"] == rule.reason  # the API gives the rule's own reason
    if rule is not None and expected != 401:
        assert bool(rule) == (expected == 200)
    if endpoint == "list" and expected == 200:
        # analysts and the roleless see their own only; approvers, auditors and root see all
        assert response.json()["count"] == {"frank": 0, "mallory": 0}.get(persona, 1)


def _with_roles(user: User, *names: str) -> User:
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in names))
    return User.objects.get(pk=user.pk)  # drop the cached roles


def test_nobody_approves_their_own_request(api, alice):
    alice = _with_roles(alice, roles.APPROVERS)
    own = file(alice)
    for action in ("approve", "reject"):
        response = api(alice).post(url(own, action), {"comment": "fine"}, format="json")
        assert response.status_code == 403
        assert "their own request" in response.json()["detail"]
    own.refresh_from_db()
    assert own.status == Status.PENDING_APPROVAL
    assert Decision.objects.count() == 0


def test_a_superuser_with_every_role_still_cannot_approve_alone(api, root):
    root = _with_roles(root, roles.ANALYSTS, roles.APPROVERS)
    client = api(root)
    filed = client.post(REQUESTS, NEW, format="json").json()
    response = client.post(url(filed["id"], "approve"), format="json")
    assert response.status_code == 403
    assert "their own request" in response.json()["detail"]
    assert ResponseRequest.objects.get().status == Status.PENDING_APPROVAL


def test_the_requester_cannot_retry_their_own_failed_request(api, alice, bob):
    alice = _with_roles(alice, roles.APPROVERS)
    request = failed(alice, bob)
    response = api(alice).post(url(request, "retry"), format="json")
    assert response.status_code == 403
    assert "Another approver must retry" in response.json()["detail"]


def test_an_auditor_changes_nothing_anywhere(api, alice, bob, dave):
    pending, failing = file(alice), failed(alice, bob)
    client = api(dave)
    before = trail()
    responses = [client.post(REQUESTS, NEW, format="json")]
    responses += [client.post(url(pending, action), {"comment": "x"}, format="json") for action in workflow.ACTIONS]
    responses += [client.post(url(failing, action), {"comment": "x"}, format="json") for action in workflow.ACTIONS]
    assert [r.status_code for r in responses] == [403] * 9
    assert trail() == before


def test_a_disabled_approver_is_refused(api, alice, bob):
    client = api(bob)
    bob.is_active = False
    bob.save()
    request = file(alice)
    assert client.post(url(request, "approve"), format="json").status_code == 401
    request.refresh_from_db()
    assert request.status == Status.PENDING_APPROVAL
