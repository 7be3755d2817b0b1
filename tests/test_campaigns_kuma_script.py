"""examples/kuma_campaign.py, run as KUMA runs it: a subprocess against a live portal, one campaign per event."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.tokens import issue_token
from campaigns.models import Campaign

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "kuma_campaign.py"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=120
    )


@pytest.fixture
def portal(live_server, alice, ksc_settings, settings) -> dict[str, str]:
    settings.CAMPAIGN_GROUP_SHARE = 100
    return {"PORTAL_URL": live_server.url, "PORTAL_TOKEN": issue_token(alice)[1]}


def event(*extra: str) -> list[str]:
    return [
        "--task",
        "isolateHost",
        "--params",
        '{"action": 1}',
        "--hosts",
        "TKY-WS-0101, TKY-WS-0102 tky-ws-0103.corp.example.co.jp,NO-SUCH-HOST",
        "--justification",
        "KUMA: Emotet spreading in Tokyo",
        *extra,
    ]


def test_it_files_one_campaign_for_every_host_of_the_event_and_a_refire_files_nothing(portal):
    first = run(*event("--external-ref", "KUMA-77"), env=portal)
    assert first.returncode == 0, first.stderr
    key, status, hosts, approvals = first.stdout.split()
    assert (status, hosts, approvals) == ("pending_approval", "3", "1")
    assert "not resolved: NO-SUCH-HOST" in first.stderr
    campaign = Campaign.objects.get(uuid=key)
    assert (campaign.source, campaign.external_ref, campaign.requester_username) == ("api", "KUMA-77", "alice")
    again = run(*event("--external-ref", "KUMA-77"), env=portal)  # the rule fires again for the same event
    assert again.returncode == 0 and again.stdout.split()[0] == key
    assert Campaign.objects.count() == 1


def test_bad_input_and_a_bad_token_exit_with_their_codes(portal):
    assert run(*event("--params", "{nope"), env=portal).returncode == 2
    refused = run(
        "--task",
        "isolateHost",
        "--params",
        '{"action": 9}',
        "--hosts",
        "TKY-WS-0101",
        "--justification",
        "x",
        env=portal,
    )
    assert refused.returncode == 2 and "params" in refused.stderr
    assert run(*event(), env={**portal, "PORTAL_TOKEN": "wrong"}).returncode == 3
    assert not Campaign.objects.exists()


def test_it_files_the_hosts_of_a_ksc_group(portal):
    args = ["--task", "isolateHost", "--params", '{"action": 1}', "--justification", "KUMA: servers"]
    filed = run(*args, "--group", "Managed devices/Servers", "--subgroups", "--external-ref", "KUMA-78", env=portal)
    assert filed.returncode == 0, filed.stderr
    assert filed.stdout.split()[2] == "11"  # the 9 servers and the 2 domain controllers below them
    unknown = run(*args, "--group", "Managed devices/Nowhere", env=portal)
    assert unknown.returncode == 2 and "KSC has no administration group Managed devices/Nowhere" in unknown.stderr
    assert Campaign.objects.count() == 1
