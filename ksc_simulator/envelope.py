"""The response envelope in KLINCDT_BODY and the nine task types' params, checked as KES would.

Written from Kaspersky's "API for EDR Threat Response" (docs/ksc-wire.md, section 1),
not from the portal's catalog: the simulator stands in for KSC and KES, so it must
catch a portal that sends what KES cannot carry out, and a bug in the portal's own
validation must not be mirrored here.

Choices where the document is silent (each one a refusal KES would have to make
anyway, because the task could not do anything):

- A file task (getFile, deleteFile, quarantineFile, terminateProcess) must name the
  file by at least one of md5hash, sha256hash or path.
- An onDemandScan object of type Folder (22) must give the path to scan.
- ``ioc`` is "the ZIP archive, base64-encoded" or, the document's other wording, "the
  path of the ZIP archive": a base64 ZIP archive or a Windows path (``C:\\...`` or
  ``\\\\server\\share\\...``) is accepted, anything else refused.
- Keys the task does not define are refused by name; a file's md5hash, sha256hash or
  path left out is taken as empty.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from typing import Any

ENVELOPE_KEYS = ("targetHost", "task", "params", "responseEventIncident", "responseEventIncidentArea")

# The document's ScanObjectType values.
SCAN_OBJECT_TYPES = {
    14: "SystemMemory",
    15: "StartupObjectsAndRunningProcesses",
    16: "DiskBootSectors",
    17: "SystemBackupStorage",
    18: "Email",
    22: "Folder",
    23: "AllRemovableDrives",
    24: "AllNetworkDrives",
    25: "AllFixedDrives",
}
FOLDER = 22

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:\\|\\\\[^\\]+\\")

# Field kinds: what a value must be.
STRING, BOOL, MD5, MD5_REQUIRED, SHA256, ACTION, IOC, NON_EMPTY = (
    "string",
    "bool",
    "md5",
    "md5 (required)",
    "sha256",
    "action",
    "ioc",
    "non-empty string",
)

_FILE = {"md5hash": MD5, "sha256hash": SHA256, "path": STRING}
# task -> (required fields, optional fields); onDemandScan's are those of each scan object.
# A file's hashes and path may be left out, taken as empty (the document's sample sends all three).
TASKS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "getFile": ({}, _FILE),
    "deleteFile": ({}, {**_FILE, "searchInSubfolders": BOOL}),
    "quarantineFile": ({}, _FILE),
    "iocScan": ({"ioc": IOC, "isolateHost": BOOL, "scanCriticalAreas": BOOL, "quarantineObject": BOOL}, {}),
    "startProcess": ({"executablePath": NON_EMPTY}, {"arguments": STRING, "workingFolder": STRING}),
    "terminateProcess": ({"caseSensitive": BOOL}, _FILE),
    "isolateHost": ({"action": ACTION}, {}),
    "preventExecution": ({"hash": MD5_REQUIRED, "caseSensitive": BOOL}, {"path": STRING}),
    "onDemandScan": ({"enabled": BOOL, "path": STRING, "recursive": BOOL, "type": "scan type"}, {}),
}
FILE_TASKS = ("getFile", "deleteFile", "quarantineFile", "terminateProcess")


class EnvelopeError(ValueError):
    """KLINCDT_BODY is not a response KES can carry out; the message names what is wrong."""


def check_envelope(body: str, host_id: str) -> dict[str, Any]:
    """The envelope parsed from KLINCDT_BODY; EnvelopeError naming the first problem."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise EnvelopeError("pData.KLINCDT_BODY is not JSON") from None
    if not isinstance(envelope, dict):
        raise EnvelopeError("pData.KLINCDT_BODY must be a JSON object (the response envelope)")
    missing = [key for key in ENVELOPE_KEYS if key not in envelope]
    if missing:
        raise EnvelopeError(f"KLINCDT_BODY: missing {', '.join(missing)}")
    unknown = sorted(set(envelope) - set(ENVELOPE_KEYS))
    if unknown:
        raise EnvelopeError(f"KLINCDT_BODY: unexpected {', '.join(unknown)}")
    if envelope["targetHost"] != host_id:
        raise EnvelopeError("KLINCDT_BODY: targetHost must be the incident's KLHST_WKS_HOSTNAME")
    if envelope["responseEventIncident"] is not True:
        raise EnvelopeError("KLINCDT_BODY: responseEventIncident must be true")
    area = envelope["responseEventIncidentArea"]
    if not isinstance(area, str) or not area.strip():
        raise EnvelopeError("KLINCDT_BODY: responseEventIncidentArea must be a non-empty string")
    problems = params_problems(envelope["task"], envelope["params"])
    if problems:
        raise EnvelopeError(f"KLINCDT_BODY: {'; '.join(problems)}")
    return envelope


def params_problems(task: Any, params: Any) -> list[str]:
    """Every problem with a task's params, each naming its field; empty when KES can carry it out."""
    if not isinstance(task, str) or task not in TASKS:
        return [f"task: Unknown task type; use one of: {', '.join(TASKS)}"]
    if task == "onDemandScan":
        if not isinstance(params, list):
            return ["params: onDemandScan takes a JSON array of scan objects"]
        if not params:
            return ["params: onDemandScan needs at least one scan object"]
        problems = []
        for index, item in enumerate(params):
            problems += _object_problems(task, item, f"[{index}].")
            if not problems and item["type"] == FOLDER and not item["path"].strip():
                problems.append(f"[{index}].path: path is required when the scan object is a Folder (22)")
        return problems
    problems = _object_problems(task, params, "")
    if not problems and task in FILE_TASKS and not any(params.get(name) for name in _FILE):
        problems.append("params: Name the file by at least one of md5hash, sha256hash or path")
    return problems


def _object_problems(task: str, value: Any, prefix: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{prefix or 'params'}: must be a JSON object"]
    required, optional = TASKS[task]
    problems = [f"{prefix}{name}: missing" for name in required if name not in value]
    problems += [f"{prefix}{name}: unexpected field" for name in sorted(set(value) - set(required) - set(optional))]
    for name, kind in {**required, **optional}.items():
        if name in value:
            problem = _value_problem(kind, value[name])
            if problem:
                problems.append(f"{prefix}{name}: {problem}")
    return problems


def _value_problem(kind: str, value: Any) -> str | None:
    if kind == BOOL:
        return None if isinstance(value, bool) else "must be true or false"
    if kind == ACTION:
        ok = type(value) is int and value in (0, 1)
        return None if ok else "must be 0 (isolation off) or 1 (isolation on)"
    if kind == "scan type":
        ok = type(value) is int and value in SCAN_OBJECT_TYPES
        return None if ok else f"must be a ScanObjectType: {', '.join(map(str, SCAN_OBJECT_TYPES))}"
    if not isinstance(value, str):
        return "must be a string"
    if kind == MD5:
        return None if value == "" or _MD5.fullmatch(value) else "must be empty or an MD5 hash (32 hex digits)"
    if kind == MD5_REQUIRED:
        return None if _MD5.fullmatch(value) else "must be an MD5 hash (32 hex digits)"
    if kind == SHA256:
        return None if value == "" or _SHA256.fullmatch(value) else "must be empty or a SHA-256 hash (64 hex digits)"
    if kind == NON_EMPTY:
        return None if value.strip() else "must not be empty"
    if kind == IOC:
        return None if _WINDOWS_PATH.match(value) or _is_zip(value) else "must be a base64 ZIP archive or its path"
    return None


def _is_zip(text: str) -> bool:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        return False
