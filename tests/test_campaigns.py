"""Campaigns: a host set filed as one, approved as one, released in waves, each host its own request.

Against the KSC simulator over HTTPS, the real `ksc` queue and the portal's worker in this process.
"""

from __future__ import annotations

import json

import pytest

from audit import chain as audit_chain
from campaigns import batch, filing, trail, waves
from campaigns import workflow as campaigns
from campaigns.models import Campaign, CampaignEventKind, CampaignStatus
from responses import outcomes
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import Decision, ResponseRequest, Status
from tests.fixtures.submission import run_worker

TOKYO = [f"TKY-WS-{n:04d}" for n in range(101, 119)]  # 18 hosts of "Tokyo Office" in the simulator


def _file(user, hosts, **extra):
    fields = {
        "task": "isolateHost",
        "params": {"action": 1},
        "hosts": hosts,
        "justification": "Emotet outbreak (INC-7)",
        "external_ref": "INC-7",
    }
    return filing.file_campaign(user, **{**fields, **extra})


def _finish_outcomes(simulator) -> None:
    """The simulator's tasks complete at once; one sweep of the outcomes reads them."""
    simulator.advance_clock(5)
    outcomes.sweep()


@pytest.fixture
def campaign_settings(submission, settings):
    settings.CAMPAIGN_CANARY = 2
    settings.CAMPAIGN_WAVE = 5
    settings.CAMPAIGN_CANARY_WAIT = 3600
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    settings.CAMPAIGN_GROUP_SHARE = 100  # the tests that scale by group share set it back
    return submission


def test_it_files_a_pasted_list_resolving_names_fqdns_ips_and_ids(campaign_settings, alice):
    simulator = campaign_settings
    dc01 = simulator.host_id("DC01")
    lines = "\n".join(
        [
            "TKY-WS-0101",
            "tky-ws-0102.corp.example.co.jp",  # FQDN
            "10.20.1.103",  # IPv4
            simulator.host_id("TKY-WS-0104"),  # KSC host id
            "tky-ws-0101",  # the same host again, another case: de-duplicated
            "NO-SUCH-HOST",
            dc01,
        ]
    )
    campaign = _file(alice, lines)
    hosts = list(campaign.hosts.order_by("position").values_list("display_name", flat=True))
    assert hosts == ["TKY-WS-0101", "TKY-WS-0102", "TKY-WS-0103", "TKY-WS-0104", "DC01"]
    assert campaign.unresolved == [{"line": "NO-SUCH-HOST", "reason": "KSC knows no host by this name, address or id"}]
    assert campaign.status == CampaignStatus.PENDING_APPROVAL
    # the fingerprint covers exactly the sorted host keys: approvers approve that set
    assert campaign.fingerprint == campaigns.hosts_fingerprint(campaign)
    assert trail.verify(campaign) == []


def test_it_refuses_bad_input_with_field_errors_and_files_nothing(campaign_settings, alice):
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, "", task="noSuchTask", justification="  ")
    assert set(caught.value.errors) == {"task", "justification", "hosts"}
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, "NO-SUCH-HOST\nOTHER-UNKNOWN")
    assert "No host is left" in caught.value.errors["hosts"][0]
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, ["TKY-WS-0101"], params={"action": 7})
    assert "params" in caught.value.errors
    assert not Campaign.objects.exists()


def test_approvals_scale_with_size_and_group_share(campaign_settings, alice, settings):
    settings.CAMPAIGN_SMALL = 3
    settings.CAMPAIGN_GROUP_SHARE = 25
    small = _file(alice, TOKYO[:2])
    assert small.approvals_required == 1
    # 2 of 18 Tokyo hosts is 11%: under the 25% share
    assert [r["code"] for r in small.approval_reasons] == ["task"]
    large = _file(alice, TOKYO[:6])  # 6 > 3 hosts, and 6/18 = 33% of "Tokyo Office"
    assert large.approvals_required == 3
    assert [r["code"] for r in large.approval_reasons] == ["task", "size", "group_share"]
    assert "Tokyo Office" in filing.reason_text(large.approval_reasons[2])


