"""The host list /hosts/ and the host page's badge and actions (issue 30, point 2).

The list reads the host directory (responses/host_directory.py, ``listed``), scoped to the reader's
servers like every other list; its badges are the portal's own records (responses/host_state.py,
``portal_marks``); an isolation's page links forward to its release.
"""

from __future__ import annotations

import html as html_module
import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from responses import host_directory
from responses.models import HostDirectoryEntry, OutcomeState, ResponseOutcome, Status
from responses.states import PRIMARY_SERVER
from tests.support.pages import file, isolation, page, set_status

HOSTS = "/hosts/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def rows_of(html: str) -> list[str]:
    """The host ids of the list's rows, in order."""
    return re.findall(r'<tr class="host-row" data-host-id="([^"]+)">', html)


def row_of(html: str, host_id: str) -> str:
    match = re.search(rf'<tr class="host-row" data-host-id="{re.escape(host_id)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {host_id}"
    return match.group(1)


class TestTheList:
    def test_each_host_once_with_its_badge_and_open_requests(self, client, login, alice):
        isolated = isolation(alice, "host-iso", 1, OutcomeState.COMPLETED, 11)
        isolation(alice, "host-rel", 1, OutcomeState.COMPLETED, 12)
        isolation(alice, "host-rel", 0, OutcomeState.COMPLETED, 13)
        file(alice, target_host="host-open", target_host_name="WS-OPEN")
        file(alice, target_host="host-open", target_host_name="WS-OPEN", params={"action": 0})
        login(client, alice)
        html = page(client.get(HOSTS))
        ids = rows_of(html)
        assert sorted(ids) == ["host-iso", "host-open", "host-rel"], "each host once, whatever its requests"
        assert 'data-host-state="isolated"' in row_of(html, "host-iso")
        assert f"/hosts/{PRIMARY_SERVER}/host-iso/" in row_of(html, "host-iso")
        assert 'data-host-state="released"' in row_of(html, "host-rel")
        assert 'data-host-state="unknown"' in row_of(html, "host-open")
        assert '<td class="open-requests">2</td>' in row_of(html, "host-open")
        assert '<td class="open-requests">0</td>' in row_of(html, "host-iso")
        assert "WS-OPEN" in row_of(html, "host-open")
        assert isolated.target_host in ids

    def test_an_isolation_that_failed_leaves_the_host_unknown(self, client, login, alice):
        isolation(alice, "host-failed", 1, OutcomeState.FAILED, 21)
        login(client, alice)
        assert 'data-host-state="unknown"' in row_of(page(client.get(HOSTS)), "host-failed")

    def test_the_search_matches_id_any_name_and_fqdn(self, client, login, alice):
        host_directory.record_filed("h-a", "TKY-WS-0001")
        host_directory.record_filed("h-a", "TKY-WS-RENAMED")
        host_directory.record_filed("h-b", "OSK-LT-0002")
        HostDirectoryEntry.objects.filter(host_id="h-b").update(fqdn="osk-lt-0002.corp.example")
        login(client, alice)
        assert rows_of(page(client.get(HOSTS, {"q": "tky-ws-0001"}))) == ["h-a"], "a former name finds the host"
        assert rows_of(page(client.get(HOSTS, {"q": "corp.example"}))) == ["h-b"]
        assert rows_of(page(client.get(HOSTS, {"q": "h-b"}))) == ["h-b"]
        html = page(client.get(HOSTS, {"q": "nothing-like-it"}))
        assert rows_of(html) == [] and "No host matches the search." in html

    def test_a_renamed_host_shows_its_newest_name(self, client, login, alice):
        host_directory.record_filed("h-a", "OLD-NAME")
        HostDirectoryEntry.objects.filter(host_id="h-a").update(last_seen=timezone.now() - timezone.timedelta(days=1))
        host_directory.record_filed("h-a", "NEW-NAME")
        login(client, alice)
        row = row_of(page(client.get(HOSTS)), "h-a")
        assert "NEW-NAME" in row and "OLD-NAME" not in row

    def test_a_search_too_long_is_refused_clearly_and_lists_every_host(self, client, login, alice):
        host_directory.record_filed("h-a", "WS-A")
        login(client, alice)
        response = client.get(HOSTS, {"q": "x" * 256})
        html = html_module.unescape(page(response))
        assert response.status_code == 400
        assert "longer than 255 characters" in html and rows_of(html) == ["h-a"]

    def test_pages_of_fifty_newest_seen_first(self, client, login, alice):
        now = timezone.now()
        HostDirectoryEntry.objects.bulk_create(
            HostDirectoryEntry(
                host_id=f"h-{index:03d}",
                display_name=f"WS-{index:03d}",
                last_seen=now - timezone.timedelta(minutes=index),
            )
            for index in range(60)
        )
        login(client, alice)
        first = page(client.get(HOSTS))
        assert rows_of(first) == [f"h-{index:03d}" for index in range(50)]
        assert "1–50 of 60" in first and 'rel="next"' in first
        second = page(client.get(HOSTS, {"page": 2}))
        assert rows_of(second) == [f"h-{index:03d}" for index in range(50, 60)]
        assert rows_of(page(client.get(HOSTS, {"page": "junk"}))) == rows_of(first), "a bad page number: the first"

    def test_someone_without_a_role_is_refused(self, client, login, mallory):
        login(client, mallory)
        response = client.get(HOSTS)
        assert response.status_code == 403 and "data-host-id" not in page(response)

    def test_the_navigation_links_it(self, client, login, alice):
        login(client, alice)
        assert 'href="/hosts/"' in page(client.get("/"))


class TestTenants:
    def test_a_tenant_sees_only_its_own_hosts_and_the_others_answer_404(self, client, login, two_tenants):
        acme, globex = two_tenants["acme"], two_tenants["globex"]
        for person in (acme.analyst, acme.approver, acme.auditor):
            login(client, person)
            html = page(client.get(HOSTS))
            assert acme.pending.target_host in rows_of(html)
            assert globex.marker not in html, person.username
            assert rows_of(page(client.get(HOSTS, {"q": globex.marker}))) == []
            response = client.get(f"/hosts/{globex.server}/{globex.pending.target_host}/")
            assert response.status_code == 404 and globex.pending.target_host_name not in page(response)
        login(client, globex.auditor)
        assert globex.pending.target_host in rows_of(page(client.get(HOSTS))), "the control: globex sees its own"


class TestHostPage:
    def test_an_isolated_host_offers_a_new_response_and_its_release(self, client, login, alice, ksc_settings):
        host_id = ksc_settings.host_id("DC01")
        isolation(alice, host_id, 1, OutcomeState.COMPLETED, 31)
        login(client, alice)
        html = html_module.unescape(page(client.get(f"/hosts/{PRIMARY_SERVER}/{host_id}/")))
        assert 'data-host-state="isolated"' in html
        new = re.search(r'id="host-new-response"', html)
        release = re.search(r'href="([^"]+)" id="host-release"', html)
        assert new and release
        assert "task=isolateHost" in release.group(1) and "params-action=0" in release.group(1)
        assert host_id in release.group(1)

    def test_a_released_host_says_when_and_by_whom_and_offers_no_release(self, client, login, alice, bob, ksc_settings):
        host_id = ksc_settings.host_id("DC01")
        isolated = isolation(alice, host_id, 1, OutcomeState.COMPLETED, 41)
        released = isolation(alice, host_id, 0, OutcomeState.COMPLETED, 42)
        login(client, alice)
        html = html_module.unescape(page(client.get(f"/hosts/{PRIMARY_SERVER}/{host_id}/")))
        assert 'data-host-state="released"' in html and 'id="host-release"' not in html
        since = timezone.localtime(released.outcome.since).strftime("%Y-%m-%d %H:%M")
        assert re.search(rf"Released at {since} \S+ by alice", html)
        assert f"/requests/{released.uuid}/" in html
        # The isolation's page links forward to its release and no longer offers one.
        detail = html_module.unescape(page(client.get(f"/requests/{isolated.uuid}/")))
        assert f'href="/requests/{released.uuid}/" id="release-link"' in detail
        assert "released at" in detail and 'id="release-isolation"' not in detail

    def test_an_isolation_whose_release_is_still_running_links_to_it_and_keeps_the_button(self, client, login, alice):
        isolated = isolation(alice, "host-x", 1, OutcomeState.COMPLETED, 51)
        released = isolation(alice, "host-x", 0, OutcomeState.RUNNING, 52)
        login(client, alice)
        detail = html_module.unescape(page(client.get(f"/requests/{isolated.uuid}/")))
        assert f'href="/requests/{released.uuid}/" id="release-link"' in detail
        assert "the release filed by alice" in detail and 'id="release-isolation"' in detail
        html = page(client.get(f"/hosts/{PRIMARY_SERVER}/host-x/"))
        assert 'data-host-state="isolated"' in html, "a release not completed does not end the isolation"

    def test_an_approver_sees_the_badge_without_filing_actions(self, client, login, alice, bob):
        isolation(alice, "host-y", 1, OutcomeState.COMPLETED, 61)
        login(client, bob)
        html = page(client.get(f"/hosts/{PRIMARY_SERVER}/host-y/"))
        assert 'data-host-state="isolated"' in html and 'id="host-release"' not in html
        assert ResponseOutcome.objects.count() == 1


class TestOneHostIdOnTwoServers:
    def test_each_servers_badge_is_its_own(self, client, login, settings, alice):
        from accounts import tenants
        from tests.fixtures.tenants import servers
        from tests.support.filing import file_request

        settings.KSC_SERVERS = servers("acme", "globex")
        tenants.set_scope(alice, every_server=True, servers=[])
        made = {}
        for server, action in (("acme", 1), ("globex", 0)):
            rr = file_request(
                user=alice, server=server, task="isolateHost", target_host="same-id", target_host_name=f"WS-{server}",
                params={"action": action}, justification="x",
            )  # fmt: skip
            rr = set_status(rr, Status.SUBMITTED, ksc_incident_id=len(made) + 1, submitted_at=timezone.now())
            ResponseOutcome.objects.create(request=rr, server=server, state=OutcomeState.COMPLETED, ksc_task_id="1")
            made[server] = rr
        login(client, alice)
        html = page(client.get(HOSTS))
        badges = re.findall(r'href="/hosts/(\w+)/same-id/".*?data-host-state="(\w+)"', html, re.S)
        assert sorted(badges) == [("acme", "isolated"), ("globex", "released")]
        acme = page(client.get("/hosts/acme/same-id/"))
        assert 'data-host-state="isolated"' in acme and str(made["globex"].uuid) not in acme
