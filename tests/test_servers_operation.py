"""Per-server operation (issue 26, point 6): one KSC server down never stops the others.

Two simulators over HTTPS as servers ``east`` and ``west`` (tests/fixtures/tenants.py). They
hold the same host ids (the simulator's inventory): a host id is unique per server only, and
each request reaches exactly its own server.
"""

from __future__ import annotations

from accounts import tenants
from responses import outcomes, workflow
from responses.models import OutcomeState, ResponseOutcome, ResponseRequest, Status
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request


def approved_on(server: str, simulator, alice, bob) -> ResponseRequest:
    host = simulator.hosts()[0]
    rr = file_request(
        user=alice,
        server=server,
        task="isolateHost",
        target_host=host["KLHST_WKS_HOSTNAME"],
        params={"action": 1},
        justification=f"C2 traffic seen on {server}",
    )
    return workflow.approve(rr, user=bob, comment="go")


def test_each_request_reaches_exactly_its_own_server(two_ksc_servers, alice, bob):
    for user in (alice, bob):
        tenants.set_scope(user, every_server=True, servers=[])
    east = approved_on("east", two_ksc_servers.east, alice, bob)
    west = approved_on("west", two_ksc_servers.west, alice, bob)
    assert east.target_host == west.target_host  # the same id, on two servers: two hosts

    run_worker()

    east.refresh_from_db()
    west.refresh_from_db()
    assert (east.status, west.status) == (Status.SUBMITTED, Status.SUBMITTED)
    east_incidents = two_ksc_servers.east.incidents()
    west_incidents = two_ksc_servers.west.incidents()
    assert len(east_incidents) == len(west_incidents) == 1
    assert east.ksc_incident_id == east_incidents[0]["id"]
    assert west.ksc_incident_id == west_incidents[0]["id"]
    # The simulators number incidents alike: the same id on two servers is allowed (unique per server).
    assert east.ksc_incident_id == west.ksc_incident_id


def test_one_server_down_leaves_the_other_submitting(two_ksc_servers, alice, bob):
    for user in (alice, bob):
        tenants.set_scope(user, every_server=True, servers=[])
    two_ksc_servers.west.simulator.stop()
    # Filed with the host unchecked (west cannot be asked), as the portal files when KSC is down.
    west = workflow.approve(
        file_request(
            user=alice,
            server="west",
            task="isolateHost",
            target_host=two_ksc_servers.east.hosts()[0]["KLHST_WKS_HOSTNAME"],
            params={"action": 1},
            justification="C2 traffic seen on west",
        ),
        user=bob,
        comment="go",
    )
    east = approved_on("east", two_ksc_servers.east, alice, bob)

    run_worker()

    east.refresh_from_db()
    west.refresh_from_db()
    assert east.status == Status.SUBMITTED
    assert len(two_ksc_servers.east.incidents()) == 1  # west's request never went to east
    assert west.status in (Status.FAILED, Status.QUEUED) and west.ksc_incident_id is None
    assert west.attempts >= 1 and "west" not in west.last_error.replace("server 'west'", "")


def test_the_outcome_sweep_follows_one_server_while_the_other_is_down(two_ksc_servers, alice, bob):
    for user in (alice, bob):
        tenants.set_scope(user, every_server=True, servers=[])
    east = approved_on("east", two_ksc_servers.east, alice, bob)
    west = approved_on("west", two_ksc_servers.west, alice, bob)
    run_worker()
    two_ksc_servers.west.simulator.stop()

    result = outcomes.sweep()

    states = dict(ResponseOutcome.objects.values_list("request__server", "state"))
    assert states["west"] == OutcomeState.UNKNOWN
    assert states["east"] != OutcomeState.UNKNOWN
    assert result.unreachable.startswith("west: ")
    assert set(ResponseOutcome.objects.values_list("server", flat=True)) == {"east", "west"}
    assert {east.pk, west.pk} == set(ResponseOutcome.objects.values_list("request_id", flat=True))
