"""Golden payloads: what KSC receives for each task type, byte for byte.

The expected bodies are literal strings written from docs/ksc-wire.md (section 1), not
computed by the code under test, so a change to key order, separators, escaping
or the envelope shows up here.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from responses import catalog
from responses.ksc import payload, wire
from tests.openioc import ioc_zip_b64

HOST = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"
ADDED = dt.datetime(2026, 11, 27, 8, 30, 5, 123456, tzinfo=dt.UTC)
# A real ZIP archive holding one OpenIOC 1.0 document.
IOC_ZIP = ioc_zip_b64()

GOLDEN = [
    (
        "getFile",
        {
            "sha256hash": "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "path": "C:\\Users\\Public\\evil.exe",
        },
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "getFile", "params": {"md5hash": "", '
        r'"sha256hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", '
        r'"path": "C:\\Users\\Public\\evil.exe"}, "responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
    (
        "deleteFile",
        {"md5hash": "d41d8cd98f00b204e9800998ecf8427e", "path": "C:\\Temp\\dropper.dll", "searchInSubfolders": True},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "deleteFile", "params": {"md5hash": '
        r'"d41d8cd98f00b204e9800998ecf8427e", "sha256hash": "", "path": "C:\\Temp\\dropper.dll", '
        r'"searchInSubfolders": true}, "responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
    (
        "quarantineFile",
        {"md5hash": "d41d8cd98f00b204e9800998ecf8427e"},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "quarantineFile", "params": {"md5hash": '
        r'"d41d8cd98f00b204e9800998ecf8427e", "sha256hash": "", "path": ""}, "responseEventIncident": true, '
        r'"responseEventIncidentArea": "Kuma"}',
    ),
    (
        "iocScan",
        {"ioc": IOC_ZIP, "isolateHost": True, "scanCriticalAreas": False, "quarantineObject": True},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "iocScan", "params": {"ioc": "'
        + IOC_ZIP
        + r'", "isolateHost": true, "scanCriticalAreas": false, "quarantineObject": true}, '
        r'"responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
    (
        "startProcess",
        {"executablePath": "C:\\Windows\\System32\\cmd.exe", "arguments": "/c ipconfig /all", "workingFolder": ""},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "startProcess", "params": {"executablePath": '
        r'"C:\\Windows\\System32\\cmd.exe", "arguments": "/c ipconfig /all"}, "responseEventIncident": true, '
        r'"responseEventIncidentArea": "Kuma"}',
    ),
    (
        "terminateProcess",
        {"path": "C:\\Temp\\miner.exe", "caseSensitive": False},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "terminateProcess", "params": {"md5hash": "", '
        r'"sha256hash": "", "path": "C:\\Temp\\miner.exe", "caseSensitive": false}, "responseEventIncident": true, '
        r'"responseEventIncidentArea": "Kuma"}',
    ),
    (
        "isolateHost",
        {"action": 1},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "isolateHost", "params": {"action": 1}, '
        r'"responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
    (
        "preventExecution",
        {"hash": "D41D8CD98F00B204E9800998ECF8427E", "path": "C:\\Temp\\miner.exe", "caseSensitive": True},
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "preventExecution", "params": {"hash": '
        r'"d41d8cd98f00b204e9800998ecf8427e", "path": "C:\\Temp\\miner.exe", "caseSensitive": true}, '
        r'"responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
    (
        "onDemandScan",
        [
            {"enabled": True, "path": "", "recursive": False, "type": 14},
            {"enabled": True, "path": "C:\\Users C:\\Temp", "recursive": True, "type": 22},
        ],
        r'{"targetHost": "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b", "task": "onDemandScan", "params": [{"enabled": true, '
        r'"path": "", "recursive": false, "type": 14}, {"enabled": true, "path": "C:\\Users C:\\Temp", '
        r'"recursive": true, "type": 22}], "responseEventIncident": true, "responseEventIncidentArea": "Kuma"}',
    ),
]


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
