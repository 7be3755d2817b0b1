"""The simulator's hierarchy itself: topology checks, the state file keeping it, the control endpoints. No Django."""

from __future__ import annotations

import pytest
import requests

from ksc_client.builtin import BuiltinKscClient
from ksc_simulator.hierarchy import TopologyError, parse_secondary
from ksc_simulator.server import KscSimulator
from tests.fixtures.simulated_ksc import config_for
from tests.support.ksc_payloads import isolate


def test_secondaries_are_written_id_name_and_parent():
    assert parse_secondary("11:emea") == (11, "emea", None)
    assert parse_secondary("21:emea-paris:11") == (21, "emea-paris", 11)
    for bad in ("emea", "x:emea", "11:", "11:a:b", "11:a:1:2", ""):
        with pytest.raises(TopologyError, match="ID:NAME"):
            parse_secondary(bad)


@pytest.mark.parametrize(
    "topology, words",
    [
        ({"secondaries": [(21, "paris", 11)]}, "its parent 11 is not a secondary given"),
        ({"secondaries": [(1, "a", 2), (2, "b", 1)]}, "loop"),
        ({"secondaries": [(1, "a", None), (1, "b", None)]}, "id 1 is given twice"),
        ({"vservers": ["t", "t"]}, "'t' is given twice"),
        ({"vservers": [""]}, "needs a name"),
        ({"secondaries": [(1, "a", None)], "failing": [2]}, "2 is not a secondary given"),
    ],
)
def test_a_topology_that_cannot_be_served_is_refused_naming_the_problem(topology, words, ksc_certificate):
    cert_path, key_path = ksc_certificate
    with pytest.raises(TopologyError, match=words):
        KscSimulator(
            user="u",
            password="p",
            port=0,
            cert_path=cert_path,
            key_path=key_path,
            vservers=topology.get("vservers"),
            secondaries=topology.get("secondaries"),
            failing_secondaries=topology.get("failing"),
        )


def test_without_topology_the_simulator_is_one_server_as_before(ksc_simulator):
    assert ksc_simulator.topology() == {"vservers": [], "secondaries": [], "servers": {"primary": 53}}
    with BuiltinKscClient(config_for(ksc_simulator)) as ksc:
        assert ksc.child_servers() == []


def test_the_state_file_keeps_every_servers_incidents_and_the_topology(tmp_path, ksc_certificate):
    cert_path, key_path = ksc_certificate
    state = tmp_path / "ksc-state.json"

    def start(**topology) -> KscSimulator:
        return KscSimulator(
            user="edr", password="pw-1", port=0, cert_path=cert_path, key_path=key_path, state_file=state, **topology
        ).start()

    first = start(vservers=["tenant-a"], secondaries=[(11, "emea", None)], failing_secondaries=[])
    try:
        host = next(h.id for h in first.state.topology.secondaries[11].state.hosts.values())
        config = config_for(_Running(first), route=(11,))
        with BuiltinKscClient(config) as ksc:
            incident_id = ksc.add_incident(isolate(host))
    finally:
        first.stop()

    again = start()  # no topology options: the saved one is served
    try:
        topology = again.state.topology
        assert list(topology.vservers) == ["tenant-a"] and list(topology.secondaries) == [11]
        kept = topology.secondaries[11].state.incidents
        assert list(kept) == [incident_id] and not again.state.incidents
        with BuiltinKscClient(config_for(_Running(again), route=(11,))) as ksc:
            assert ksc.add_incident(isolate(host)) == incident_id + 1  # the id counter kept too
    finally:
        again.stop()

    other = start(vservers=["tenant-b"])  # options given: they win, and the other servers' data is kept aside
    try:
        assert list(other.state.topology.vservers) == ["tenant-b"] and not other.state.topology.secondaries
    finally:
        other.stop()
    back = start(secondaries=[(11, "emea", None)])
    try:
        assert len(back.state.topology.secondaries[11].state.incidents) == 2
    finally:
        back.stop()


def test_the_control_endpoints_take_a_server_and_refuse_an_unknown_one(ksc_hierarchy):
    assert len(ksc_hierarchy.hosts("secondary:21")) == 6
    assert ksc_hierarchy.hosts("vserver:tenant-a")[0]["KLHST_WKS_DN"].startswith("TENANT-A-")
    with pytest.raises(requests.HTTPError) as refused:
        ksc_hierarchy.hosts("secondary:99")
    assert refused.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as refused:
        ksc_hierarchy.set_failing([99])
    assert refused.value.response.status_code == 400
    assert [s["failing"] for s in ksc_hierarchy.set_failing([21])["secondaries"]] == [False, True, False]


class _Running:
    """config_for's view of an in-process simulator."""

    def __init__(self, simulator: KscSimulator):
        self.host, self.port, self.cert_path = simulator.host, simulator.port, simulator.cert_path
        self.user, self.password = "edr", "pw-1"



def test_a_refused_topology_leaves_the_state_file_as_it_was(tmp_path, ksc_certificate):
    cert_path, key_path = ksc_certificate
    state = tmp_path / "ksc-state.json"
    common = {"user": "edr", "password": "pw-1", "port": 0, "cert_path": cert_path, "key_path": key_path}
    KscSimulator(state_file=state, secondaries=[(11, "emea", None)], **common).start().stop()
    before = state.read_bytes()

    with pytest.raises(TopologyError, match="its parent 7"):
        KscSimulator(state_file=state, secondaries=[(21, "paris", 7)], **common)

    assert state.read_bytes() == before
    again = KscSimulator(state_file=state, **common).start()  # and the saved topology is served again
    try:
        assert list(again.state.topology.secondaries) == [11]
    finally:
        again.stop()
