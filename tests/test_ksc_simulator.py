"""The KSC simulator, spoken to in raw HTTPS the way KSC's wire protocol is written down.

Nothing here goes through the portal's client: these tests pin the protocol
the simulator answers (docs/ksc-wire.md, sections 2-8) and the strictness with which it
checks what the portal sends (docs/ksc-wire.md, section 1).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ksc_client import wire
from ksc_simulator.inventory import InventoryError, default_hosts, parse_hosts
from ksc_simulator.server import ERR_BAD_PARAM, ERR_NO_METHOD, ERR_NOT_FOUND, parse_kscbasic
from responses import payload
from tests.support.openioc import ioc_zip_b64

ADDED = dt.datetime(2026, 11, 27, 8, 30, 5, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parent.parent
# A real ZIP archive holding one OpenIOC 1.0 document.
IOC_ZIP = ioc_zip_b64()
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def kscbasic(user: str, password: str, domain: str = "", internal: str = '"1"') -> str:
    b64 = base64.b64encode
    return (
        f'KSCBasic user="{b64(user.encode()).decode()}", pass="{b64(password.encode()).decode()}", '
        f'domain="{domain}", internal={internal}'
    )


class Wire:
    """One HTTPS connection to the simulator: requests with a one-connection pool, like KlAkOAPI."""

    def __init__(self, simulator):
        self.simulator = simulator
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = str(simulator.cert_path)
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
        self.http.mount("https://", adapter)
        self.token: str | None = None

    def post(self, method: str, body=None, headers=None, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps({} if body is None else body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            headers["X-KSC-Session"] = self.token
        return self.http.post(f"{self.simulator.url}/api/v1.0/{method}", data=data, headers=headers, timeout=5)

    def login(self, password: str | None = None, **kwargs) -> requests.Response:
        headers = {
            "Authorization": kscbasic(self.simulator.user, password or self.simulator.password, **kwargs),
            "X-KSC-VServer": "",
        }
        return self.http.post(f"{self.simulator.url}/api/v1.0/login", headers=headers, timeout=5)

    def call(self, method: str, body=None) -> dict:
        response = self.post(method, body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def wire_to(ksc_simulator):
    connections = []

    def connect(logged_in: bool = True) -> Wire:
        connection = Wire(ksc_simulator)
        if logged_in:
            assert connection.login().status_code == 200
        connections.append(connection)
        return connection

    yield connect
    for connection in connections:
        connection.http.close()


def pxg_code(answer: dict) -> int:
    assert "PxgError" in answer, answer
    return answer["PxgError"]["code"]


def add(connection: Wire, pdata: dict) -> dict:
    return connection.call("HostGroup.AddIncident", {"pData": wire.encode_params(pdata)})


# --- authentication ---


def test_the_login_is_bound_to_its_connection(ksc_simulator, wire_to):
    logged_in = wire_to()
    stranger = wire_to(logged_in=False)
    host = ksc_simulator.host_id("DC01")

    assert logged_in.call("HostGroup.GetHostInfo", {"strHostName": host, "pFields2Return": ["KLHST_WKS_DN"]}) == {
        "PxgRetVal": {"KLHST_WKS_DN": "DC01"}
    }
    assert stranger.post("HostGroup.GetHostInfo", {"strHostName": host, "pFields2Return": []}).status_code == 401


@pytest.mark.parametrize(
    "login",
    [
        {"password": "wrong-password"},
        {"domain": "CORP"},
        {"internal": '"maybe"'},
    ],
)
def test_a_login_with_other_credentials_is_refused(ksc_simulator, wire_to, login):
    connection = wire_to(logged_in=False)

    assert connection.login(**login).status_code == 401
    assert ksc_simulator.stats()["refused_logins"] == 1


def test_a_login_without_credentials_or_on_a_virtual_server_is_refused(ksc_simulator, wire_to):
    connection = wire_to(logged_in=False)
    url = f"{ksc_simulator.url}/api/v1.0/login"

    assert connection.http.post(url, timeout=5).status_code == 401
    headers = {"Authorization": kscbasic(ksc_simulator.user, ksc_simulator.password), "X-KSC-VServer": "dnMx"}
    assert connection.http.post(url, headers=headers, timeout=5).status_code == 401


def test_an_unquoted_internal_flag_is_accepted_as_go_ksc_sends_it(ksc_simulator, wire_to):
    assert wire_to(logged_in=False).login(internal="true").status_code == 200
    assert parse_kscbasic('KSCBasic user="dQ==", pass="cA==", domain="", internal=true') == {
        "user": "dQ==",
        "pass": "cA==",
        "domain": "",
        "internal": "true",
    }


def test_a_session_token_works_on_any_connection_until_ended(ksc_simulator, wire_to):
    starter = wire_to(logged_in=False)
    started = starter.post(
        "Session.StartSession", {}, {"Authorization": kscbasic(ksc_simulator.user, ksc_simulator.password)}
    )
    token = started.json()["PxgRetVal"]
    other = wire_to(logged_in=False)
    other.token = token

    assert other.call("Session.Ping") == {}
    assert other.call("Session.EndSession") == {}
    assert other.post("Session.Ping").status_code == 403
    other.token = "nst-made-up"
    assert other.post("Session.Ping").status_code == 403


def test_a_logged_in_connection_can_start_a_session(wire_to):
    token = wire_to().call("Session.StartSession")["PxgRetVal"]
    other = wire_to(logged_in=False)
    other.token = token

    assert other.call("Session.Ping") == {}


def test_an_unused_session_expires(ksc_simulator, wire_to):
    connection = wire_to()
    connection.token = connection.call("Session.StartSession")["PxgRetVal"]
    ksc_simulator.advance_clock(1799)
    assert connection.post("Session.Ping").status_code == 200  # and using it keeps it alive

    ksc_simulator.advance_clock(1801)

    assert connection.post("Session.Ping").status_code == 403


def test_expiring_sessions_ends_tokens_and_connection_logins(ksc_simulator, wire_to):
    logged_in = wire_to()
    with_token = wire_to(logged_in=False)
    with_token.token = logged_in.call("Session.StartSession")["PxgRetVal"]

    ksc_simulator.expire_sessions()

    assert logged_in.post("Session.Ping").status_code == 401
    assert with_token.post("Session.Ping").status_code == 403


# --- call errors ---


def test_an_unknown_method_is_a_pxg_error(wire_to):
    answer = wire_to().call("HostGroup.Explode", {})

    assert pxg_code(answer) == ERR_NO_METHOD
    assert answer["PxgError"]["locdata"]["value"]["args"] == ["Method HostGroup.Explode is not implemented"]


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [
        ("HostGroup.AddIncident", {}, "missing parameter pData"),
        ("HostGroup.AddIncident", {"pData": {}, "nId": 1}, "unexpected parameter nId"),
        ("HostGroup.AddIncident", {"pData": "text"}, "pData must be a params object"),
        ("HostGroup.AddIncident", {"pData": {"type": "params", "value": {}}}, "plain object"),
        ("HostGroup.UpdateIncident", {"nId": "7", "pData": {}}, "nId must be an integer"),
        ("HostGroup.GetHostInfo", {"strHostName": 5, "pFields2Return": []}, "strHostName must be a string"),
        ("HostGroup.GetHostInfo", {"strHostName": "x", "pFields2Return": ["NO_SUCH"]}, "unknown attributes NO_SUCH"),
        ("HostGroup.FindHosts", {"wstrFilter": "(KLHST_WKS_DN = ", "vecFieldsToReturn": []}, "wstrFilter"),
        ("HostGroup.FindHosts", {"wstrFilter": '(NOPE = "x")', "vecFieldsToReturn": []}, "unknown attribute NOPE"),
        (
            "HostGroup.FindHosts",
            {"wstrFilter": '(KLHST_WKS_DN = "*")', "vecFieldsToReturn": [], "lMaxLifeTime": 7201},
            "lMaxLifeTime must be 1 to 7200",
        ),
        (
            "HostGroup.FindIncidents",
            {
                "strFilter": "(KLINCDT_ID > 0)",
                "pFieldsToReturn": [],
                "pFieldsToOrder": [{"type": "params", "value": {"Name": "KLINCDT_BODY", "Asc": True}}],
            },
            "cannot order by KLINCDT_BODY",
        ),
        (
            "HostGroup.FindIncidents",
            {"strFilter": "(KLINCDT_ID > 0)", "pFieldsToReturn": [], "pFieldsToOrder": [{"Name": "KLINCDT_ID", "Asc": True}]},
            "must be a params value",
        ),
        ("HostGroup.FindIncidents", {"strFilter": '(KLINCDT_ID = "7")', "pFieldsToReturn": []}, "cannot be compared"),
        # KSC's grammar has no empty filter (filter = "(" filtercomp ")"): a strict server refuses one.
        ("HostGroup.FindHosts", {"wstrFilter": "", "vecFieldsToReturn": []}, "wstrFilter: the filter is empty"),
        ("HostGroup.FindHosts", {"wstrFilter": "  ", "vecFieldsToReturn": []}, "wstrFilter: the filter is empty"),
        ("HostGroup.FindIncidents", {"strFilter": "", "pFieldsToReturn": []}, "strFilter: the filter is empty"),
        ("HostGroup.GroupIdGroups", {"nParent": 0}, "unexpected parameter nParent"),
        ("HostGroup.GetGroupId", {"nParent": "0", "strName": "Servers"}, "nParent must be an integer"),
        ("HostGroup.GetGroupId", {"nParent": 0}, "missing parameter strName"),
        ("HostGroup.GetSubgroups", {"nGroupId": 0, "nDepth": -1}, "nDepth must be 0"),
        ("HostGroup.GetSubgroups", {"nGroupId": 0}, "missing parameter nDepth"),
    ],
)
def test_bad_parameters_are_refused_with_a_pxg_error(wire_to, method, body, words):
    answer = wire_to().call(method, body)

    assert pxg_code(answer) == ERR_BAD_PARAM
    assert words in answer["PxgError"]["message"]


def test_a_body_that_is_not_a_json_object_is_refused(wire_to):
    response = wire_to().post("HostGroup.FindHosts", raw=b"[1, 2]")

    assert pxg_code(response.json()) == ERR_BAD_PARAM


def test_unknown_ids_are_not_found(ksc_simulator, wire_to):
    connection = wire_to()
    host = ksc_simulator.host_id("DC01")

    assert pxg_code(connection.call("HostGroup.GetHostInfo", {"strHostName": "nope", "pFields2Return": []})) == 1183
    update = {"nId": 99, "pData": wire.encode_params(payload.update_incident_data(host))}
    assert pxg_code(connection.call("HostGroup.UpdateIncident", update)) == ERR_NOT_FOUND
    assert pxg_code(connection.call("HostGroup.DeleteIncident", {"nId": 99})) == ERR_NOT_FOUND
    assert pxg_code(connection.call("ChunkAccessor.GetItemsCount", {"strAccessor": "nope"})) == ERR_NOT_FOUND


# --- AddIncident, as strict as KSC ---

VALID_PARAMS = {
    "getFile": {"md5hash": MD5, "sha256hash": "", "path": "C:\\evil.exe"},
    "deleteFile": {"md5hash": "", "sha256hash": "", "path": "C:\\evil.exe", "searchInSubfolders": True},
    "quarantineFile": {"md5hash": MD5, "sha256hash": "", "path": ""},
    "iocScan": {"ioc": IOC_ZIP, "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False},
    "startProcess": {"executablePath": "C:\\Windows\\System32\\cmd.exe", "arguments": "/c whoami"},
    "terminateProcess": {"md5hash": MD5, "sha256hash": "", "path": "", "caseSensitive": False},
    "isolateHost": {"action": 1},
    "preventExecution": {"hash": MD5, "path": "", "caseSensitive": True},
    "onDemandScan": [{"enabled": True, "path": "", "recursive": True, "type": 14}],
}
# One malformed params per task, and the field the refusal must name.
MALFORMED_PARAMS = {
    "getFile": ({"md5hash": "", "sha256hash": "", "path": ""}, "Name the file"),
    "deleteFile": ({"md5hash": "xyz", "sha256hash": "", "path": "C:\\a"}, "md5hash"),
    "quarantineFile": ({"md5hash": MD5, "sha256hash": "12", "path": ""}, "sha256hash"),
    "iocScan": (
        {"ioc": "bm90IGEgemlw", "isolateHost": False, "scanCriticalAreas": True, "quarantineObject": False},
        "ioc",
    ),
    "startProcess": ({"arguments": "/c whoami"}, "executablePath"),
    "terminateProcess": ({"md5hash": MD5, "sha256hash": "", "path": "", "caseSensitive": "no"}, "caseSensitive"),
    "isolateHost": ({"action": 2}, "action"),
    "preventExecution": ({"hash": "", "path": "C:\\a", "caseSensitive": True}, "hash"),
    "onDemandScan": ({"enabled": True, "path": "", "recursive": True, "type": 22}, "onDemandScan takes a JSON array"),
}


def envelope_pdata(host: str, task: str, params) -> dict:
    body = json.dumps(
        {
            "targetHost": host,
            "task": task,
            "params": params,
            "responseEventIncident": True,
            "responseEventIncidentArea": "Kuma",
        }
    )
    return {"KLINCDT_SEVERITY": 2, "KLINCDT_ADDED": ADDED, "KLINCDT_BODY": body, "KLHST_WKS_HOSTNAME": host}


@pytest.mark.parametrize("task", sorted(VALID_PARAMS))
def test_a_well_formed_request_of_every_task_is_accepted(ksc_simulator, wire_to, task):
    host = ksc_simulator.host_id("DC01")

    answer = add(wire_to(), envelope_pdata(host, task, VALID_PARAMS[task]))

    assert answer == {"PxgRetVal": 1}
    assert json.loads(ksc_simulator.incidents()[0]["pData"]["KLINCDT_BODY"])["task"] == task


@pytest.mark.parametrize("task", sorted(MALFORMED_PARAMS))
def test_malformed_params_of_every_task_are_refused(ksc_simulator, wire_to, task):
    host = ksc_simulator.host_id("DC01")
    params, named = MALFORMED_PARAMS[task]

    answer = add(wire_to(), envelope_pdata(host, task, params))

    assert pxg_code(answer) == ERR_BAD_PARAM
    assert named in answer["PxgError"]["message"]
    assert ksc_simulator.incidents() == []


def test_an_empty_folder_scan_is_refused(ksc_simulator, wire_to):
    host = ksc_simulator.host_id("DC01")
    scan = [{"enabled": True, "path": "", "recursive": True, "type": 22}]

    assert "path is required" in add(wire_to(), envelope_pdata(host, "onDemandScan", scan))["PxgError"]["message"]


def _with(pdata: dict, **changes) -> dict:
    changed = {**pdata, **changes}
    return {key: value for key, value in changed.items() if value is not None}


def _body(host: str, **changes) -> str:
    envelope = {
        "targetHost": host,
        "task": "isolateHost",
        "params": {"action": 1},
        "responseEventIncident": True,
        "responseEventIncidentArea": "Kuma",
        **changes,
    }
    return json.dumps({key: value for key, value in envelope.items() if value is not None})


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda p, h: _with(p, KLINCDT_ADDED=None), "missing KLINCDT_ADDED"),
        (lambda p, h: _with(p, KLINCDT_BODY=None), "missing KLINCDT_BODY"),
        (lambda p, h: _with(p, KLINCDT_SEVERITY="2"), "KLINCDT_SEVERITY must be an integer"),
        (lambda p, h: _with(p, KLINCDT_SEVERITY=wire.Long(2)), "KLINCDT_SEVERITY must be an integer"),
        (lambda p, h: _with(p, KLINCDT_SEVERITY=9), "0 to 3"),
        (lambda p, h: {**wire.encode_params(p), "KLINCDT_ADDED": "2026-11-27T08:30:05Z"}, "must be a datetime value"),
        (
            lambda p, h: {**wire.encode_params(p), "KLINCDT_ADDED": {"type": "datetime", "value": "2026-11-27"}},
            "YYYY-MM-DDTHH:MM:SSZ",
        ),
        (lambda p, h: _with(p, KLINCDT_BODY={"task": "isolateHost"}), "KLINCDT_BODY must be a string"),
        (lambda p, h: _with(p, KLINCDT_BODY="isolate it"), "KLINCDT_BODY is not JSON"),
        (lambda p, h: _with(p, KLINCDT_BODY="[]"), "must be a JSON object"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body(h, task="rebootHost")), "Unknown task type"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body(h, responseEventIncident=None)), "missing responseEventIncident"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body(h, responseEventIncident="yes")), "must be true"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body(h, responseEventIncidentArea="")), "non-empty string"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body(h, extra=1)), "unexpected extra"),
        (lambda p, h: _with(p, KLINCDT_BODY=_body("another-host")), "targetHost must be"),
        (lambda p, h: _with(p, KLINCDT_PRIORITY=1), "unexpected KLINCDT_PRIORITY"),
        (lambda p, h: _with(p, KLINCDT_IS_HANDLED="false"), "must be a boolean"),
    ],
)
def test_a_malformed_incident_is_refused(ksc_simulator, wire_to, change, words):
    host = ksc_simulator.host_id("DC01")
    pdata = change(payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED), host)
    encoded = pdata if isinstance(pdata.get("KLINCDT_ADDED"), (str, dict)) else wire.encode_params(pdata)

    answer = wire_to().call("HostGroup.AddIncident", {"pData": encoded})

    assert pxg_code(answer) == ERR_BAD_PARAM
    assert words in answer["PxgError"]["message"]
    assert ksc_simulator.incidents() == []


def test_an_incident_for_an_unknown_host_is_refused(wire_to):
    pdata = payload.add_incident_data("isolateHost", "no-such-host", {"action": 1}, ADDED)

    assert pxg_code(add(wire_to(), pdata)) == ERR_NOT_FOUND


def test_updates_must_name_the_incidents_own_host(ksc_simulator, wire_to):
    connection = wire_to()
    host, other = ksc_simulator.host_id("DC01"), ksc_simulator.host_id("DC02")
    incident_id = add(connection, payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))["PxgRetVal"]

    def update(pdata):
        return connection.call("HostGroup.UpdateIncident", {"nId": incident_id, "pData": pdata})

    assert "must be present" in update({"KLINCDT_IS_HANDLED": False})["PxgError"]["message"]
    assert "another host" in update({"KLINCDT_IS_HANDLED": False, "KLHST_WKS_HOSTNAME": other})["PxgError"]["message"]
    assert "cannot update" in update({"KLINCDT_ID": 5, "KLHST_WKS_HOSTNAME": host})["PxgError"]["message"]
    assert update({"KLINCDT_IS_HANDLED": True, "KLHST_WKS_HOSTNAME": host}) == {}
    (incident,) = ksc_simulator.incidents()
    assert len(incident["updates"]) == 1


def test_the_incident_log_shows_what_was_received(ksc_simulator, wire_to):
    connection = wire_to()
    host = ksc_simulator.host_id("DC01")
    pdata = wire.encode_params(payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))
    incident_id = connection.call("HostGroup.AddIncident", {"pData": pdata})["PxgRetVal"]
    update = wire.encode_params(payload.update_incident_data(host))
    connection.call("HostGroup.UpdateIncident", {"nId": incident_id, "pData": update})
    connection.call("HostGroup.DeleteIncident", {"nId": incident_id})

    (incident,) = ksc_simulator.incidents()

    assert incident["id"] == incident_id and incident["pData"] == pdata and incident["deleted"] is True
    assert [entry["pData"] for entry in incident["updates"]] == [update]
    assert wire.parse_datetime(incident["received"]) <= dt.datetime.now(dt.UTC)


# --- searching and accessors ---


def find_incidents(connection: Wire, strfilter: str, **extra) -> list[dict]:
    answer = connection.call(
        "HostGroup.FindIncidents",
        {"strFilter": strfilter, "pFieldsToReturn": ["KLINCDT_ID", "KLINCDT_BODY"], **extra},
    )
    chunk = connection.call(
        "ChunkAccessor.GetItemsChunk", {"strAccessor": answer["strAccessor"], "nStart": 0, "nCount": 100}
    )
    return [wire.decode_value(item) for item in chunk["pChunk"]["KLCSP_ITERATOR_ARRAY"]]


def test_incident_filters_on_handled_body_and_time(ksc_simulator, wire_to):
    connection = wire_to()
    host = ksc_simulator.host_id("DC01")
    first = add(connection, payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))["PxgRetVal"]
    second = add(connection, payload.add_incident_data("isolateHost", host, {"action": 0}, ADDED))["PxgRetVal"]
    update = {"KLINCDT_IS_HANDLED": True, "KLHST_WKS_HOSTNAME": host}
    connection.call("HostGroup.UpdateIncident", {"nId": second, "pData": update})

    def ids(strfilter):
        return [row["KLINCDT_ID"] for row in find_incidents(connection, strfilter)]

    assert ids("KLINCDT_IS_HANDLED=1") == [second]  # Kaspersky's sample writes it without parentheses
    assert ids('(KLINCDT_BODY = "action 1")') == [first]  # full text: every term occurs
    assert ids('(&(KLINCDT_ADDED > T"2026-11-27 08:30:04")(KLINCDT_ADDED < T"2026-11-27 08:30:06"))') == [first, second]
    assert ids('(KLINCDT_ADDED > T"2026-11-27 08:30:05")') == []
    assert ids("(KLINCDT_ADDED < CURTIME(0))") == [first, second]
    assert ids("(KLINCDT_ID > 0)") == [first, second]


def test_host_filters_on_ip_group_bits_and_presence(ksc_simulator, wire_to):
    connection = wire_to()

    def names(strfilter, order=None):
        answer = connection.call(
            "HostGroup.FindHosts",
            {
                "wstrFilter": strfilter,
                "vecFieldsToReturn": ["KLHST_WKS_DN"],
                "vecFieldsToOrder": order or [{"type": "params", "value": {"Name": "KLHST_WKS_DN", "Asc": True}}],
                "pParams": {"KLGRP_FIND_FROM_CUR_VS_ONLY": True},
                "lMaxLifeTime": 100,
            },
        )
        chunk = connection.call(
            "ChunkAccessor.GetItemsChunk", {"strAccessor": answer["strAccessor"], "nStart": 0, "nCount": 100}
        )
        return [wire.decode_value(item)["KLHST_WKS_DN"] for item in chunk["pChunk"]["KLCSP_ITERATOR_ARRAY"]]

    assert names("(KLHST_WKS_IP_LONG = 168427530)") == ["DC01"]  # 10.10.0.10, first octet highest
    assert names('(name = "Domain Controllers")') == ["DC01", "DC02"]
    assert names('(&(name = "Lab")(KLHST_WKS_STATUS & 4 = 4))') == ["LAB-KIOSK [old]", "Spare PC *do not use*"]
    assert names('(&(KLHST_WKS_DN = "DC0?")(!(KLHST_WKS_DN = "DC02")))') == ["DC01"]
    assert names('(KLHST_WKS_DN = "LAB-KIOSK [[]old]")') == ["LAB-KIOSK [old]"]
    descending = [{"type": "params", "value": {"Name": "KLHST_WKS_DN", "Asc": False}}]
    assert names('(KLHST_WKS_DN = "dc*")', descending) == ["DC02", "DC01"]
    assert len(names("(KLHST_WKS_FQDN)")) == len(default_hosts())


def test_an_accessor_pages_counts_and_is_released(ksc_simulator, wire_to):
    connection = wire_to()
    found = connection.call(
        "HostGroup.FindHosts", {"wstrFilter": '(KLHST_WKS_DN = "TKY-WS-*")', "vecFieldsToReturn": ["KLHST_WKS_DN"]}
    )
    accessor = found["strAccessor"]

    assert found["PxgRetVal"] == 18
    assert connection.call("ChunkAccessor.GetItemsCount", {"strAccessor": accessor}) == {"PxgRetVal": 18}
    pages = [
        connection.call("ChunkAccessor.GetItemsChunk", {"strAccessor": accessor, "nStart": start, "nCount": 5})
        for start in (0, 5, 10, 15, 20)
    ]
    assert [len(page["pChunk"]["KLCSP_ITERATOR_ARRAY"]) for page in pages] == [5, 5, 5, 3, 0]
    assert pages[0]["pChunk"]["KLCSP_ITERATOR_ARRAY"][0] == {"type": "params", "value": {"KLHST_WKS_DN": "TKY-WS-0101"}}
    bad = {"strAccessor": accessor, "nStart": -1, "nCount": 5}
    assert pxg_code(connection.call("ChunkAccessor.GetItemsChunk", bad)) == ERR_BAD_PARAM

    assert connection.call("ChunkAccessor.Release", {"strAccessor": accessor}) == {}
    assert pxg_code(connection.call("ChunkAccessor.GetItemsCount", {"strAccessor": accessor})) == ERR_NOT_FOUND


def test_an_accessor_expires_after_its_lifetime(ksc_simulator, wire_to):
    connection = wire_to()
    found = connection.call(
        "HostGroup.FindHosts", {"wstrFilter": '(KLHST_WKS_DN = "*")', "vecFieldsToReturn": ["KLHST_WKS_DN"], "lMaxLifeTime": 60}
    )
    ksc_simulator.advance_clock(59)
    assert connection.call("ChunkAccessor.GetItemsCount", {"strAccessor": found["strAccessor"]})["PxgRetVal"] > 0

    ksc_simulator.advance_clock(2)

    answer = connection.call("ChunkAccessor.GetItemsCount", {"strAccessor": found["strAccessor"]})
    assert pxg_code(answer) == ERR_NOT_FOUND and "expired" in answer["PxgError"]["message"]


def test_host_values_travel_with_their_kscs_types(ksc_simulator, wire_to):
    host = ksc_simulator.host_id("DC01")
    fields = ["KLHST_WKS_IP_LONG", "KLHST_WKS_LAST_NAGENT_CONNECTED", "KLHST_WKS_GROUPID", "name"]

    info = wire_to().call("HostGroup.GetHostInfo", {"strHostName": host, "pFields2Return": fields})["PxgRetVal"]

    assert info["KLHST_WKS_IP_LONG"] == {"type": "long", "value": 168427530}
    assert info["KLHST_WKS_LAST_NAGENT_CONNECTED"]["type"] == "datetime"
    assert type(info["KLHST_WKS_GROUPID"]) is int and info["name"] == "Domain Controllers"


def test_large_answers_are_gzipped_for_clients_that_accept_it(wire_to):
    connection = wire_to()
    answer = connection.call(
        "HostGroup.FindHosts", {"wstrFilter": '(KLHST_WKS_DN = "*")', "vecFieldsToReturn": ["KLHST_WKS_DN", "KLHST_WKS_FQDN"]}
    )

    response = connection.post(
        "ChunkAccessor.GetItemsChunk", {"strAccessor": answer["strAccessor"], "nStart": 0, "nCount": 100}
    )

    assert response.headers["Content-Encoding"] == "gzip"
    assert len(response.json()["pChunk"]["KLCSP_ITERATOR_ARRAY"]) == len(default_hosts())


# --- faults ---


def test_fail_next_answers_that_status_exactly_n_times(ksc_simulator, wire_to):
    connection = wire_to()
    ksc_simulator.set_faults({"fail_next": 2, "status": 502})

    statuses = [connection.post("Session.Ping").status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_faults_can_target_methods_and_are_cleared_by_an_empty_object(ksc_simulator, wire_to):
    connection = wire_to()
    ksc_simulator.set_faults({"fail_next": 5, "methods": ["HostGroup.AddIncident"], "delay_ms": 150})

    host = ksc_simulator.host_id("DC01")
    pdata = {"pData": wire.encode_params(payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))}

    started = time.monotonic()
    assert connection.post("Session.Ping").status_code == 200  # not a targeted method, but delayed
    assert time.monotonic() - started >= 0.15
    assert connection.post("HostGroup.AddIncident", pdata).status_code == 503
    ksc_simulator.clear_faults()

    started = time.monotonic()
    assert connection.call("HostGroup.AddIncident", pdata) == {"PxgRetVal": 1}
    assert time.monotonic() - started < 0.15


def test_malformed_next_answers_something_that_is_not_json(ksc_simulator, wire_to):
    connection = wire_to()
    ksc_simulator.set_faults({"malformed_next": 1})

    response = connection.post("Session.Ping")

    assert response.status_code == 200 and response.text.startswith("<html>")
    assert connection.post("Session.Ping").json() == {}


def test_drop_after_add_stores_the_incident_and_hangs_up(ksc_simulator, wire_to):
    connection = wire_to()
    host = ksc_simulator.host_id("DC01")
    ksc_simulator.set_faults({"drop_after_add": 1})

    with pytest.raises(requests.ConnectionError):
        add(connection, payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))

    assert len(ksc_simulator.incidents()) == 1


def test_add_delay_stores_the_incident_after_the_client_gave_up(ksc_simulator, wire_to):
    connection = wire_to()
    host = ksc_simulator.host_id("DC01")
    pdata = {"pData": wire.encode_params(payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))}
    ksc_simulator.set_faults({"add_delay_ms": 1200})

    started = time.monotonic()
    assert connection.post("Session.Ping").status_code == 200  # other calls are not delayed
    assert time.monotonic() - started < 1.0
    with pytest.raises(requests.exceptions.ReadTimeout):
        connection.http.post(
            f"{ksc_simulator.url}/api/v1.0/HostGroup.AddIncident", data=json.dumps(pdata).encode(), timeout=(5, 0.4)
        )
    assert ksc_simulator.incidents() == []  # KSC is still "processing" it

    deadline = time.monotonic() + 5
    while not ksc_simulator.incidents() and time.monotonic() < deadline:
        time.sleep(0.05)
    (incident,) = ksc_simulator.incidents()
    assert incident["pData"]["KLHST_WKS_HOSTNAME"] == host and not incident["deleted"]


def test_reject_login_refuses_even_the_right_password(ksc_simulator, wire_to):
    ksc_simulator.set_faults({"reject_login": True})

    assert wire_to(logged_in=False).login().status_code == 401
    ksc_simulator.clear_faults()
    assert wire_to(logged_in=False).login().status_code == 200


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_next": -1},
        {"status": 42},
        {"reject_login": 1},
        {"explode": True},
        {"methods": "AddIncident"},
        {"add_delay_ms": -5},
        {"add_delay_ms": "slow"},
    ],
)
def test_nonsense_faults_are_refused(ksc_simulator, faults):
    with pytest.raises(requests.HTTPError) as caught:
        ksc_simulator.set_faults(faults)
    assert caught.value.response.status_code == 400


def test_a_client_that_refuses_the_certificate_does_not_harm_the_server(ksc_simulator, wire_to):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{ksc_simulator.url}/_simulator/stats", verify=True, timeout=5)

    assert wire_to().call("Session.Ping") == {}


# --- inventory ---


def test_the_default_inventory_is_about_fifty_distinct_realistic_hosts():
    hosts = default_hosts()

    assert 45 <= len(hosts) <= 60
    assert len({host.id for host in hosts}) == len(hosts)
    assert len({host.display_name for host in hosts}) == len(hosts)
    assert all(len(host.id) == 36 and host.id.count("-") == 4 for host in hosts)
    assert [host.id for host in default_hosts()] == [host.id for host in hosts]  # stable across runs


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"id": "x"}, "JSON array"),
        ([{"display_name": "A"}], "id is required"),
        ([{"id": "a", "display_name": "A"}, {"id": "a", "display_name": "B"}], "appears twice"),
        ([{"id": "a", "display_name": "A", "ip": "10.0.0.256"}], "not an IPv4 address"),
        ([{"id": "a", "display_name": "A", "last_seen": "yesterday"}], "last_seen"),
        ([{"id": "a", "display_name": "A", "colour": "red"}], "unknown keys colour"),
        ([{"id": "a", "display_name": "A\nB"}], "control characters"),
    ],
)
def test_a_bad_hosts_file_is_refused_naming_the_entry(data, words):
    with pytest.raises(InventoryError, match=words):
        parse_hosts(data)


def _start_command(*extra: str) -> tuple[subprocess.Popen, str, list[str]]:
    """`manage.py ksc_simulator` as a real process; its URL and output once it says it is ready."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "manage.py", "ksc_simulator", "--port", "0", "--user", "u", "--password", "p-123"]
    process = subprocess.Popen(
        [*command, *extra], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.startswith("KSC simulator ready on "):
            return process, line.strip().removeprefix("KSC simulator ready on "), lines
    process.kill()
    raise AssertionError(f"the simulator did not start: {lines}")


def test_the_command_serves_a_hosts_file_and_says_when_ready(tmp_path):
    hosts_file = tmp_path / "hosts.json"
    hosts_file.write_text(
        json.dumps([{"id": "0a1b", "display_name": "ONLY-ONE", "ip": "192.0.2.7", "group": "Test", "fqdn": "one.test"}])
    )
    process, url, lines = _start_command("--hosts", str(hosts_file), "--cert-dir", str(tmp_path / "tls"))
    try:
        assert url.startswith("https://127.0.0.1:"), lines
        assert f"certificate: {tmp_path / 'tls' / 'ksc-simulator.pem'} (self-signed, generated now)" in lines
        assert not any("p-123" in line for line in lines)

        http = requests.Session()
        http.trust_env = False
        http.verify = str(tmp_path / "tls" / "ksc-simulator.pem")
        hosts = http.get(f"{url}/_simulator/hosts", timeout=5).json()
        assert [host["KLHST_WKS_DN"] for host in hosts] == ["ONLY-ONE"]
        assert hosts[0]["KLHST_WKS_IP_LONG"] == {"type": "long", "value": 3221225991}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "KSC simulator stopped" in output


def _run_command(*args: str) -> subprocess.CompletedProcess:
    """`manage.py ksc_simulator` with these arguments, expected to stop on its own (a refusal)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    command = [sys.executable, "manage.py", "ksc_simulator", "--user", "u", "--password", "p", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)


def test_the_command_refuses_a_bad_hosts_file(tmp_path):
    hosts_file = tmp_path / "hosts.json"
    hosts_file.write_text("[{]")
    result = _run_command("--hosts", str(hosts_file))

    assert result.returncode != 0
    assert "--hosts" in result.stderr and "not JSON" in result.stderr


def test_a_killed_simulator_started_again_with_state_keeps_its_incidents(tmp_path):
    from types import SimpleNamespace

    state = tmp_path / "ksc-state.json"
    tls = tmp_path / "tls"
    first, url, _ = _start_command("--state", str(state), "--cert-dir", str(tls))
    try:
        ksc = SimpleNamespace(url=url, user="u", password="p-123", cert_path=tls / "ksc-simulator.pem")
        connection = Wire(ksc)
        assert connection.login().status_code == 200
        host = default_hosts()[0].id
        kept = add(connection, payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))["PxgRetVal"]
        removed = add(connection, payload.add_incident_data("isolateHost", host, {"action": 0}, ADDED))["PxgRetVal"]
        update = {"KLINCDT_IS_HANDLED": False, "KLHST_WKS_HOSTNAME": host}
        connection.call("HostGroup.UpdateIncident", {"nId": kept, "pData": update})
        connection.call("HostGroup.DeleteIncident", {"nId": removed})
        # KES turned the kept incident into a [Response] task (the simulator makes it at once)
        listed = connection.http.get(f"{url}/_simulator/tasks", timeout=5).json()["tasks"]
        [task] = [t for t in listed if t["incident"] == kept]
        connection.http.close()
    finally:
        first.kill()  # SIGKILL: no chance to save anything on the way out
        first.communicate(timeout=10)

    second, url, _ = _start_command(
        "--state",
        str(state),
        "--cert",
        str(tls / "ksc-simulator.pem"),
        "--key",
        str(tls / "ksc-simulator.key"),
    )
    try:
        ksc = SimpleNamespace(url=url, user="u", password="p-123", cert_path=tls / "ksc-simulator.pem")
        connection = Wire(ksc)
        incidents = connection.http.get(f"{url}/_simulator/incidents", timeout=5).json()
        assert [(i["id"], i["deleted"], len(i["updates"])) for i in incidents] == [(kept, False, 1), (removed, True, 0)]
        assert connection.login().status_code == 200
        found = connection.call(
            "HostGroup.FindIncidents",
            {"strFilter": f'(KLHST_WKS_HOSTNAME = "{host}")', "pFieldsToReturn": ["KLINCDT_ID", "KLINCDT_ADDED"]},
        )
        assert found["PxgRetVal"] == 1  # the kept one, with its decoded time; the deleted one stays deleted
        # the id counter survived too: no id is given out twice
        new = add(connection, payload.add_incident_data("isolateHost", host, {"action": 1}, ADDED))["PxgRetVal"]
        assert new == removed + 1
        # the [Response] task survived with its id: the portal's outcome of it is not "task gone"
        listed = connection.http.get(f"{url}/_simulator/tasks", timeout=5).json()["tasks"]
        assert [(t["id"], t["name"]) for t in listed if t["incident"] == kept] == [(task["id"], task["name"])]
        assert max(int(t["id"]) for t in listed) > int(task["id"]), "task ids are not given out twice either"
        connection.http.close()
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=10)


@pytest.mark.parametrize(
    ("content", "words"),
    [("{not json", "cannot read the simulator state"), ('{"x": 1}', "cannot read the simulator state")],
)
def test_the_command_refuses_an_unreadable_state_file(tmp_path, content, words):
    state = tmp_path / "state.json"
    state.write_text(content)
    result = _run_command("--state", str(state))

    assert result.returncode != 0
    assert words in result.stderr
    assert state.read_text() == content  # left as it was


def test_the_command_refuses_a_state_file_it_cannot_write(tmp_path):
    result = _run_command("--port", "0", "--state", str(tmp_path / "no-such-dir" / "state.json"))

    assert result.returncode != 0
    assert "cannot start the KSC simulator" in result.stderr
