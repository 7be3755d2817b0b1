"""Hostile JSON bodies get a 400 in the API's error shape, never a 500 (issue 12, point 5)."""

from __future__ import annotations

import json

import pytest

from accounts.models import TokenScope
from accounts.tokens import issue_token
from responses.api.parsers import MAX_DEPTH
from responses.models import Status
from tests.fixtures.api import REQUESTS, body, client_with_token, url
from tests.support.filing import file_request

DEPTH = 100_000


def nested(depth: int, *, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def objects_deep(levels: int) -> dict:
    """{"a": {"a": ... {}}}: ``levels`` objects, the outermost included."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "raw",
    [
        nested(DEPTH),
        '{"a":' * DEPTH + "1" + "}" * DEPTH,
        json.dumps({**body(), "params": "PLACEHOLDER"}).replace('"PLACEHOLDER"', nested(DEPTH)),
    ],
    ids=["nested arrays", "nested objects", "nested inside params"],
)
def test_a_deeply_nested_body_is_a_400_in_the_api_shape(api, alice, raw):
    client = api(alice)
    response = client.generic("POST", REQUESTS, raw, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "parse_error"
    assert "nested" in response.json()["detail"]


def test_a_body_deeper_than_the_bound_is_refused_even_where_python_could_parse_it(api, alice):
    # 40 levels parse fine in Python; the bound keeps whatever reads the data later off the stack's edge.
    client = api(alice)
    shallow_enough = client.post(REQUESTS, objects_deep(MAX_DEPTH), format="json")
    too_deep = client.post(REQUESTS, objects_deep(MAX_DEPTH + 1), format="json")

    assert shallow_enough.status_code == 400 and shallow_enough.json()["code"] == "invalid"  # a field error, not depth
    assert too_deep.status_code == 400 and too_deep.json()["code"] == "parse_error"


def test_decisions_refuse_it_too(api, alice, bob):
    pending = file_request(
        user=alice, task="isolateHost", target_host=body()["target_host"], params={"action": 1}, justification="x"
    )
    client = client_with_token(issue_token(bob, scope=TokenScope.DECISIONS)[1])
    response = client.generic("POST", url(pending, "reject"), nested(DEPTH), content_type="application/json")

    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    pending.refresh_from_db()
    assert pending.status == Status.PENDING_APPROVAL
