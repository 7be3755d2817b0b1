"""Several servers in one client: virtual servers, secondaries through the primary's gateway, searches.

Both clients (built-in and KlAkOAPI: Kaspersky's package when installed, else the suite's stand-in)
against the simulator over HTTPS, serving the HIERARCHY of tests/fixtures/simulated_ksc.py. No Django.
"""

from __future__ import annotations

import base64

import pytest
import requests

from ksc_client import KscConfig
from ksc_client.attributes import DISPLAY_NAME, HOST_ID, INCIDENT_HOST
from ksc_client.builtin import BuiltinKscClient
from ksc_client.client import ChildServer, FailedSecondary
from ksc_client.errors import KscAuthError, KscCallError, KscGatewayRefused, KscUnavailable
from ksc_client.klakoapi import KlAkOApiKscClient
from tests.fixtures.simulated_ksc import config_for
from tests.support.ksc_payloads import isolate

BACKENDS = {"builtin": BuiltinKscClient, "klakoapi": KlAkOApiKscClient}


def client(backend: str, config: KscConfig):
    return BACKENDS[backend](config)


def incident_counts(simulator) -> dict[str, int]:
    servers = simulator.topology()["servers"]
    return {name: len(simulator.incidents(name)) for name in servers}


# --- virtual servers ---


def test_an_incident_on_a_virtual_server_lands_there_only(ksc_hierarchy, backend):
    host = ksc_hierarchy.host_id("TENANT-A-WS-02", "vserver:tenant-a")
    with client(backend, config_for(ksc_hierarchy, name="tenant-a", vserver="tenant-a")) as ksc:
        assert [h.display_name for h in ksc.find_hosts("WS-02")] == ["TENANT-A-WS-02"]  # its hosts, no others
        incident_id = ksc.add_incident(isolate(host))

    assert incident_counts(ksc_hierarchy) == {
        "primary": 0,
        "vserver:tenant-a": 1,
        "vserver:tenant-b": 0,
        "secondary:11": 0,
        "secondary:21": 0,
        "secondary:12": 0,
    }
    (incident,) = ksc_hierarchy.incidents("vserver:tenant-a")
    assert incident["id"] == incident_id and incident["pData"]["KLHST_WKS_HOSTNAME"] == host


def test_the_virtual_server_goes_base64_on_the_login_only(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy, vserver="tenant-b")) as ksc:
        ksc.find_hosts("WS")
        ksc.find_hosts("SRV")
    # Logged in once, to tenant-b, and no later call repeated the header; a host of tenant-a is not there.
    assert ksc_hierarchy.stats("vserver:tenant-b")["logins"] == 1
    assert ksc_hierarchy.stats().get("vserver_header_on_calls", 0) == 0
    with client(backend, config_for(ksc_hierarchy, vserver="tenant-b")) as ksc:
        assert ksc.find_hosts("TENANT-A") == []
    assert KscConfig(url="https://k:1", vserver="tenant-b").vserver_header() == base64.b64encode(b"tenant-b").decode()


def test_a_virtual_server_that_does_not_exist_refuses_the_login_and_the_error_names_the_server(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy, name="tenant-z", vserver="tenant-z")) as ksc:
        with pytest.raises(KscAuthError) as refused:
            ksc.find_hosts("WS")
    assert refused.value.server == "tenant-z"
    assert "[KSC server 'tenant-z']" in str(refused.value)
    assert refused.value.details()["server"] == "tenant-z"


# --- secondaries through the gateway ---


def test_an_incident_on_a_two_level_secondary_lands_there_only(ksc_hierarchy, backend):
    host = ksc_hierarchy.host_id("EMEA-PARIS-WS-03", "secondary:21")
    config = config_for(ksc_hierarchy, name="emea-paris", route=(11, 21))
    with client(backend, config) as ksc:
        assert [h.id for h in ksc.find_hosts("EMEA-PARIS-WS-03")] == [host]
        incident_id = ksc.add_incident(isolate(host))
        ksc.update_incident(incident_id, {INCIDENT_HOST: host, "KLINCDT_IS_HANDLED": False})

    counts = incident_counts(ksc_hierarchy)
    assert counts.pop("secondary:21") == 1
    assert set(counts.values()) == {0}
    # Through the primary: a gateway login for level 1 (to ask it for level 2's location), then level 2.
    primary = ksc_hierarchy.stats()
    assert primary["gateway_logins"] == 2
    assert primary["calls"]["GatewayConnection.PrepareGatewayConnection"] == 2
    assert ksc_hierarchy.stats("secondary:11")["calls"]["CgwHelper.GetSlaveServerLocation"] == 1
    assert "HostGroup.AddIncident" not in ksc_hierarchy.stats("secondary:11")["calls"]


def test_the_gateway_sequence_builds_a_fresh_list_of_locations_in_order(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy, route=(11, 21))) as ksc:
        first = ksc.gateway_key()
        locations = ksc.gateway_locations
        second = ksc.gateway_key()
        assert first != second  # a new key every time
        assert ksc.gateway_locations is not locations and len(ksc.gateway_locations) == 2
        assert all(item["type"] == "params" for item in ksc.gateway_locations)