def test_above_campaign_max_needs_the_break_glass_permission(campaign_settings, alice, settings):
    settings.CAMPAIGN_MAX = 3
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, TOKYO[:4])
    assert "CAMPAIGN_MAX" in caught.value.errors["hosts"][0]
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, TOKYO[:4], break_glass=True)
    assert "break-glass permission" in caught.value.errors["break_glass"][0]
    from django.contrib.auth.models import Permission

    alice.user_permissions.add(Permission.objects.get(codename="file_large_campaign"))
    campaign = _file(alice, TOKYO[:4], break_glass=True)
    assert campaign.break_glass and len(campaign.hosts.all()) == 4


def test_the_two_person_rule_holds_for_campaigns(campaign_settings, alice, bob, carol, settings):
    settings.CAMPAIGN_SMALL = 1
    campaign = _file(alice, TOKYO[:2])
    assert campaign.approvals_required == 2
    with pytest.raises(NotAllowed):
        campaigns.approve(campaign, user=alice)
    campaigns.approve(campaign, user=bob, comment="ok")
    with pytest.raises(WrongStatus):
        campaigns.approve(campaign, user=bob)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PENDING_APPROVAL
    assert not ResponseRequest.objects.exists()
    campaigns.approve(campaign, user=carol)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING


def test_waves_canary_first_then_waves_each_host_its_own_request(campaign_settings, alice, bob, carol, settings):
    simulator = campaign_settings
    settings.CAMPAIGN_SMALL = 100
    campaign = _file(alice, TOKYO[:12])
    campaigns.approve(campaign, user=bob)  # the canary (2 hosts) goes after the commit
    children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
    assert children.count() == 2
    assert set(children.values_list("status", flat=True)) <= {Status.QUEUED, Status.APPROVED}
    # each child carries the campaign's approval as its own decision, and the proof holds at claim
    assert Decision.objects.filter(request__in=children, approver=bob).count() == 2
    run_worker()
    assert set(children.values_list("status", flat=True)) == {Status.SUBMITTED}
    # the canary's tasks have not completed: no wave yet
    assert waves.advance(campaign.pk)["released"] == 0
    _finish_outcomes(simulator)
    assert waves.advance(campaign.pk)["released"] == 5
    run_worker()
    assert waves.advance(campaign.pk)["released"] == 5  # the next wave once the one before was sent
    run_worker()
    result = waves.advance(campaign.pk)
    assert result["completed"] == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert children.count() == 12
    # each host reached KSC exactly once, as its own incident
    incidents = simulator.incidents()
    assert len(incidents) == 12
    assert len({i["KLINCDT_ID"] if "KLINCDT_ID" in i else json.dumps(i, sort_keys=True) for i in incidents}) == 12
    kinds = list(campaign.events.values_list("kind", flat=True))
    assert kinds.count(CampaignEventKind.WAVE_RELEASED) == 3
    assert trail.verify(campaign) == []
    # every host's trail, written in bulk, is a valid keyed chain with a valid status path and approvals
    report = audit_chain.verify()
    assert report.intact, report.problems
    # the campaign's own chain is one of the kinds the anchors sign and verification walks
    assert f"campaign:{campaign.uuid}" in audit_chain.take_anchor().heads


def test_the_breaker_pauses_when_the_canary_fails(campaign_settings, alice, bob, settings):
    simulator = campaign_settings
    settings.CAMPAIGN_SMALL = 100
    settings.CAMPAIGN_CANARY = 5
    simulator.configure_tasks({"outcome": "fail", "reason": "KES refused"})
    campaign = _file(alice, TOKYO[:10])
    campaigns.approve(campaign, user=bob)
    run_worker()
    _finish_outcomes(simulator)
    result = waves.advance(campaign.pk)
    assert result["paused"] == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    event = campaign.events.get(kind=CampaignEventKind.BREAKER)
    assert event.detail["bad"] == 5 and len(event.detail["failures"]) == 5
    # paused: nothing more goes out
    assert waves.advance(campaign.pk)["released"] == 0
    assert ResponseRequest.objects.filter(campaign_host__campaign=campaign).count() == 5


