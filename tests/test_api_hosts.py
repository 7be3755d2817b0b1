"""GET /api/v1/hosts/?q=: host search through KSC, against the KSC simulator over HTTPS.

A SIEM knows a host by name or address; filing needs KSC's host id. Errors say
whose fault they are: a bad query is a 400 that never reaches KSC, an
unreachable KSC a 503, a KSC that refuses the portal a 502.
"""

from __future__ import annotations

import pytest

from responses.models import ResponseRequest
from tests.fixtures.api import NEW, REQUESTS

HOSTS = "/api/v1/hosts/"


def find_hosts_calls(simulator) -> int:
    return simulator.stats()["calls"].get("HostGroup.FindHosts", 0)


class TestFinding:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("TKY-WS-0105", ["TKY-WS-0105"]),
            ("tky-ws-010", [f"TKY-WS-010{n}" for n in range(1, 10)]),  # the start of a name, any case
            ("srv-sql-01.corp.example.co.jp", ["SRV-SQL-01"]),
            ("10.20.1.105", ["TKY-WS-0105"]),
            ("  DC0  ", ["DC01", "DC02"]),
            ("no-such-host", []),
            ('")(|(KLHST_WKS_DN=*', []),  # taken literally: no filter injection
        ],
    )
    def test_it_finds_hosts_by_name_fqdn_or_ip(self, api, alice, ksc_settings, query, expected):
        response = api(alice).get(HOSTS, {"q": query})
        assert response.status_code == 200, response.json()
        assert [host["display_name"] for host in response.json()] == expected

    def test_a_host_carries_the_id_that_filing_takes(self, api, alice, ksc_settings):
        client = api(alice)
        [host] = client.get(HOSTS, {"q": "10.10.1.22"}).json()
        assert host == {
            "server": "primary",  # the KSC server that holds it: what filing's server takes
            "id": ksc_settings.host_id("SRV-SQL-01"),
            "display_name": "SRV-SQL-01",
            "fqdn": "srv-sql-01.corp.example.co.jp",
            "ip": "10.10.1.22",
            "group_name": "Servers",
            "last_seen": host["last_seen"],
        }
        assert host["last_seen"].endswith("Z")
        filed = client.post(REQUESTS, {**NEW, "target_host": host["id"]}, format="json")
        assert filed.status_code == 201
        assert ResponseRequest.objects.get().target_host == host["id"]

    def test_it_finds_a_host_by_its_ksc_id(self, api, alice, ksc_settings):
        host_id = ksc_settings.host_id("OSK-WS-0201")
        assert [host["id"] for host in api(alice).get(HOSTS, {"q": host_id}).json()] == [host_id]

    def test_it_limits_the_answer(self, api, alice, ksc_settings):
        assert len(api(alice).get(HOSTS, {"q": "tky-ws", "limit": 3}).json()) == 3


class TestBadQueries:
    @pytest.mark.parametrize(
        ("params", "field", "message"),
        [
            ({}, "q", "q is required"),
            ({"q": ""}, "q", "q is required"),
            ({"q": "T"}, "q", "at least 2 characters"),
            ({"q": " T  "}, "q", "at least 2 characters"),  # spaces do not count
            ({"q": "TKY\x01"}, "q", "control characters"),
            ({"q": "x" * 256}, "q", "no more than 255"),
            ({"q": "TKY", "limit": 0}, "limit", "greater than or equal to 1"),
            ({"q": "TKY", "limit": "all"}, "limit", "valid integer"),
        ],
    )
    def test_a_bad_query_is_a_400_that_never_reaches_ksc(self, api, alice, ksc_settings, params, field, message):
        response = api(alice).get(HOSTS, params)
        assert response.status_code == 400
        assert message in " ".join(response.json()["errors"][field])
        assert find_hosts_calls(ksc_settings) == 0

    @pytest.mark.parametrize("persona", ["bob", "dave", "mallory", "root"])
    def test_who_may_not_file_may_not_look_hosts_up(self, request, api, ksc_settings, persona):
        response = api(request.getfixturevalue(persona)).get(HOSTS, {"q": "TKY"})
        assert response.status_code == 403
        assert "Only members of Analysts" in response.json()["detail"]
        assert find_hosts_calls(ksc_settings) == 0

    def test_no_token_is_a_401(self, api, ksc_settings):
        assert api(None).get(HOSTS, {"q": "TKY"}).status_code == 401


class TestKscTrouble:
    def test_an_unreachable_ksc_is_a_503_saying_so(self, api, alice, ksc_settings, settings):
        ksc_settings.simulator.stop()
        response = api(alice).get(HOSTS, {"q": "TKY"})
        assert response.status_code == 503
        assert response.json()["code"] == "ksc_unavailable"
        assert "KSC" in response.json()["detail"]

    def test_a_ksc_answering_503_is_a_503(self, api, alice, ksc_settings):
        ksc_settings.set_faults({"fail_next": 10, "status": 503})
        response = api(alice).get(HOSTS, {"q": "TKY"})
        assert (response.status_code, response.json()["code"]) == (503, "ksc_unavailable")

    def test_a_ksc_refusing_the_portal_is_a_502(self, api, alice, ksc_settings):
        ksc_settings.set_faults({"reject_login": True})
        response = api(alice).get(HOSTS, {"q": "TKY"})
        assert (response.status_code, response.json()["code"]) == (502, "ksc_auth")
        assert response.json()["detail"]

    def test_an_unconfigured_ksc_is_a_503_naming_the_setting(self, api, alice, settings):
        settings.KSC_HOST = ""
        response = api(alice).get(HOSTS, {"q": "TKY"})
        assert (response.status_code, response.json()["code"]) == (503, "ksc_not_configured")
        assert "KSC_HOST" in response.json()["detail"]
