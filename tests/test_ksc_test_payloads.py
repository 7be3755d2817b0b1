"""The Django-free tests' hand-written pData (tests/support/ksc_payloads.py) is what the portal sends.

tests/ksc_client/ cannot use responses/payload.py (it reads the settings); this keeps the two equal.
"""

from __future__ import annotations

import datetime as dt

from responses import payload
from tests.support import ksc_payloads

ADDED = dt.datetime(2026, 12, 7, 9, 30, 0, tzinfo=dt.UTC)


def test_the_hand_written_pdata_is_the_portals(settings):
    settings.RESPONSE_EVENT_INCIDENT_AREA = "Kuma"
    host = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
    assert ksc_payloads.isolate(host, ADDED, 0) == payload.add_incident_data("isolateHost", host, {"action": 0}, ADDED)
    scan = {"scanType": "quick"}
    assert ksc_payloads.incident_data("scan", host, scan, ADDED) == payload.add_incident_data("scan", host, scan, ADDED)
    assert ksc_payloads.update_incident_data(host) == payload.update_incident_data(host)
