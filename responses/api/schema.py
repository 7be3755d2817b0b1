"""drf-spectacular extensions: the token scheme, and the body of a new request derived from the catalog.

The body of POST /requests/ is one branch per task type, each with that task's
params schema (catalog.params_json_schema), so that the docs, generated clients
and schemathesis all see which params go with which task.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension

from accounts.tokens import KEYWORD
from responses import catalog, workflow


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.tokens.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} <key>`; create a key with `manage.py create_api_token <username>`.",
        }


NEW_REQUEST_COMPONENT = "NewResponseRequest"
REQUIRED = ["task", "target_host", "params", "justification"]


def _openapi_30(schema: Any) -> Any:
    """The catalog's JSON Schema as OpenAPI 3.0 takes it.

    3.0 refuses an empty "required" list, and knows base64 as ``format: byte``
    rather than contentEncoding (contentMediaType it does not know at all).
    """
    if isinstance(schema, dict):
        converted = {}
        for key, value in schema.items():
            if (key == "required" and not value) or key == "contentMediaType":
                continue
            if key == "contentEncoding" and value == "base64":
                converted["format"] = "byte"
                continue
            converted[key] = _openapi_30(value)
        return converted
    if isinstance(schema, list):
        return [_openapi_30(item) for item in schema]
    return schema


def new_request_schema() -> dict:
    common = {
        "target_host": {
            "type": "string",
            "minLength": 1,
            "maxLength": catalog.MAX_HOST_ID,
            "description": "The KSC host id (KLHST_WKS_HOSTNAME).",
        },
        "justification": {
            "type": "string",
            "minLength": 1,
            "maxLength": workflow.MAX_JUSTIFICATION,
            "description": "Why: approvers read this.",
        },
        "external_ref": {
            "type": "string",
            "maxLength": workflow.MAX_EXTERNAL_REF,
            "description": "The SIEM's alert or incident id, to find the request by.",
        },
        "override_reason": {
            "type": "string",
            "maxLength": 2000,
            "description": (
                "Why a protected host is acted on all the same: needs the protected-host override permission, "
                "and one more approver."
            ),
        },
    }
    branches = []
    for name, task in catalog.TASKS.items():
        branches.append(
            {
                "type": "object",
                "title": name,
                "description": str(task.summary),
                "properties": {
                    "task": {"type": "string", "enum": [name]},
                    "target_host": common["target_host"],
                    "params": _openapi_30(catalog.params_json_schema(name)),
                    "justification": common["justification"],
                    "external_ref": common["external_ref"],
                    "override_reason": common["override_reason"],
                },
                "required": REQUIRED,
                "additionalProperties": False,
            }
        )
    # No "type" at the top: drf-spectacular drops an object component without "properties".
    return {
        "description": "A response request: the task, its target host and params, and why.",
        "required": REQUIRED,
        "oneOf": branches,
    }


class NewResponseRequestSchema(OpenApiSerializerExtension):
    """A placeholder for the body; add_new_request_body() puts the real schema in.

    The real one is added after drf-spectacular's enum hook, which would otherwise
    pull each branch's one-value task enum out into a component of its own.
    """

    target_class = "responses.api.serializers.NewResponseRequestSerializer"

    def get_name(self, auto_schema, direction) -> str:
        return NEW_REQUEST_COMPONENT

    def map_serializer(self, auto_schema, direction) -> dict:
        return {"description": "See add_new_request_body.", "required": REQUIRED}


def add_new_request_body(result: dict, generator, request, public) -> dict:
    """A postprocessing hook (SPECTACULAR_SETTINGS), after drf-spectacular's own."""
    schemas = result.get("components", {}).get("schemas", {})
    if NEW_REQUEST_COMPONENT in schemas:
        schemas[NEW_REQUEST_COMPONENT] = new_request_schema()
    return result
