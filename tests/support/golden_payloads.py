"""Golden payloads: what KSC receives for each task type, byte for byte (docs/ksc-wire.md, section 1).

The expected bodies are literal strings written from the document, not computed by the code
under test. ``GOLDEN`` holds (task, params as filed, the KLINCDT_BODY string) for all nine task
types, for ``HOST`` at ``ADDED``; tests/test_payload.py and tests/test_ksc_payload_command.py
check them.
"""

from __future__ import annotations

import datetime as dt

from tests.support.openioc import ioc_zip_b64

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
