"""A campaign's whole flow in Chromium at 390 px, in English and Japanese (issue 27, point 12).

Paste a list → the dry run with a protected host left out and an unknown line listed → two
approvals because of the size → the canary → the waves → the outcomes → Reverse files the
release of exactly the submitted hosts. The portal's worker runs in this process between steps.
"""

from __future__ import annotations

import json
import re

import pytest

from campaigns import waves
from campaigns.models import Campaign, CampaignStatus
from responses import outcomes
from responses.models import ResponseRequest, Status
from tests.fixtures.browser import PHONE, assert_fits
from tests.fixtures.submission import run_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTS = [f"TKY-WS-{n:04d}" for n in range(101, 107)]


@pytest.fixture
def campaign_settings(portal, settings, tmp_path):
    protected = tmp_path / "protected.json"
    protected.write_text(json.dumps([{"name": "DC01", "reason": "domain controller"}]), encoding="utf-8")
    settings.PROTECTED_HOSTS_FILE = str(protected)
    settings.CAMPAIGN_SMALL = 3  # 6 hosts: one more approver
    settings.CAMPAIGN_GROUP_SHARE = 100
    settings.CAMPAIGN_CANARY = 2
    settings.CAMPAIGN_WAVE = 2
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    settings.KSC_SUBMIT_BACKOFF = 0
    return portal


def _decide(page, key, comment: str) -> None:
    page.goto(f"/campaigns/{key}/")
    assert_fits(page, "the campaign page of an approver")
    page.fill("#comment", comment)
    page.click("#approve")
    page.wait_for_url(re.compile(rf"/campaigns/{key}/$"))


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_whole_campaign_flow_on_a_phone(language, campaign_settings, open_as, ksc_settings, alice, bob, carol):
    simulator = ksc_settings
    page = open_as(alice, language=language, viewport=PHONE)
    page.goto("/campaigns/new/")
    assert_fits(page, "choosing the campaign's task")
    page.check("input[name=task][value=isolateHost]")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/campaigns/new/\?task=isolateHost"))
    assert_fits(page, "the campaign form")
    page.check("input[name=p-action][value='1']")
    page.fill("#id_hosts", "\n".join([*HOSTS, "DC01", "NO-SUCH-HOST"]))
    page.fill("#id_justification", "Emotet spreading in Tokyo (INC-42)")
    page.click("button[name=step][value=preview]")
    # The dry run: the protected host left out, the unknown line listed, two approvals and why.
    page.wait_for_selector("#file-campaign")
    assert_fits(page, "the dry run")
    assert "DC01" in page.inner_text("#excluded-hosts")
    assert "NO-SUCH-HOST" in page.inner_text("#unresolved-lines")
    assert page.inner_text("#dry-run-total").strip() == "6"
    assert page.inner_text("#approvals-needed strong").strip() == "2"
    assert "CAMPAIGN_SMALL" in page.inner_text("#approvals-needed")
    page.click("#file-campaign")
    page.wait_for_url(re.compile(r"/campaigns/[0-9a-f-]{36}/$"))
    key = page.url.rstrip("/").rsplit("/", 1)[-1]
    campaign = Campaign.objects.get(uuid=key)
    assert campaign.approvals_required == 2 and campaign.status == CampaignStatus.PENDING_APPROVAL
    assert_fits(page, "the filed campaign's page")

    # Two approvers, each on a phone; the second approval starts the canary.
    _decide(open_as(bob, language=language, viewport=PHONE), key, "checked the list")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PENDING_APPROVAL
    _decide(open_as(carol, language=language, viewport=PHONE), key, "go")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
    assert children.count() == 2  # the canary

    # The canary, then the waves: the worker submits, KSC's tasks complete, the duty releases the next.
    for _ in range(6):
        run_worker()
        simulator.advance_clock(5)
        outcomes.sweep()
        waves.advance(campaign.pk)
        campaign.refresh_from_db()
        if campaign.status == CampaignStatus.COMPLETED:
            break
    assert campaign.status == CampaignStatus.COMPLETED
    assert set(children.values_list("status", flat=True)) == {Status.SUBMITTED}
    assert len(simulator.incidents()) == 6

    page.goto(f"/campaigns/{key}/")
    assert_fits(page, "the completed campaign")
    assert page.locator("#campaign-status").get_attribute("data-status") == "completed"
    assert page.locator("#progress").get_attribute("value") == "100"
    assert page.locator("#campaign-hosts tbody tr").count() == 7  # six hosts and the protected one
    assert page.locator("[data-outcome=completed]").count() == 6
    # Links both ways: a host's request, and from it back to the campaign.
    page.click("#campaign-hosts a[href^='/requests/']")
    page.wait_for_url(re.compile(r"/requests/[0-9a-f-]{36}/$"))
    page.click(f"a[href='/campaigns/{key}/']")
    page.wait_for_url(re.compile(rf"/campaigns/{key}/$"))

    # Reverse: the release of exactly the six submitted hosts, through the same approvals.
    page.click("#reverse")
    page.wait_for_url(re.compile(r"/campaigns/[0-9a-f-]{36}/$"))
    release = Campaign.objects.get(uuid=page.url.rstrip("/").rsplit("/", 1)[-1])
    assert release.reverse_of_id == campaign.pk and release.params == {"action": 0}
    assert sorted(release.hosts.filter(excluded_reason="").values_list("display_name", flat=True)) == HOSTS
    assert release.status == CampaignStatus.PENDING_APPROVAL
    assert_fits(page, "the release campaign")
