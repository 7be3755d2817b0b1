"""Finding the target host through KSC (HostGroup.FindHosts), against the simulated KSC."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from portal import local_redis
from responses.ksc_servers import reset_client

SEARCH = "/hosts/search"


@pytest.fixture
def analyst(client, login, alice):
    login(client, alice)
    return client


def use_links(html: str) -> list[dict]:
    links = []
    for chunk in html.split('class="button use-host" href="')[1:]:
        href = chunk.split('"', 1)[0].replace("&amp;", "&")
        links.append({key: values[0] for key, values in parse_qs(urlsplit(href).query).items()})
    return links


def test_it_finds_a_host_by_display_name_with_its_group_and_last_seen(analyst, ksc_settings):
    host_id = ksc_settings.host_id("TKY-WS-0111")

    response = analyst.get(SEARCH, {"q": "TKY-WS-0111", "task": "isolateHost"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html  # a whole page: the search works without JavaScript
    assert "Tokyo Office" in html and "tky-ws-0111.corp.example.co.jp" in html and "10.20.1.111" in html
    assert "<time datetime=" in html  # last seen
    assert use_links(html) == [{"target_host": host_id, "target_host_name": "TKY-WS-0111", "task": "isolateHost"}]


@pytest.mark.parametrize("query", ["srv-sql-01.corp.example.co.jp", "10.10.1.22"])
def test_it_finds_a_host_by_fqdn_or_ip_address(analyst, ksc_settings, query):
    html = analyst.get(SEARCH, {"q": query}).content.decode()

    assert [link["target_host_name"] for link in use_links(html)] == ["SRV-SQL-01"]


def test_it_answers_the_type_ahead_with_a_fragment(analyst, ksc_settings):
    response = analyst.get(SEARCH, {"q": "OSK-WS-020", "fragment": "1"})

    html = response.content.decode()
    assert "<html" not in html
    assert len(use_links(html)) == 9  # OSK-WS-0201 .. OSK-WS-0209


def test_the_use_link_fills_in_the_new_request(analyst, ksc_settings):
    link = use_links(analyst.get(SEARCH, {"q": "DC01", "task": "isolateHost"}).content.decode())[0]

    form = analyst.get("/requests/new/", link).content.decode()

    assert f'value="{link["target_host"]}"' in form
    assert "Chosen host: DC01" in form


def test_a_search_for_nothing_asks_nothing_of_ksc(analyst, ksc_settings):
    before = ksc_settings.stats()

    short = analyst.get(SEARCH, {"q": "T"}).content.decode()
    empty = analyst.get(SEARCH, {"q": "zz-no-such-host"}).content.decode()

    assert "Type at least 2 characters." in short
    assert "No host in KSC matches" in empty
    assert (
        ksc_settings.stats()["calls"].get("HostGroup.FindHosts", 0) == before["calls"].get("HostGroup.FindHosts", 0) + 1
    )


def test_it_says_when_ksc_is_unreachable_and_the_id_can_still_be_typed(analyst, settings):
    reset_client()
    settings.KSC_HOST, settings.KSC_PORT = "127.0.0.1", local_redis.free_port()  # nobody listens there
    settings.KSC_USER, settings.KSC_PASSWORD, settings.KSC_CONNECT_TIMEOUT = "edr", "x", 1.0
    try:
        response = analyst.get(SEARCH, {"q": "DC01", "task": "isolateHost"})
    finally:
        reset_client()

    assert response.status_code == 200
    html = response.content.decode()
    assert "The host search in KSC failed" in html
    assert "You can still type the host's KSC id by hand." in html
    # The new-request form itself does not need KSC: the id field is a plain text input.
    assert '<input type="text" name="target_host"' in analyst.get("/requests/new/?task=isolateHost").content.decode()


def test_it_says_when_ksc_is_not_configured(analyst, settings):
    reset_client()
    settings.KSC_HOST = None

    html = analyst.get(SEARCH, {"q": "DC01"}).content.decode()

    assert "KSC is not configured (KSC_HOST)" in html
