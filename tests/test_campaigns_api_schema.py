"""The campaigns' API in the OpenAPI schema the portal publishes (issue 27, point 9): every call, its body and
its answers, and real answers that match the schema (tests/test_api_schema.py runs schemathesis over it too)."""

from __future__ import annotations

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from responses.states import TokenScope

ACTIONS = ("approve", "reject", "pause", "resume", "abort", "reverse")


@pytest.fixture(scope="module")
def spec() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _ref(content: dict) -> str:
    return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def _jsonschema(node):
    """OpenAPI 3.0's "nullable" as JSON Schema says it."""
    if isinstance(node, dict):
        converted = {key: _jsonschema(value) for key, value in node.items() if key != "nullable"}
        if node.get("nullable"):
            return {"anyOf": [converted, {"type": "null"}]}
        return converted
    if isinstance(node, list):
        return [_jsonschema(item) for item in node]
    return node


def conforms(spec: dict, component: str, data) -> None:
    schema = {"allOf": [{"$ref": f"#/components/schemas/{component}"}], "components": _jsonschema(spec["components"])}
    jsonschema.Draft7Validator(schema).validate(data)


def test_every_campaign_call_is_in_the_schema_with_its_shapes(spec):
    paths = spec["paths"]
    filing = paths["/api/v1/campaigns/"]["post"]
    assert _ref(filing["requestBody"]["content"]) == "NewCampaign"
    assert _ref(filing["responses"]["201"]["content"]) == "Campaign"
    assert {"400", "401", "403", "422"} <= set(filing["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in filing["parameters"])
    assert set(spec["components"]["schemas"]["NewCampaign"]["properties"]) >= {
        "task", "params", "hosts", "group", "subgroups", "server", "justification", "external_ref",
        "break_glass", "override_reason",
    }  # fmt: skip
    assert _ref(paths["/api/v1/campaigns/{key}/"]["get"]["responses"]["200"]["content"]) == "Campaign"
    hosts = paths["/api/v1/campaigns/{key}/hosts/"]["get"]
    assert _ref(hosts["responses"]["200"]["content"]) == "CampaignHostPage"
    assert {p["name"] for p in hosts["parameters"]} >= {"key", "page", "page_size", "state", "outcome", "group"}
    for action in ACTIONS:
        call = paths[f"/api/v1/campaigns/{{key}}/{action}/"]["post"]
        assert _ref(call["requestBody"]["content"]) == "DecisionComment"
        assert {"400", "403", "404", "409"} <= set(call["responses"]), action
    statuses = spec["components"]["schemas"]["CampaignStatusEnum"]["enum"]
    assert set(statuses) == {"pending_approval", "running", "paused", "completed", "aborted", "rejected", "expired"}


def test_real_answers_match_the_schema(spec, submission, settings, api, alice, bob):
    settings.CAMPAIGN_CANARY = 1
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    body = {
        "task": "isolateHost",
        "params": {"action": 1},
        "hosts": ["TKY-WS-0101", "TKY-WS-0102", "NO-SUCH-HOST"],
        "justification": "Emotet",
    }
    filed = api(alice, scope=TokenScope.FILE).post("/api/v1/campaigns/", body, format="json")
    assert filed.status_code == 201, filed.content
    conforms(spec, "Campaign", filed.json())
    url = f"/api/v1/campaigns/{filed.json()['id']}/"
    approved = api(bob).post(url + "approve/", {"comment": "ok"}, format="json")
    assert approved.status_code == 200
    conforms(spec, "Campaign", approved.json())
    conforms(spec, "Campaign", api(alice).get(url).json())
    page = api(alice).get(url + "hosts/")
    assert page.json()["count"] == 2
    conforms(spec, "CampaignHostPage", page.json())
    refused = api(bob).post(url + "approve/", {}, format="json")
    assert refused.status_code == 409
    conforms(spec, "Error", refused.json())
    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a wrong shape is caught
        conforms(spec, "Campaign", {**filed.json(), "approvals_required": "two"})
