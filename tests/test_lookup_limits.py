"""Host searches and previews are bounded: the query's length, the log line, and a per-user rate (issue 23, point 7).

Against the KSC simulator over HTTPS and the test Redis (the counters live there).
"""

from __future__ import annotations

import logging
import time

import pytest

from responses import throttle
from tests.support.pages import NEW

SEARCH = "/hosts/search"
HOSTS = "/api/v1/hosts/"
HUGE = "A" * (1024 * 1024)


def find_hosts_calls(simulator) -> int:
    return simulator.stats()["calls"].get("HostGroup.FindHosts", 0)


def form_search(client, q: str, **extra):
    """The new-request form's Search button without JavaScript: the whole form posts itself."""
    data = {"task": "isolateHost", "step": "search", "q": q, "justification": "typed before searching", **extra}
    return client.post(NEW, data)


def isolate(host_id: str) -> dict:
    return {
        "task": "isolateHost",
        "target_host": host_id,
        "params-action": "1",
        "justification": "Beaconing to a known C2 address",
    }


@pytest.fixture
def analyst(client, login, alice, ksc_queue):
    login(client, alice)
    return client


class TestLength:
    def test_a_megabyte_query_in_the_no_javascript_form_never_reaches_ksc_or_the_log(
        self, analyst, ksc_settings, ksc_simulator, caplog
    ):
        before = find_hosts_calls(ksc_simulator)
        with caplog.at_level(logging.DEBUG):
            response = form_search(analyst, HUGE)
        assert response.status_code == 400
        page = response.content.decode()
        assert "The search is longer than 255 characters" in page
        assert HUGE[:300] not in page  # not shown back either
        assert "typed before searching" in page  # the rest of the form is kept
        assert find_hosts_calls(ksc_simulator) == before
        assert all(len(record.getMessage()) < 2000 for record in caplog.records)

    def test_a_megabyte_query_on_the_search_page_and_its_fragment_is_refused(self, analyst, ksc_settings, ksc_simulator):
        before = find_hosts_calls(ksc_simulator)
        for params in ({"q": HUGE}, {"q": HUGE, "fragment": "1"}):
            response = analyst.get(SEARCH, params)
            assert response.status_code == 400
            assert "The search is longer than 255 characters" in response.content.decode()
        assert find_hosts_calls(ksc_simulator) == before

    def test_a_huge_use_host_button_value_is_refused_too(self, analyst, ksc_settings, ksc_simulator):
        before = ksc_simulator.stats()["calls"].get("HostGroup.GetHostInfo", 0)
        response = form_search(analyst, "", use_host="h" * 100_000)
        assert response.status_code == 400
        assert ksc_simulator.stats()["calls"].get("HostGroup.GetHostInfo", 0) == before

    def test_255_characters_are_still_searched(self, analyst, ksc_settings, ksc_simulator):
        before = find_hosts_calls(ksc_simulator)
        assert analyst.get(SEARCH, {"q": "B" * 255}).status_code == 200
        assert form_search(analyst, "B" * 255).status_code == 200
        assert find_hosts_calls(ksc_simulator) == before + 2

    def test_a_failed_search_logs_a_shortened_query(self, analyst, ksc_settings, ksc_simulator, caplog):
        ksc_simulator.set_faults({"fail_next": 50, "status": 500})
        query = "C" * 250
        try:
            with caplog.at_level(logging.WARNING, logger="responses.views"):
                form_search(analyst, query)
                analyst.get(SEARCH, {"q": query})
        finally:
            ksc_simulator.clear_faults()
        lines = [record.getMessage() for record in caplog.records if "host search for" in record.getMessage()]
        assert len(lines) == 2
        for line in lines:
            assert query not in line and "C" * 64 + "… (250 characters)" in line

    def test_the_search_field_says_its_length_to_the_browser(self, analyst):
        page = analyst.get(NEW, {"task": "isolateHost"}).content.decode()
        search_input = page.split('<input id="host-q"', 1)[1].split(">", 1)[0]
        assert 'maxlength="255"' in search_input


class TestRate:
    def test_host_searches_are_counted_per_user_across_page_fragment_form_and_api(
        self, analyst, api, settings, ksc_settings, ksc_simulator, alice, frank
    ):
        settings.HOST_SEARCH_RATE_LIMIT = 4
        before = find_hosts_calls(ksc_simulator)
        assert analyst.get(SEARCH, {"q": "DC01"}).status_code == 200
        assert analyst.get(SEARCH, {"q": "DC01", "fragment": "1"}).status_code == 200
        assert form_search(analyst, "DC01").status_code == 200
        assert api(alice).get(HOSTS, {"q": "DC01"}).status_code == 200
        assert find_hosts_calls(ksc_simulator) == before + 4

        page = analyst.get(SEARCH, {"q": "DC01"})
        fragment = analyst.get(SEARCH, {"q": "DC01", "fragment": "1"})
        form = form_search(analyst, "DC01")
        refused = api(alice).get(HOSTS, {"q": "DC01"})
        assert [r.status_code for r in (page, fragment, form, refused)] == [429] * 4
        for response in (page, fragment, form):
            assert "HOST_SEARCH_RATE_LIMIT" in response.content.decode()
            assert "try again in" in response.content.decode()
        assert refused.json()["code"] == "rate_limited" and "HOST_SEARCH_RATE_LIMIT" in refused.json()["detail"]
        assert "typed before searching" in form.content.decode()  # the form is kept
        assert find_hosts_calls(ksc_simulator) == before + 4  # nothing more asked of KSC

        # Another analyst is not held back by alice's searches.
        assert api(frank).get(HOSTS, {"q": "DC01"}).status_code == 200

    def test_previews_are_counted_per_user(self, analyst, settings, ksc_settings, ksc_simulator):
        settings.PREVIEW_RATE_LIMIT = 2
        host_id = ksc_settings.host_id("DC01")
        assert analyst.post(NEW, isolate(host_id)).status_code == 200
        assert analyst.post(NEW, isolate(host_id)).status_code == 200
        refused = analyst.post(NEW, isolate(host_id))
        assert refused.status_code == 429
        assert "PREVIEW_RATE_LIMIT" in refused.content.decode()
        assert "sealed" not in refused.context

    def test_the_window_ends(self, analyst, settings, ksc_settings, ksc_queue):
        settings.HOST_SEARCH_RATE_LIMIT = 1
        assert analyst.get(SEARCH, {"q": "DC01"}).status_code == 200
        assert analyst.get(SEARCH, {"q": "DC01"}).status_code == 429
        # The window is WINDOW seconds in Redis; let it pass now (50 ms) rather than wait a minute.
        redis = ksc_queue.connection
        keys = list(redis.scan_iter(f"{throttle.KEY_PREFIX}:*"))
        assert keys
        for key in keys:
            redis.pexpire(key, 50)
        deadline = time.monotonic() + 5
        while redis.exists(*keys) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert analyst.get(SEARCH, {"q": "DC01"}).status_code == 200

    def test_zero_means_no_limit(self, analyst, settings, ksc_settings):
        settings.HOST_SEARCH_RATE_LIMIT = 0
        assert all(analyst.get(SEARCH, {"q": "DC01"}).status_code == 200 for _ in range(5))
