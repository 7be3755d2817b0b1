"""A campaign's hosts from a KSC administration group (issue 27, point 1), against the simulated KSC.

The group is found by its path and read through the hosts' door (responses/hosts.py): with or
without its subgroups, frozen at filing like any host set; an unknown group, an empty one and one
above the ceilings are refused by name, and nothing is filed.
"""

from __future__ import annotations

import json

import pytest

from campaigns.models import Campaign, CampaignEventKind
from responses.states import TokenScope

SERVERS = 9  # the simulated company's "Servers" group; "Servers/Domain Controllers" below it holds DC01, DC02


@pytest.fixture
def group_settings(ksc_settings, settings):
    settings.CAMPAIGN_CANARY = 0
    settings.CAMPAIGN_GROUP_SHARE = 100
    settings.CAMPAIGN_SMALL = 100
    return ksc_settings


def _file(api, user, **changes):
    body = {"task": "isolateHost", "params": {"action": 1}, "justification": "Emotet in the server room", **changes}
    return api(user, scope=TokenScope.FILE).post("/api/v1/campaigns/", body, format="json")


def test_a_group_with_and_without_its_subgroups(group_settings, api, alice):
    alone = _file(api, alice, group="Managed devices/Servers")
    assert alone.status_code == 201, alone.content
    assert alone.json()["hosts"]["total"] == SERVERS
    both = _file(api, alice, group="Servers", subgroups=True)
    assert both.status_code == 201, both.content
    assert both.json()["hosts"]["total"] == SERVERS + 2
    campaign = Campaign.objects.get(uuid=both.json()["id"])
    assert {"DC01", "DC02"} <= set(campaign.hosts.values_list("display_name", flat=True))
    filed = campaign.events.get(kind=CampaignEventKind.FILED)
    assert (filed.detail["group"], filed.detail["subgroups"]) == ("Servers", True)  # the trail says where from


def test_a_group_and_listed_hosts_make_one_set_without_duplicates(group_settings, api, alice):
    answer = _file(api, alice, group="Servers", hosts=["SRV-SQL-01", "TKY-WS-0101"])
    assert answer.status_code == 201, answer.content
    assert answer.json()["hosts"]["total"] == SERVERS + 1


def test_protected_hosts_of_a_group_are_left_out(group_settings, api, alice, settings, tmp_path):
    rules = tmp_path / "protected.json"
    rules.write_text(json.dumps([{"group": "Managed devices/Servers/Domain Controllers", "reason": "AD"}]))
    settings.PROTECTED_HOSTS_FILE = str(rules)
    answer = _file(api, alice, group="Servers", subgroups=True)
    assert answer.status_code == 201, answer.content
    hosts = answer.json()["hosts"]
    assert hosts["total"] == SERVERS
    assert sorted(row["name"] for row in hosts["excluded"]) == ["DC01", "DC02"]


def test_the_set_is_frozen_at_filing(group_settings, api, alice):
    simulator = group_settings
    filed = _file(api, alice, group="Servers").json()
    simulator.move_host(simulator.host_id("TKY-WS-0101"), "Servers")  # joins the group after filing
    campaign = Campaign.objects.get(uuid=filed["id"])
    assert campaign.hosts.count() == SERVERS
    assert not campaign.hosts.filter(display_name="TKY-WS-0101").exists()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"group": "Managed devices/Nowhere"}, "KSC has no administration group Managed devices/Nowhere."),
        ({"group": "Domain Controllers"}, "KSC has no administration group Domain Controllers."),  # not below the root
        ({"group": 5}, "group must be text."),
        ({"group": "Servers\x00"}, "must not contain control characters"),
        ({"group": "S" * 1001}, "longer than 1000"),
        ({"group": "Servers", "subgroups": "yes"}, "subgroups must be true or false."),
    ],
)
def test_bad_groups_are_refused_by_name_and_nothing_is_filed(group_settings, api, alice, changes, words):
    answer = _file(api, alice, **changes)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    field = "subgroups" if "subgroups" in words else "group"
    assert words in " ".join(errors[field])
    assert not Campaign.objects.exists()


def test_an_empty_group_is_refused_with_the_subgroups_hint(group_settings, api, alice):
    simulator = group_settings
    host = simulator.host_id("TKY-WS-0101")
    simulator.move_host(host, "Servers/Empty/Deeper")  # makes the groups ...
    simulator.move_host(host, "Tokyo Office")  # ... and leaves them empty
    answer = _file(api, alice, group="Servers/Empty")
    assert answer.status_code == 400
    assert "holds no hosts itself (its subgroups are not included)" in answer.json()["errors"]["group"][0]
    answer = _file(api, alice, group="Servers/Empty", subgroups=True)
    assert "and its subgroups hold no hosts" in answer.json()["errors"]["group"][0]
    assert not Campaign.objects.exists()


def test_a_group_above_the_ceilings_gets_the_usual_refusals(group_settings, api, alice, settings):
    settings.CAMPAIGN_MAX = 5
    answer = _file(api, alice, group="Servers")
    assert answer.status_code == 400
    assert "9 hosts is above 5 (CAMPAIGN_MAX)" in answer.json()["errors"]["hosts"][0]
    settings.CAMPAIGN_HARD_MAX = 8
    answer = _file(api, alice, group="Servers", break_glass=True)
    assert answer.status_code == 400
    assert "holds 9 hosts: above the hard ceiling of 8" in answer.json()["errors"]["group"][0]
    assert not Campaign.objects.exists()


def test_the_form_takes_a_group_and_the_preview_says_so(group_settings, client, login, alice):
    login(client, alice)
    form = client.get("/campaigns/new/", {"task": "isolateHost"}).content.decode()
    assert 'name="group"' in form and 'name="subgroups"' in form
    page = client.post(
        "/campaigns/new/",
        {"task": "isolateHost", "p-action": "1", "group": "Servers", "subgroups": "on", "justification": "x"},
    )
    text = page.content.decode()
    assert page.status_code == 200, text
    assert 'id="dry-run-group"' in text and f">{SERVERS + 2}</dd>" in text
    refused = client.post(
        "/campaigns/new/", {"task": "isolateHost", "p-action": "1", "group": "Nowhere", "justification": "x"}
    )
    assert refused.status_code == 400 and "KSC has no administration group Nowhere." in refused.content.decode()
