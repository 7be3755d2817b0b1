"""Done-when of issue 26 (portal half): a request for a host on a virtual server and one on a secondary
each reach exactly that server, through the simulator, with both clients.

One simulated primary with virtual servers and secondaries two levels deep (``ksc_hierarchy``,
tests/fixtures/simulated_ksc.py). The servers file lists the primary, the virtual server
tenant-a and the secondary emea-paris (route 11 > 21, through the primary's gateway).
"""

from __future__ import annotations

import pytest

from accounts import tenants
from portal.ksc_servers import KscServer
from responses import workflow
from responses.ksc_servers import reset_clients
from responses.models import ResponseRequest, Status
from tests.fixtures.submission import run_worker
from tests.support.filing import file_request


@pytest.fixture
def hierarchy_servers(transactional_db, ksc_hierarchy, ksc_queue, backend, settings, tmp_path):
    secret = tmp_path / "ksc.password"
    secret.write_text(ksc_hierarchy.password)
    common = {
        "url": ksc_hierarchy.url,
        "user": ksc_hierarchy.user,
        "password_file": str(secret),
        "ca_file": str(ksc_hierarchy.cert_path),
    }
    settings.KSC_CLIENT = backend
    settings.KSC_SUBMIT_TRIES = 3
    settings.KSC_SUBMIT_BACKOFF = 0
    settings.KSC_SERVERS = [
        KscServer(name="primary", **common),
        KscServer(name="tenant-a", vserver="tenant-a", **common),
        KscServer(name="emea-paris", route=(11, 21), **common),
    ]
    reset_clients()
    yield ksc_hierarchy
    reset_clients()


def file_and_approve(alice, bob, server: str, host_id: str) -> ResponseRequest:
    rr = file_request(
        user=alice,
        server=server,
        task="isolateHost",
        target_host=host_id,
        params={"action": 1},
        justification=f"C2 traffic on {server}",
    )
    return workflow.approve(rr, user=bob, comment="go")


def test_a_request_on_a_virtual_server_and_one_on_a_secondary_each_reach_exactly_that_server(
    hierarchy_servers, alice, bob
):
    for user in (alice, bob):
        tenants.set_scope(user, every_server=True, servers=[])
    ksc = hierarchy_servers
    on_vserver = file_and_approve(alice, bob, "tenant-a", ksc.hosts("vserver:tenant-a")[0]["KLHST_WKS_HOSTNAME"])
    on_secondary = file_and_approve(alice, bob, "emea-paris", ksc.hosts("secondary:21")[0]["KLHST_WKS_HOSTNAME"])

    run_worker()

    on_vserver.refresh_from_db()
    on_secondary.refresh_from_db()
    assert (on_vserver.status, on_secondary.status) == (Status.SUBMITTED, Status.SUBMITTED)
    assert [item["id"] for item in ksc.incidents("vserver:tenant-a")] == [on_vserver.ksc_incident_id]
    assert [item["id"] for item in ksc.incidents("secondary:21")] == [on_secondary.ksc_incident_id]
    for elsewhere in (None, "vserver:tenant-b", "secondary:11", "secondary:12"):
        assert ksc.incidents(elsewhere) == [], elsewhere
    # Each incident's host is that server's own: the request's target, as filed.
    assert ksc.incidents("secondary:21")[0]["pData"]["KLINCDT_BODY"].count(on_secondary.target_host) >= 1
