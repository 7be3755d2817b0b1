"""The suite's KlAkOAPI stand-in behaves as KlAkOAPI 15.1 does, against the simulator over HTTPS.

The contract tests of the ``klakoapi`` client (tests/test_ksc_client.py and
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