def test_abort_during_a_wave_withdraws_what_was_not_sent(campaign_settings, alice, bob, settings):
    settings.CAMPAIGN_SMALL = 100
    settings.CAMPAIGN_CANARY = 0
    campaign = _file(alice, TOKYO[:8])
    campaigns.approve(campaign, user=bob)  # wave 1: 5 hosts approved and queued, not yet sent
    children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
    assert children.count() == 5
    campaigns.abort(campaign, user=alice, comment="wrong hosts")
    run_worker()
    assert set(children.values_list("status", flat=True)) == {Status.CANCELLED}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ABORTED
    assert waves.advance(campaign.pk)["released"] == 0
    assert campaign_settings.incidents() == []


def _protect(settings, tmp_path, rules):
    path = tmp_path / "protected.json"
    path.write_text(json.dumps(rules), encoding="utf-8")
    settings.PROTECTED_HOSTS_FILE = str(path)


def test_protected_hosts_are_left_out_at_filing_and_listed(campaign_settings, alice, settings, tmp_path):
    _protect(settings, tmp_path, [{"group": "Domain Controllers", "reason": "AD"}, {"name": "TKY-WS-0102"}])
    campaign = _file(alice, ["DC01", "DC02", "TKY-WS-0101", "TKY-WS-0102"])
    included = list(campaign.hosts.filter(excluded_reason="").values_list("display_name", flat=True))
    assert included == ["TKY-WS-0101"]
    excluded = dict(campaign.hosts.exclude(excluded_reason="").values_list("display_name", "excluded_reason"))
    assert set(excluded) == {"DC01", "DC02", "TKY-WS-0102"}
    assert "Domain Controllers" in excluded["DC01"]
    # the fingerprint covers the hosts approved, not the protected ones left out
    assert campaign.fingerprint == campaigns.hosts_fingerprint(campaign)


def test_the_override_needs_the_permission_and_one_more_approver(campaign_settings, alice, settings, tmp_path):
    from django.contrib.auth.models import Permission

    _protect(settings, tmp_path, [{"host": campaign_settings.host_id("DC01")}])
    with pytest.raises(InvalidRequest) as caught:
        _file(alice, ["DC01", "TKY-WS-0101"], override_reason="DC01 is the patient zero")
    assert "override permission" in caught.value.errors["override_reason"][0]
    alice.user_permissions.add(Permission.objects.get(codename="override_protected_hosts"))
    campaign = _file(alice, ["DC01", "TKY-WS-0101"], override_reason="DC01 is the patient zero")
    assert campaign.hosts.filter(excluded_reason="").count() == 2
    assert campaign.approvals_required == 2
    assert [r["code"] for r in campaign.approval_reasons] == ["task", "override"]


