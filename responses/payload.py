"""What the portal sends to KSC for one response request (docs/ksc-wire.md, section 1).

The envelope goes, serialised with ``json.dumps`` as Kaspersky's sample does,
into ``KLINCDT_BODY`` of ``HostGroup.AddIncident``; ``UpdateIncident`` then
marks the incident unhandled so that KSC creates the ``[Response]`` task.
Values here are Python values (``KLINCDT_ADDED`` is a datetime); the client
encodes them for the wire (ksc_client.wire).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings

from ksc_client import wire
from ksc_client.attributes import (
    INCIDENT_ADDED,
    INCIDENT_BODY,
    INCIDENT_HOST,
    INCIDENT_IS_HANDLED,
    INCIDENT_SEVERITY,
)

SEVERITY = 2  # the value of KLINCDT_SEVERITY that the product document prescribes


def build_envelope(task: str, host_id: str, params: Any) -> dict[str, Any]:
    """The response envelope; params must already be cleaned by responses.catalog.clean_params."""
    return {
        "targetHost": host_id,
        "task": task,
        "params": params,
        "responseEventIncident": True,
        "responseEventIncidentArea": settings.RESPONSE_EVENT_INCIDENT_AREA,
    }


def build_body(task: str, host_id: str, params: Any) -> str:
    # Default separators and ASCII escaping, exactly as the product document's json.dumps(data).
    return json.dumps(build_envelope(task, host_id, params))


def incident_time(now: dt.datetime | None = None) -> dt.datetime:
    """KLINCDT_ADDED: aware UTC, whole seconds (KSC's datetime has no fraction)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).replace(microsecond=0)


def add_incident_data(task: str, host_id: str, params: Any, added: dt.datetime) -> dict[str, Any]:
    """pData of HostGroup.AddIncident."""
    return {
        INCIDENT_SEVERITY: SEVERITY,
        INCIDENT_ADDED: incident_time(added),
        INCIDENT_BODY: build_body(task, host_id, params),
        INCIDENT_HOST: host_id,
    }


def update_incident_data(host_id: str) -> dict[str, Any]:
    """pData of HostGroup.UpdateIncident: KSC wants the host id present in every update."""
    return {INCIDENT_IS_HANDLED: False, INCIDENT_HOST: host_id}


def calls_json(task: str, host_id: str, params: Any, added: dt.datetime) -> dict[str, Any]:
    """The two calls' arguments exactly as they go on the wire, for people to read.

    One function for the filing preview and ``manage.py ksc_payload``, so what a person is shown
    before filing is what the command prints and what the submission job sends. The incident id
    is KSC's answer to AddIncident, so UpdateIncident's ``nId`` is a placeholder here.
    """
    return {
        "AddIncident": {"pData": wire.encode_params(add_incident_data(task, host_id, params, added))},
        "UpdateIncident": {"nId": "<incident id>", "pData": wire.encode_params(update_incident_data(host_id))},
    }
