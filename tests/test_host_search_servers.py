"""Host search across KSC servers (issue 26, point 4): parallel, per-server timeout, never fewer hosts silently.

Two simulators over HTTPS as servers east and west (tests/fixtures/tenants.py); both hold the
simulator's inventory, so every host is found twice, once per server.
"""

from __future__ import annotations

import html
import time

from accounts import tenants
from responses import hosts

SEARCH = "/hosts/search"


def everywhere(*users) -> None:
    for user in users:
        tenants.set_scope(user, every_server=True, servers=[])


def test_a_search_asks_every_server_and_labels_each_host(two_ksc_servers, alice):
    everywhere(alice)
    found = hosts.search_servers(alice, "DC0")
    assert found.complete and found.servers == ["east", "west"]
    by_server = {server: sorted(item.host.id for item in found.hosts if item.server == server) for server in found.servers}
    assert by_server["east"] == by_server["west"] != []


def test_a_tenant_searches_only_its_own_server(two_ksc_servers, alice):
    tenants.set_scope(alice, every_server=False, servers=["west"])
    two_ksc_servers.east.simulator.stop()  # never asked: its trouble is not alice's to see
    found = hosts.search_servers(alice, "DC0")
    assert found.servers == ["west"] and found.complete
    assert {item.server for item in found.hosts} == {"west"}


def test_one_server_down_is_named_and_the_others_hosts_are_shown(two_ksc_servers, client, login, api, alice):
    everywhere(alice)
    two_ksc_servers.west.simulator.stop()
    login(client, alice)
    page = html.unescape(client.get(SEARCH, {"q": "DC0"}).content.decode())
    assert "Not every KSC server answered" in page and "KSC server west:" in page
    assert "DC01" in page  # east's hosts
    response = api(alice).get("/api/v1/hosts/", {"q": "DC0"})
    assert response.status_code == 200
    assert response["KSC-Servers-Unanswered"] == "west"
    assert {row["server"] for row in response.json()} == {"east"}


def test_a_slow_server_gets_its_timeout_and_the_search_does_not_wait_for_it(two_ksc_servers, settings, alice):
    everywhere(alice)
    settings.KSC_SEARCH_TIMEOUT = 1.0
    hosts.search_servers(alice, "DC0")  # both logged in: the delay below is the search's alone
    two_ksc_servers.west.set_faults({"delay_ms": 4000})
    try:
        started = time.monotonic()
        found = hosts.search_servers(alice, "DC0")
        took = time.monotonic() - started
    finally:
        two_ksc_servers.west.clear_faults()
    assert [name for name, _why in found.failed_servers] == ["west"]
    assert "did not answer within 1 s" in found.failed_servers[0][1]
    assert {item.server for item in found.hosts} == {"east"}
    assert took < 3.5  # not the slow server's 4 s


def test_choosing_a_found_host_without_javascript_fills_its_server(two_ksc_servers, client, login, alice):
    everywhere(alice)
    login(client, alice)
    host_id = two_ksc_servers.west.hosts()[0]["KLHST_WKS_HOSTNAME"]
    response = client.post(
        "/requests/new/?task=isolateHost", {"task": "isolateHost", "step": "search", "use_host": f"west:{host_id}"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert f'value="{host_id}"' in page
    assert '<option value="west" selected>west</option>' in page
