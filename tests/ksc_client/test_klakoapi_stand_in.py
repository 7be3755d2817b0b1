"""The suite's KlAkOAPI stand-in behaves as KlAkOAPI 15.1 does, against the simulator over HTTPS.

The contract tests of the ``klakoapi`` client (tests/ksc_client/test_contract.py and
others, parametrised by ``backend``) run through it when Kaspersky's package is
absent; these tests pin down the parts of KlAkOAPI's behaviour the portal relies
on, so that the stand-in cannot drift into something easier than the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ksc_client import filters

KlAkOAPI = pytest.importorskip("KlAkOAPI.AdmServer", reason="neither KlAkOAPI nor its stand-in can be imported")
from KlAkOAPI.AdmServer import KlAkAdmServer  # noqa: E402
from KlAkOAPI.ChunkAccessor import KlAkChunkAccessor  # noqa: E402
from KlAkOAPI.Error import KlAkError, KlAkResponseError  # noqa: E402
from KlAkOAPI.HostGroup import KlAkHostGroup  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EVERY_HOST = '(KLHST_WKS_DN="*")'


def connect(simulator, **changes):
    values = {"user_account": simulator.user, "password": simulator.password, "internal_user": True}
    values.update(changes)
    server = KlAkAdmServer.Create(simulator.url, verify=str(simulator.cert_path), **values)
    # As with KlAkOAPI: `verify` covers the login only; later calls use the session's own setting.
    server.session.verify = str(simulator.cert_path)
    server.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the simulator's certificate
    return server


def test_a_login_then_a_search_through_the_accessor(ksc_simulator):
    server = connect(ksc_simulator)
    assert server.connected
    found = KlAkHostGroup(server).FindHosts(
        wstrFilter=EVERY_HOST,
        vecFieldsToReturn=["KLHST_WKS_HOSTNAME", "KLHST_WKS_DN"],
        vecFieldsToOrder=[],
        pParams={},
        lMaxLifeTime=60,
    )
    count, accessor = found.RetVal(), found.OutPar("strAccessor")
    assert count == len(ksc_simulator.hosts()) and isinstance(accessor, str)
    chunk = KlAkChunkAccessor(server).GetItemsChunk(strAccessor=accessor, nStart=0, nCount=count)
    names = {row["value"]["KLHST_WKS_DN"] for row in chunk.respose_text["pChunk"]["KLCSP_ITERATOR_ARRAY"]}
    assert names == {host["KLHST_WKS_DN"] for host in ksc_simulator.hosts()}
    server.Disconnect()
    assert not server.connected


def test_a_refused_login_raises_the_response_error(ksc_simulator):
    refused = ksc_simulator.stats()["refused_logins"]
    with pytest.raises(KlAkResponseError):
        connect(ksc_simulator, password="wrong")
    assert ksc_simulator.stats()["refused_logins"] == refused + 1


def test_the_virtual_server_goes_in_the_login_header(ksc_simulator):
    # The simulator serves no virtual server: a login naming one is refused, proof the header was sent.
    refused = ksc_simulator.stats()["refused_logins"]
    with pytest.raises(KlAkResponseError):
        connect(ksc_simulator, vserver="tenant-a")
    assert ksc_simulator.stats()["refused_logins"] == refused + 1


def test_a_refused_gateway_login_raises_nothing_and_is_not_connected(ksc_simulator):
    server = KlAkAdmServer.CreateGateway(ksc_simulator.url, "not-a-key", verify=str(ksc_simulator.cert_path))
    assert server.connected is False  # KlAkOAPI's trap: callers must check it


def test_a_misspelt_parameter_fails_before_anything_is_sent(ksc_simulator):
    server = connect(ksc_simulator)
    calls = dict(ksc_simulator.stats()["calls"])
    with pytest.raises(TypeError, match="strFilter"):
        KlAkHostGroup(server).FindHosts(
            strFilter=EVERY_HOST, vecFieldsToReturn=[], vecFieldsToOrder=[], pParams={}, lMaxLifeTime=60
        )
    with pytest.raises(TypeError, match="lMaxLifeTime"):
        KlAkHostGroup(server).FindHosts(wstrFilter=EVERY_HOST, vecFieldsToReturn=[], vecFieldsToOrder=[], pParams={})
    assert ksc_simulator.stats()["calls"] == calls


def test_a_ksc_error_is_the_klak_error_with_its_code(ksc_simulator):
    server = connect(ksc_simulator)
    with pytest.raises(KlAkError) as caught:
        KlAkHostGroup(server).FindIncidents(
            strFilter=filters.equals("KLINCDT_ID", 1) + ")", pFieldsToReturn=[], pFieldsToOrder=[], lMaxLifeTime=60
        )
    assert isinstance(caught.value.code, int) and caught.value.code != 0


def test_production_code_never_reaches_for_the_stand_in():
    for folder in ("portal", "responses", "accounts", "notifications", "ksc_client", "ksc_simulator"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "klakoapi_stand_in" not in path.read_text(encoding="utf-8"), path


def test_kasperskys_own_gateway_sequence_reaches_a_two_level_secondary(ksc_hierarchy):
    """sample_spread_key_to_slaves.py's steps, one level deeper, as KlAkOAPI's users write them."""
    from KlAkOAPI.AsyncActionStateChecker import KlAkAsyncActionStateChecker
    from KlAkOAPI.CgwHelper import KlAkCgwHelper
    from KlAkOAPI.GatewayConnection import KlAkGatewayConnection
    from KlAkOAPI.Params import paramParams
    from KlAkOAPI.ServerHierarchy import KlAkServerHierarchy

    def gateway(key):
        server = KlAkAdmServer.CreateGateway(ksc_hierarchy.url, key, str(ksc_hierarchy.cert_path))
        server.session.verify, server.session.trust_env = str(ksc_hierarchy.cert_path), False
        return server

    primary = connect(ksc_hierarchy)
    children = KlAkServerHierarchy(primary).GetChildServers(-1).RetVal()
    emea = next(child for child in children if child["KLSRVH_SRV_DN"] == "emea")
    assert [child["KLSRVH_SRV_DN"] for child in children] == ["emea", "apac"]
    locations = [paramParams(KlAkCgwHelper(primary).GetSlaveServerLocation(emea["KLSRVH_SRV_ID"]).RetVal())]
    key = KlAkGatewayConnection(primary).PrepareGatewayConnection(locations).OutPar("wstrAuthKey")
    level1 = gateway(key)
    assert level1.connected
    assert gateway(key).connected is False  # the key was used: refused, and nothing raised

    locations.append(paramParams(KlAkCgwHelper(level1).GetSlaveServerLocation(21).RetVal()))
    level2 = gateway(KlAkGatewayConnection(primary).PrepareGatewayConnection(locations).OutPar("wstrAuthKey"))
    assert level2.connected
    answer = KlAkHostGroup(level2).FindHosts(EVERY_HOST, ["KLHST_WKS_DN"], [], {}, 100)
    rows = KlAkChunkAccessor(level2).GetItemsChunk(answer.OutPar("strAccessor"), 0, 100).OutPar("pChunk")
    names = sorted(row["KLHST_WKS_DN"] for row in rows["KLCSP_ITERATOR_ARRAY"])
    assert names and all(name.startswith("EMEA-PARIS-") for name in names)

    request = KlAkHostGroup(primary).FindHostsAsync(EVERY_HOST, ["KLHST_WKS_DN"], [], {"KLSRVH_SLAVE_REC_DEPTH": 2}, 100)
    action = request.OutPar("strRequestId")
    while not KlAkAsyncActionStateChecker(primary).CheckActionState(action).OutPar("bFinalized"):
        pass
    found = KlAkHostGroup(primary).FindHostsAsyncGetAccessor(action)
    assert found.RetVal() == 53 + 12 + 18  # the primary, its two virtual servers, three secondaries
    assert len(found.OutPar("pFailedSlavesInfo")["KLGRP_FAILED_SLAVES_PARAMS"]) == 0
