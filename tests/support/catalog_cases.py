"""What the task catalog accepts and refuses, case by case: ``VALID`` params of each task, ``REFUSED`` ones.

tests/test_catalog.py checks them against responses.catalog; tests/test_ksc_payload_command.py
against `manage.py ksc_payload`.
"""

from __future__ import annotations

import base64
import io
import zipfile

from tests.support.golden_payloads import IOC_ZIP

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _zip_b64(files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return base64.b64encode(buffer.getvalue()).decode()


VALID = {
    "getFile": {"path": "C:\\a.exe"},
    "deleteFile": {"md5hash": MD5},
    "quarantineFile": {"sha256hash": SHA256},
    "iocScan": {"ioc": IOC_ZIP, "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False},
    "startProcess": {"executablePath": "C:\\Windows\\notepad.exe"},
    "terminateProcess": {"path": "C:\\x.exe", "caseSensitive": False},
    "isolateHost": {"action": 0},
    "preventExecution": {"hash": MD5, "path": "", "caseSensitive": False},
    "onDemandScan": [{"enabled": True, "path": "", "recursive": True, "type": 25}],
}

# (task, params, the field the error is reported on, a fragment of its message)
REFUSED = [
    # file tasks: hashes, the file must be named, types, unknown fields, control characters, length
    ("getFile", {"md5hash": "abc"}, "md5hash", "32 hexadecimal"),
    ("getFile", {"sha256hash": MD5}, "sha256hash", "64 hexadecimal"),
    ("getFile", {}, "", "at least one of md5hash, sha256hash or path"),
    ("getFile", {"path": "C:\\a\nb"}, "path", "control characters"),
    ("getFile", {"path": "x" * 4097}, "path", "longer than 4096"),
    ("getFile", {"path": 5}, "path", "must be a string"),
    ("getFile", {"path": "C:\\a", "owner": "x"}, "owner", "Unknown field owner"),
    ("deleteFile", {"md5hash": "g" * 32}, "md5hash", "32 hexadecimal"),
    ("deleteFile", {"path": "", "md5hash": "", "sha256hash": ""}, "", "at least one of"),
    ("deleteFile", {"path": "C:\\a", "searchInSubfolders": "yes"}, "searchInSubfolders", "true or false"),
    ("deleteFile", {"path": "C:\\a", "searchInSubfolders": 1}, "searchInSubfolders", "true or false"),
    ("deleteFile", {"sha256hash": "z" * 64}, "sha256hash", "64 hexadecimal"),
    ("quarantineFile", {"md5hash": MD5 + "0"}, "md5hash", "32 hexadecimal"),
    ("quarantineFile", {}, "", "at least one of"),
    ("quarantineFile", {"path": "a\x00b"}, "path", "control characters"),
    ("quarantineFile", {"path": "C:\\a", "searchInSubfolders": True}, "searchInSubfolders", "Unknown field"),
    # iocScan: the archive and the three switches
    ("iocScan", {**VALID["iocScan"], "ioc": "not base64!"}, "ioc", "base64"),
    ("iocScan", {**VALID["iocScan"], "ioc": base64.b64encode(b"plain text").decode()}, "ioc", "not a readable ZIP"),
    ("iocScan", {**VALID["iocScan"], "ioc": _zip_b64({})}, "ioc", "empty ZIP"),
    ("iocScan", {**VALID["iocScan"], "ioc": "A" * (4 * (10 * 1024 * 1024 // 3) + 8)}, "ioc", "larger than 10 MiB"),
    ("iocScan", {**VALID["iocScan"], "ioc": ""}, "ioc", "required"),
    ("iocScan", {k: v for k, v in VALID["iocScan"].items() if k != "ioc"}, "ioc", "required"),
    ("iocScan", {**VALID["iocScan"], "isolateHost": "true"}, "isolateHost", "true or false"),
    (
        "iocScan",
        {k: v for k, v in VALID["iocScan"].items() if k != "scanCriticalAreas"},
        "scanCriticalAreas",
        "required",
    ),
    ("iocScan", {**VALID["iocScan"], "quarantineObject": None}, "quarantineObject", "true or false"),
    # startProcess
    ("startProcess", {}, "executablePath", "required"),
    ("startProcess", {"executablePath": "   "}, "executablePath", "must not be empty"),
    ("startProcess", {"executablePath": "a.exe", "arguments": "x\ty"}, "arguments", "control characters"),
    ("startProcess", {"executablePath": "a.exe", "workingFolder": "w" * 4097}, "workingFolder", "longer than 4096"),
    ("startProcess", {"executablePath": "a.exe", "arguments": ["-x"]}, "arguments", "must be a string"),
    # terminateProcess
    ("terminateProcess", {"path": "C:\\x.exe"}, "caseSensitive", "required"),
    ("terminateProcess", {"caseSensitive": True}, "", "at least one of"),
    ("terminateProcess", {"md5hash": "xyz", "caseSensitive": True}, "md5hash", "32 hexadecimal"),
    # isolateHost
    ("isolateHost", {"action": 2}, "action", "one of 0, 1"),
    ("isolateHost", {"action": "1"}, "action", "one of 0, 1"),
    ("isolateHost", {"action": True}, "action", "one of 0, 1"),
    ("isolateHost", {}, "action", "required"),
    ("isolateHost", {"action": 1, "duration": 5}, "duration", "Unknown field"),
    # preventExecution
    ("preventExecution", {"path": "C:\\a", "caseSensitive": True}, "hash", "required"),
    ("preventExecution", {"hash": "", "caseSensitive": True}, "hash", "must not be empty"),
    ("preventExecution", {"hash": SHA256, "caseSensitive": True}, "hash", "32 hexadecimal"),
    ("preventExecution", {"hash": MD5}, "caseSensitive", "required"),
    # onDemandScan
    ("onDemandScan", {"enabled": True}, "", "JSON array"),
    ("onDemandScan", [], "", "at least one"),
    ("onDemandScan", [VALID["onDemandScan"][0]] * 17, "", "at most 16"),
    ("onDemandScan", [{"enabled": True, "path": "", "recursive": True, "type": 19}], "[0].type", "one of 14, 15"),
    ("onDemandScan", [{"enabled": True, "path": "", "recursive": True, "type": 22}], "[0].path", "Folder"),
    ("onDemandScan", [VALID["onDemandScan"][0], {"enabled": True}], "[1].type", "required"),
    ("onDemandScan", [{"enabled": "y", "path": "", "recursive": True, "type": 14}], "[0].enabled", "true or false"),
    ("onDemandScan", ["C:\\"], "[0]", "JSON object"),
]
