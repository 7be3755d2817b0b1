"""A campaign's batch worker SIGKILLed mid-wave: every host still reaches KSC exactly once.

Real parts, as tests/test_faults.py: `manage.py rqworker ksc` processes with their keepers, the
KSC simulator as its own process over HTTPS, a private redis-server (benchmarks/faults.py's Stand).
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import connection

from benchmarks import faults
from campaigns import filing
from campaigns import workflow as campaigns
from campaigns.models import CampaignStatus
from portal.local_redis import free_port
from responses.ksc_servers import reset_clients as reset_client
from responses.models import EventKind, ResponseRequest, Status

SHORT = {"WORKER_HEARTBEAT_TTL": "2", "RECONCILE_INTERVAL": "3", "RECONCILE_GRACE": "1", "CAMPAIGN_DUTY_INTERVAL": "1"}


@pytest.fixture
def stand(transactional_db, settings, tmp_path, monkeypatch):
    for name, value in {**faults.RUN_SETTINGS, **SHORT}.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("KSC_") or name in SHORT}
    env.update(
        DATABASE_URL=faults.database_url(connection.settings_dict),
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    stand = faults.Stand(env, port, tmp_path)
    stand.start_redis()
    settings.RQ_QUEUES = {name: {**config, "URL": stand.redis_url} for name, config in settings.RQ_QUEUES.items()}
    try:
        stand.start_simulator()
        # This process files the campaign: it asks the stand's simulator too.
        settings.KSC_HOST, settings.KSC_PORT = "127.0.0.1", stand.ksc_port
        settings.KSC_VERIFY, settings.KSC_USER, settings.KSC_PASSWORD = str(stand.cert), stand.user, stand.password
        settings.KSC_DOMAIN, settings.KSC_VSERVER, settings.KSC_INTERNAL_USER = "", "", True
        settings.CAMPAIGN_CANARY, settings.CAMPAIGN_SMALL, settings.CAMPAIGN_GROUP_SHARE = 0, 100, 100
        settings.KSC_SUBMIT_HOURLY_CAP = 0
        reset_client()
        yield stand
    finally:
        reset_client()
        stand.stop()
        print((tmp_path / "workers.log").read_text()[-4000:] if (tmp_path / "workers.log").exists() else "")


def test_a_worker_sigkilled_mid_batch_leaves_each_host_exactly_one_incident(stand, alice, bob):
    row, known = faults.begin(stand, "campaign batch SIGKILL", workers=1)
    hosts = [f"TKY-WS-{n:04d}" for n in range(101, 113)]
    campaign = filing.file_campaign(
        alice, task="isolateHost", params={"action": 1}, hosts=hosts, justification="outbreak (INC-11)"
    )
    stand.set_faults({"delay_ms": 400})  # each KSC call takes 0.4 s: the kill lands mid-batch
    campaigns.approve(campaign, user=bob)
    children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
    assert children.count() == 12
    assert faults.wait_until(lambda: children.filter(ksc_incident_id__isnull=False).exists(), 60)
    time.sleep(0.3)
    (victim,) = stand.living_workers()
    stand.kill_worker(victim)
    stand.set_faults({})
    killed_with = children.filter(status=Status.SUBMITTING).count()
    assert killed_with >= 1, "the kill came after the batch: nothing was in flight"
    faults.begin(stand, "survivors", workers=2)
    keys = list(children.values_list("uuid", flat=True))
    assert faults.wait_settled(keys, time.monotonic(), faults.settle_timeout()) is not None
    faults.tally(row, stand, keys, known)
    assert (row.duplicates, row.lost, row.stuck) == (0, 0, 0), faults.table([row])
    assert row.incidents == row.requests == 12
    assert set(children.values_list("status", flat=True)) == {Status.SUBMITTED}
    # the requests the dead worker held went through the per-request machinery: requeued, then adopted or added
    assert children.filter(events__kind=EventKind.REQUEUED).distinct().count() >= 1
    assert faults.wait_until(
        lambda: campaigns.Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED, 30
    )
