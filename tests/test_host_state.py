"""The host before acting: KSC's OS, last seen and group with their warnings, and the portal's own isolation note."""

from __future__ import annotations

import html as html_module

import pytest
from django.core.cache import cache
from django.utils import timezone

from ksc_client.hosts import Host
from responses.host_state import portal_isolation
from responses.hosts import facts_of
from responses.models import OutcomeState
from tests.support.pages import file, isolation, page

SEARCH = "/hosts/search"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def host(**changes) -> Host:
    values = dict(id="h1", display_name="WS-1", fqdn="", ip="", group_name="G", last_seen=None)
    values.update(changes)
    return Host(**values)


class TestWarnings:
    def test_a_host_seen_a_minute_ago_on_windows_has_no_warning(self):
        now = timezone.now()
        facts = facts_of(host(os_name="Microsoft Windows 11 Enterprise", last_visible=now), now)
        assert facts.warnings == []

    def test_a_host_unseen_for_longer_than_host_stale_after_warns_that_the_task_will_wait(self, settings):
        settings.HOST_STALE_AFTER = 3600
        now = timezone.now()
        facts = facts_of(host(os_name="Windows 10", last_visible=now - timezone.timedelta(hours=2)), now)
        assert len(facts.warnings) == 1 and "the task will wait until the host connects" in facts.warnings[0]
        assert facts_of(host(os_name="Windows 10", last_visible=None), now).warnings[0].startswith("KSC has never")

    def test_an_os_kes_edr_responses_do_not_cover_is_named(self):
        now = timezone.now()
        facts = facts_of(host(os_name="Red Hat Enterprise Linux 9", last_visible=now), now)
        assert len(facts.warnings) == 1 and "Red Hat Enterprise Linux 9" in facts.warnings[0]
        assert "Windows" in facts.warnings[0]


class TestHostPicker:
    def test_it_shows_os_last_seen_and_the_warnings(self, client, login, alice, ksc_settings):
        login(client, alice)
        html = html_module.unescape(page(client.get(SEARCH, {"q": "web-dmz-01"})))
        assert "Red Hat Enterprise Linux 9" in html and "KES EDR responses cover only" in html
        html = html_module.unescape(page(client.get(SEARCH, {"q": "TKY-LT-0502"})))
        assert "the task will wait until the host connects" in html, "a laptop last seen days ago"
        html = html_module.unescape(page(client.get(SEARCH, {"q": "DC01"})))
        assert "Microsoft Windows Server 2022 Standard" in html and "the task will wait" not in html

    def test_it_shows_the_portals_isolation_note_labelled_as_such(self, client, login, alice, ksc_settings):
        host_id = ksc_settings.host_id("DC01")
        isolated = isolation(alice, host_id, 1, OutcomeState.COMPLETED, 1)
        login(client, alice)
        html = html_module.unescape(page(client.get(SEARCH, {"q": "DC01"})))
        assert "The portal's own records, not KSC's: isolated by" in html
        assert f"/requests/{isolated.uuid}/" in html and "(completed)" in html

    def test_another_analysts_isolation_is_said_without_a_link_that_would_404(
        self, client, login, alice, frank, bob, ksc_settings
    ):
        # Informational finding of issue 23: frank may not open alice's request, so no link to it.
        host_id = ksc_settings.host_id("DC01")
        isolated = isolation(alice, host_id, 1, OutcomeState.COMPLETED, 1)
        login(client, frank)
        assert client.get(f"/requests/{isolated.uuid}/").status_code == 404
        for url in (f"/hosts/primary/{host_id}/", f"{SEARCH}?q=DC01"):
            html = html_module.unescape(page(client.get(url)))
            assert "The portal's own records, not KSC's: isolated since" in html, url
            assert "by another analyst's request" in html and "(completed)" in html, url
            assert str(isolated.uuid) not in html, url
        client.logout()
        login(client, bob)  # an approver sees every request: the link is there
        html = html_module.unescape(page(client.get(f"/hosts/primary/{host_id}/")))
        assert f'href="/requests/{isolated.uuid}/">this request</a>' in html


class TestIsolationNote:
    def test_it_lasts_until_a_release_completed(self, alice):
        isolation(alice, "h1", 1, OutcomeState.COMPLETED, 1)
        assert portal_isolation("h1") is not None
        isolation(alice, "h1", 0, OutcomeState.PENDING, 2)
        assert portal_isolation("h1") is not None, "a release not yet done on the host releases nothing"
        isolation(alice, "h1", 0, OutcomeState.COMPLETED, 3)
        assert portal_isolation("h1") is None

    def test_a_failed_isolation_is_no_isolation(self, alice):
        isolation(alice, "h2", 1, OutcomeState.FAILED, 4)
        assert portal_isolation("h2") is None

    def test_an_isolation_still_on_its_way_says_so(self, alice):
        isolation(alice, "h3", 1, OutcomeState.PENDING, 5)
        assert portal_isolation("h3").outcome_label == "pending on the host"


class TestPages:
    def test_the_request_page_shows_ksc_facts_while_acting_lies_ahead(self, client, login, alice, ksc_settings):
        host_id = ksc_settings.host_id("web-dmz-02")
        request = file(alice, target_host=host_id, target_host_name="web-dmz-02")
        login(client, alice)
        html = html_module.unescape(page(client.get(f"/requests/{request.uuid}/")))
        assert "From KSC:" in html and "Red Hat Enterprise Linux 9" in html and "DMZ" in html
        assert "KES EDR responses cover only" in html

    def test_the_host_page_lists_every_request_with_its_outcome(self, client, login, alice, bob, ksc_settings):
        host_id = ksc_settings.host_id("DC02")
        done = isolation(alice, host_id, 1, OutcomeState.COMPLETED, 7)
        pending = file(alice, target_host=host_id)
        other = file(alice, target_host=ksc_settings.host_id("DC01"))
        login(client, alice)
        html = html_module.unescape(page(client.get(f"/hosts/primary/{host_id}/")))
        assert f"/requests/{done.uuid}/" in html and f"/requests/{pending.uuid}/" in html
        assert f"/requests/{other.uuid}/" not in html
        assert 'data-outcome="completed"' in html and "The portal's own records, not KSC's" in html
        assert "Microsoft Windows Server 2022 Standard" in html

    def test_the_host_page_is_refused_to_a_user_without_a_role(self, client, login, mallory):
        login(client, mallory)
        assert client.get("/hosts/primary/some-host/").status_code == 403