def test_a_gateway_key_is_good_for_one_login_within_60_seconds(ksc_hierarchy, ksc_clock):
    def gateway_login(key: str) -> int:
        with requests.Session() as http:
            http.trust_env = False
            answer = http.post(
                f"{ksc_hierarchy.url}/api/v1.0/login",
                headers={"Authorization": f"KSCGW {key}", "X-KSC-VServer": "", "Content-Type": "application/json"},
                verify=str(ksc_hierarchy.cert_path),
                timeout=5,
            )
        return answer.status_code

    with client("builtin", config_for(ksc_hierarchy, route=(12,))) as ksc:
        key = ksc.gateway_key()
        assert gateway_login(key) == 200
        assert gateway_login(key) == 401  # used: never again

        late = ksc.gateway_key()
        ksc_clock.advance(61)
        assert gateway_login(late) == 401  # expired

        fresh = ksc.gateway_key()
        ksc_clock.advance(59)
        assert gateway_login(fresh) == 200
    assert ksc_hierarchy.stats()["refused_gateway_logins"] == 2


def test_a_lost_session_prepares_a_new_key(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy, route=(12,))) as ksc:
        ksc.find_hosts("APAC")
        before = ksc_hierarchy.stats()
        ksc_hierarchy.expire_sessions()  # every login and key dies, as in a KSC restart

        assert [h.display_name for h in ksc.find_hosts("APAC-SRV-01")] == ["APAC-SRV-01"]
    after = ksc_hierarchy.stats()
    prepared = "GatewayConnection.PrepareGatewayConnection"
    assert after["calls"][prepared] > before["calls"][prepared]
    assert after["gateway_logins"] == before["gateway_logins"] + 1
    assert after["refused_gateway_logins"] == before.get("refused_gateway_logins", 0)  # no key was reused


@pytest.mark.parametrize("own_session", [True, False], ids=["own-session", "CreateGateway"])
def test_a_refused_gateway_login_is_told_through_connected_with_klakoapi(ksc_hierarchy, own_session, monkeypatch):
    pytest.importorskip("KlAkOAPI.AdmServer", reason="neither KlAkOAPI nor its stand-in can be imported")
    ksc_hierarchy.simulator.state.topology.key_ttl = 0  # every key has expired by the time it is used
    monkeypatch.setattr(KlAkOApiKscClient, "login_with_own_session", own_session)
    with client("klakoapi", config_for(ksc_hierarchy, name="apac", route=(12,))) as ksc:
        with pytest.raises(KscGatewayRefused) as refused:
            ksc.find_hosts("APAC")
    assert refused.value.retryable and refused.value.server == "apac"
    assert "refused the gateway login to secondary 12" in str(refused.value)


def test_a_secondary_that_does_not_answer_is_unavailable(ksc_hierarchy, backend):
    ksc_hierarchy.set_failing([12])
    with client(backend, config_for(ksc_hierarchy, name="apac", route=(12,))) as ksc:
        with pytest.raises((KscUnavailable, KscGatewayRefused)) as failed:
            ksc.find_hosts("APAC")
    assert failed.value.retryable and "secondary 12" in str(failed.value)


def test_an_unknown_secondary_is_refused_by_its_parent(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy, name="nowhere", route=(11, 99))) as ksc:
        with pytest.raises(KscCallError) as refused:
            ksc.find_hosts("X")
    assert refused.value.code == 1183 and "99" in str(refused.value)
    assert refused.value.server == "nowhere"  # asked of secondary 11 on the way, named after the server meant


# --- the hierarchy seen from the primary ---


def test_child_servers_are_the_primarys_secondaries(ksc_hierarchy, backend):
    with client(backend, config_for(ksc_hierarchy)) as ksc:
        children = ksc.child_servers()
    assert [(child.id, child.display_name) for child in children] == [(11, "emea"), (12, "apac")]
    assert all(isinstance(child, ChildServer) and child.instance_id for child in children)
    with client(backend, config_for(ksc_hierarchy, route=(11,))) as emea:
        assert [child.display_name for child in emea.child_servers()] == ["emea-paris"]


def test_an_async_search_reaches_the_secondaries_and_names_those_that_did_not_answer(ksc_hierarchy, backend):
    ksc_hierarchy.set_failing([12])
    with client(backend, config_for(ksc_hierarchy)) as ksc:
        found = ksc.find_hosts_async('(KLHST_WKS_DN="*-WS-02")', [HOST_ID, DISPLAY_NAME], depth=2)
        own = ksc.find_hosts_async('(KLHST_WKS_DN="*-WS-02")', [HOST_ID, DISPLAY_NAME], depth=0)
        everywhere = ksc.find_hosts_async(
            '(KLHST_WKS_DN="TENANT-*")', [DISPLAY_NAME], depth=0, current_vs_only=False, limit=None
        )

    names = sorted(row[DISPLAY_NAME] for row in found.rows)
    assert names == ["EMEA-PARIS-WS-02", "EMEA-WS-02"]
    assert found.failed_secondaries == [FailedSecondary(id=12, display_name="apac")]
    assert own.rows == [] and own.failed_secondaries == []
    assert len(everywhere.rows) == 12  # six hosts on each virtual server
    assert ksc_hierarchy.stats()["open_accessors"] == 0  # every accessor released