def test_a_host_moved_into_a_protected_group_after_filing_is_skipped_at_submission(
    campaign_settings, alice, bob, settings, tmp_path
):
    simulator = campaign_settings
    settings.CAMPAIGN_CANARY = 0
    _protect(settings, tmp_path, [{"group": "Domain Controllers"}])
    campaign = _file(alice, TOKYO[:3])
    simulator.move_host(simulator.host_id("TKY-WS-0102"), "Domain Controllers")
    campaigns.approve(campaign, user=bob)
    run_worker()
    skipped = campaign.hosts.get(display_name="TKY-WS-0102")
    assert skipped.request_id is None and skipped.skipped_at is not None
    assert "protected at submission" in skipped.excluded_reason
    event = campaign.events.get(kind=CampaignEventKind.HOST_SKIPPED)
    assert event.detail["group"] == "Domain Controllers"
    sent = {
        i["pData"]["KLINCDT_BODY"]["targetHost"] if isinstance(i["pData"].get("KLINCDT_BODY"), dict) else None
        for i in simulator.incidents()
    }
    assert len(simulator.incidents()) == 2
    assert simulator.host_id("TKY-WS-0102") not in str(sent) + json.dumps(simulator.incidents())
    waves.advance(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_a_single_host_request_for_a_protected_host_is_refused(campaign_settings, alice, settings, tmp_path):
    from responses import filing as request_filing

    _protect(settings, tmp_path, [{"name": "DC*"}])
    with pytest.raises(InvalidRequest) as caught:
        request_filing.file_request(
            user=alice,
            task="isolateHost",
            target_host=campaign_settings.host_id("DC01"),
            params={"action": 1},
            justification="x",
            source="api",
        )
    assert "protected" in caught.value.errors["target_host"][0]
    assert not ResponseRequest.objects.exists()


def test_one_isolation_change_in_flight_per_host(campaign_settings, alice, bob, settings):
    """A host with an isolation not yet final is held; it goes once the earlier outcome is final."""
    from responses import filing as request_filing
    from responses import workflow as request_workflow

    simulator = campaign_settings
    settings.CAMPAIGN_CANARY = 0
    simulator.configure_tasks({"pending_s": 3600})
    earlier = request_filing.file_request(
        user=alice,
        task="isolateHost",
        target_host=simulator.host_id("TKY-WS-0101"),
        params={"action": 1},
        justification="earlier",
    ).request
    request_workflow.approve(earlier, user=bob)
    run_worker()
    campaign = _file(alice, TOKYO[:2])
    campaigns.approve(campaign, user=bob)
    held = campaign.hosts.get(display_name="TKY-WS-0101")
    assert held.request_id is None and "isolation change" in held.held_reason
    assert campaign.hosts.get(display_name="TKY-WS-0102").request_id is not None
    simulator.configure_tasks({"pending_s": 0})
    simulator.advance_clock(7200)
    outcomes.sweep()
    waves.advance(campaign.pk)
    held.refresh_from_db()
    assert held.request_id is not None


def test_a_wave_is_made_in_chunks_and_a_release_cut_off_is_finished_by_the_next_step(
    campaign_settings, alice, bob, settings, monkeypatch
):
    simulator = campaign_settings
    settings.CAMPAIGN_SMALL = 100
    settings.CAMPAIGN_CANARY = 0
    settings.CAMPAIGN_WAVE = 7
    monkeypatch.setattr(waves, "RELEASE_CHUNK", 3)  # chunks of 3: 3 in the step's transaction, then 3 and 1
    calls = []
    make = batch.create_children

    def cut_off_at_the_second_chunk(campaign, hosts):
        calls.append(len(hosts))
        if len(calls) == 2:
            raise RuntimeError("the releasing process is gone")  # its transaction rolls back
        return make(campaign, hosts)

    monkeypatch.setattr(batch, "create_children", cut_off_at_the_second_chunk)
    campaign = _file(alice, TOKYO[:9])
    campaigns.approve(campaign, user=bob)  # the release after the commit fails at its second chunk
    children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
    assert calls == [3, 3]
    assert children.count() == 3  # the first chunk was committed; the rest of the wave has no request yet
    assert campaign.hosts.filter(wave=1, request__isnull=True).count() == 4
    monkeypatch.setattr(batch, "create_children", make)
    # the next step (the periodic duty) makes the rest of the same wave, not a new one
    assert waves.advance(campaign.pk)["released"] == 4
    assert children.count() == 7
    assert campaign.hosts.filter(wave=1).count() == 7 and not campaign.hosts.filter(wave=2).exists()
    assert waves.advance(campaign.pk)["released"] == 0  # nothing twice: the wave is not sent yet
    run_worker()
    assert set(children.values_list("status", flat=True)) == {Status.SUBMITTED}
    # one incident per host
    incidents = simulator.incidents()
    assert len(incidents) == 7
    assert sorted(children.values_list("target_host", flat=True)) == sorted(
        campaign.hosts.filter(wave=1).values_list("host_id", flat=True)
    )
    assert waves.advance(campaign.pk)["released"] == 2  # then the next wave
    report = audit_chain.verify()
    assert report.intact, report.problems
