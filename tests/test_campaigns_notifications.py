"""Messages per campaign, never per host (issue 27, point 10): a real SMTP server and a chat webhook."""

from __future__ import annotations

from campaigns import filing, waves
from campaigns import workflow as campaigns
from campaigns.models import CampaignStatus
from tests.fixtures.notifications import run_notify_worker
from tests.fixtures.submission import run_worker

HOSTS = [f"TKY-WS-{n:04d}" for n in range(101, 105)]


def test_a_campaign_tells_people_once_not_once_per_host(
    notifying, submission, smtp_server, webhook, notify_queue, settings, alice, bob, carol
):
    simulator = submission
    settings.CAMPAIGN_SMALL, settings.CAMPAIGN_GROUP_SHARE, settings.CAMPAIGN_CANARY = 2, 100, 0
    settings.KSC_SUBMIT_HOURLY_CAP = 0
    campaign = filing.file_campaign(
        alice, task="isolateHost", params={"action": 1}, hosts=HOSTS, justification="Emotet (INC-5)"
    )
    run_notify_worker(notify_queue)
    waiting = smtp_server.to("bob@example.test")
    assert len(waiting) == 1
    assert "Campaign waits for 2 approval(s)" in waiting[0]["Subject"]
    body = waiting[0].get_content()
    assert "CAMPAIGN_SMALL" in body and f"/campaigns/{campaign.uuid}/" in body
    assert not smtp_server.to("alice@example.test")  # the requester is not asked to approve her own
    assert len(webhook.posts) == 1

    campaigns.approve(campaign, user=bob)
    campaigns.approve(campaign, user=carol)
    run_worker()
    simulator.advance_clock(5)
    waves.advance(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    run_notify_worker(notify_queue)
    to_alice = [mail["Subject"] for mail in smtp_server.to("alice@example.test")]
    # approved and finished: one message each for the campaign, none for its four requests
    assert len(to_alice) == 2, to_alice
    assert any("Campaign approved" in subject for subject in to_alice)
    assert any("Campaign finished" in subject for subject in to_alice)
    assert len(smtp_server.to("bob@example.test")) == 1
