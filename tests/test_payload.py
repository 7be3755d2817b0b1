"""Golden payloads: what KSC receives for each task type, byte for byte.

The expected bodies are literal strings written from docs/ksc-wire.md (section 1), not
computed by the code under test, so a change to key order, separators, escaping
or the envelope shows up here.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ksc_client import wire
from responses import catalog, payload
from tests.support.golden_payloads import ADDED, GOLDEN, HOST


def test_golden_covers_all_nine_task_types():
    assert sorted(name for name, _, _ in GOLDEN) == sorted(catalog.TASK_NAMES)
    assert len(catalog.TASK_NAMES) == 9


@pytest.mark.parametrize(("task", "params", "body"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_it_builds_the_exact_add_incident_pdata(task, params, body):
    cleaned = catalog.clean_params(task, params)
    data = wire.encode_params(payload.add_incident_data(task, HOST, cleaned, ADDED))
    # The whole pData on the wire, as the Open API encodes it: a datetime typed value, whole seconds, Z.
    assert data == {
        "KLINCDT_SEVERITY": 2,
        "KLINCDT_ADDED": {"type": "datetime", "value": "2026-11-27T08:30:05Z"},
        "KLINCDT_BODY": body,
        "KLHST_WKS_HOSTNAME": HOST,
    }
    assert list(data) == ["KLINCDT_SEVERITY", "KLINCDT_ADDED", "KLINCDT_BODY", "KLHST_WKS_HOSTNAME"]
    # The body is a string holding JSON, and its targetHost is the same id as KLHST_WKS_HOSTNAME.
    assert json.loads(data["KLINCDT_BODY"])["targetHost"] == data["KLHST_WKS_HOSTNAME"]


def test_it_builds_the_update_incident_pdata():
    assert wire.encode_params(payload.update_incident_data(HOST)) == {
        "KLINCDT_IS_HANDLED": False,
        "KLHST_WKS_HOSTNAME": HOST,
    }


def test_it_converts_a_local_time_to_utc_for_klincdt_added():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    local = dt.datetime(2026, 11, 27, 17, 30, 5, tzinfo=tokyo)
    data = wire.encode_params(payload.add_incident_data("isolateHost", HOST, {"action": 0}, local))
    # Kaspersky's sample sends local time unconverted; the portal sends UTC.
    assert data["KLINCDT_ADDED"] == {"type": "datetime", "value": "2026-11-27T08:30:05Z"}


def test_it_takes_the_incident_area_from_settings(settings):
    settings.RESPONSE_EVENT_INCIDENT_AREA = "SIEM-7"
    body = json.loads(payload.build_body("isolateHost", HOST, {"action": 0}))
    assert body["responseEventIncidentArea"] == "SIEM-7"


def test_it_escapes_non_ascii_as_json_dumps_does():
    body = payload.build_body("getFile", HOST, catalog.clean_params("getFile", {"path": "C:\\ユーザー\\a.txt"}))
    assert r'"path": "C:\\\u30e6\u30fc\u30b6\u30fc\\a.txt"' in body
    assert json.loads(body)["params"]["path"] == "C:\\ユーザー\\a.txt"


class TestWireValues:
    def test_it_wraps_nested_params_and_typed_values(self):
        encoded = wire.encode_params(
            {
                "n": 5,
                "big": 2**40,
                "when": dt.datetime(2026, 1, 2, 3, 4, 5),
                "nested": {"a": True},
                "items": [{"x": 1}, "s"],
                "blob": b"\x00\x01",
            }
        )
        assert encoded == {
            "n": 5,
            "big": {"type": "long", "value": 2**40},
            "when": {"type": "datetime", "value": "2026-01-02T03:04:05Z"},
            "nested": {"type": "params", "value": {"a": True}},
            "items": [{"type": "params", "value": {"x": 1}}, "s"],
            "blob": {"type": "binary", "value": "AAE="},
        }

    def test_it_decodes_what_it_encodes(self):
        original = {"when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "nested": {"a": [1, "b"]}}
        assert wire.decode_params(wire.encode_params(original)) == original

    def test_it_refuses_values_it_cannot_encode(self):
        with pytest.raises(TypeError):
            wire.encode_params({"x": object()})
