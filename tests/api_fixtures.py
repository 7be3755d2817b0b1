"""What the REST API tests share: a client per persona, a valid body, a request in each state.

A test module imports ``api_fixture`` to get the ``api`` fixture (named apart, so that
a test's ``api`` argument does not shadow an import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import TokenScope
from responses import submission, workflow
from responses.api.authentication import issue_token
from responses.models import ResponseRequest

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
REQUESTS = "/api/v1/requests/"

# isolateHost needs one approver by default.
NEW = {
    "task": "isolateHost",
    "target_host": HOST,
    "params": {"action": 1},
    "justification": "Ransomware beacon seen from this host (ALERT-42).",
    "external_ref": "KUMA-ALERT-42",
}


def body(**changes: Any) -> dict:
    new = dict(NEW)
    new.update(changes)
    return {key: value for key, value in new.items() if value is not ...}


def url(request: ResponseRequest | str, action: str = "") -> str:
    key = request.uuid if isinstance(request, ResponseRequest) else request
    return f"{REQUESTS}{key}/{action + '/' if action else ''}"


def client_with_token(key: str | None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(name="api")
def api_fixture(db) -> Callable[..., APIClient]:
    """``api(alice)``: a client with a fresh token of alice's; ``api(None)``: no token at all.

    The token may decide (``--scope decisions``) unless ``scope`` says otherwise, so that
    these tests reach the role and status rules; tests/test_api_token_scope.py holds the
    default scope's refusals.
    """

    def client_for(user=None, *, scope: str = TokenScope.DECISIONS) -> APIClient:
        if user is None:
            return client_with_token(None)
        return client_with_token(issue_token(user, scope=scope)[1])

    return client_for


def file(user, task: str = "isolateHost", params: Any = None, **extra: Any) -> ResponseRequest:
    """A request filed through the workflow (as the web UI would), for the API to act on."""
    return workflow.file_request(
        user=user,
        task=task,
        target_host=extra.pop("target_host", HOST),
        params={"action": 1} if params is None else params,
        justification=extra.pop("justification", "Ransomware beacon seen from this host (ALERT-42)."),
        **extra,
    )


def failed(requester, approver) -> ResponseRequest:
    """A request that was approved, tried once and refused by KSC: FAILED, with its attempt."""
    request = workflow.approve(file(requester), user=approver)
    claimed, attempt = submission.claim_for_submission(request.uuid)
    submission.submission_failed(
        request.uuid, attempt, "KSC refused the incident (code 1182).", will_retry=False, code=1182
    )
    request.refresh_from_db()
    return request
