"""AddIncident's pData written out by hand, for the KSC client's tests that run without Django.

The portal's own builder is responses/payload.py (it reads RESPONSE_EVENT_INCIDENT_AREA from the
settings); these tests need only a valid envelope (docs/ksc-wire.md, section 1) that the simulator accepts.
"""

from __future__ import annotations

import datetime as dt
import json

from ksc_client.attributes import INCIDENT_ADDED, INCIDENT_BODY, INCIDENT_HOST, INCIDENT_IS_HANDLED, INCIDENT_SEVERITY

ADDED = dt.datetime(2026, 12, 7, 9, 0, 0, tzinfo=dt.UTC)


def incident_data(task: str, host_id: str, params: dict, added: dt.datetime = ADDED, area: str = "Kuma") -> dict:
    """pData of AddIncident for ``task`` with ``params`` (already valid for the task), as responses/payload.py builds it."""
    body = {
        "targetHost": host_id,
        "task": task,
        "params": params,
        "responseEventIncident": True,
        "responseEventIncidentArea": area,
    }
    return {INCIDENT_SEVERITY: 2, INCIDENT_ADDED: added, INCIDENT_BODY: json.dumps(body), INCIDENT_HOST: host_id}


def isolate(host_id: str, added: dt.datetime = ADDED, action: int = 1) -> dict:
    """pData of AddIncident for isolateHost (``action`` 1 isolates, 0 releases)."""
    return incident_data("isolateHost", host_id, {"action": action}, added)


def update_incident_data(host_id: str) -> dict:
    """pData of UpdateIncident: unhandled, the host named (KSC wants it in every update)."""
    return {INCIDENT_IS_HANDLED: False, INCIDENT_HOST: host_id}
