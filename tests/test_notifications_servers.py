"""Each KSC server's own channels (issue 26, point 5): a tenant is never notified about another tenant's hosts.

Real parts: the notify queue's RQ worker, an SMTP server and one webhook server per channel
(tests/fixtures/notifications.py), Slack and Mattermost played over HTTP (tests/fixtures/chat.py),
the portal as a live server for the chat buttons. Two servers, ``acme`` and ``globex``, each with
its own channel in its servers file entry; the portal-wide NOTIFY_URLS is the operator's channel
and hears both.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import roles, tenants
from campaigns import filing
from notifications import channels
from notifications.models import DeliveryStatus, Notification
from portal.ksc_servers import read_servers
from responses.models import EventKind, RequestEvent, Status
from tests.fixtures.accounts import make_user
from tests.fixtures.chat import post_to_portal, slack_click_body
from tests.fixtures.notifications import run_notify_worker
from tests.support.filing import file_request

MARKERS = {"acme": "zzacmezz", "globex": "zzglobexzz"}


def file_on(server: str, analyst):
    marker = MARKERS[server]
    return file_request(
        user=analyst,
        server=server,
        task="isolateHost",
        target_host=f"{marker}-host-0001",
        target_host_name=f"{marker}-WS-0001",
        params={"action": 1},
        justification=f"Beaconing seen by {marker}",
    )


def text(post: dict) -> str:
    return json.dumps(post, ensure_ascii=False)


def test_each_servers_channel_hears_only_its_servers_requests_and_the_operators_channel_hears_both(
    tenant_channels, webhook, smtp_server, notify_queue
):
    acme = file_on("acme", tenant_channels.analysts["acme"])
    globex = file_on("globex", tenant_channels.analysts["globex"])
    assert acme.status == globex.status == Status.PENDING_APPROVAL

    run_notify_worker(notify_queue)

    for server, other in (("acme", "globex"), ("globex", "acme")):
        posts = tenant_channels.hooks[server].posts
        assert len(posts) == 1, (server, posts)
        assert MARKERS[server] in text(posts[0]) and MARKERS[other] not in text(posts[0])
        mails = smtp_server.to(f"{server}-approver@example.test")
        assert len(mails) == 1 and MARKERS[server] in mails[0]["Subject"] + mails[0].get_content()
        assert MARKERS[other] not in mails[0]["Subject"] + mails[0].get_content()
    # The portal-wide channel is the operator's (global staff only): every server's requests.
    assert sorted(MARKERS["acme"] in text(post) for post in webhook.posts) == [False, True]
    assert len(smtp_server.to("global-approver@example.test")) == 2

    notes = Notification.objects.filter(channel="chat").order_by("destination")
    assert [(n.destination, n.label, n.status) for n in notes if n.request_id == acme.pk] == [
        ("chat:0", "JSON", DeliveryStatus.DELIVERED),
        ("chat@acme:0", "JSON (acme)", DeliveryStatus.DELIVERED),
    ]
    for note in notes:  # what auditors read never holds a channel's URL
        assert "127.0.0.1" not in note.label and "hook" not in note.label


def test_a_campaign_is_told_on_its_servers_channel_and_to_its_servers_approvers_only(
    notifying, two_ksc_servers, webhook, smtp_server, notify_queue, settings
):
    from tests.fixtures.notifications import WebhookServer

    hooks = {name: WebhookServer() for name in ("east", "west")}
    try:
        settings.KSC_SERVERS = [
            dataclasses.replace(server, notify_urls=(hooks[server.name].url(server.name),))
            for server in settings.KSC_SERVERS
        ]
        settings.CAMPAIGN_SMALL, settings.CAMPAIGN_GROUP_SHARE, settings.CAMPAIGN_CANARY = 2, 100, 0
        analyst = make_user("west-analyst", roles.ANALYSTS)
        approvers = {name: make_user(f"{name}-approver", roles.APPROVERS) for name in ("east", "west")}
        for name, user in (("west", analyst), *approvers.items()):
            tenants.set_scope(user, every_server=False, servers=[name])

        campaign = filing.file_campaign(
            analyst,
            server="west",
            task="isolateHost",
            params={"action": 1},
            hosts=[f"TKY-WS-{n:04d}" for n in range(101, 105)],
            justification="Emotet in the west (INC-6)",
        )
        assert campaign.server == "west"
        run_notify_worker(notify_queue)

        assert len(hooks["west"].posts) == 1 and "Campaign waits" in text(hooks["west"].posts[0])
        assert hooks["east"].posts == []
        assert len(webhook.posts) == 1  # the operator's channel
        assert len(smtp_server.to("west-approver@example.test")) == 1
        assert smtp_server.to("east-approver@example.test") == []  # another tenant's approver hears nothing
    finally:
        for hook in hooks.values():
            hook.stop()


def test_an_escalation_pages_its_servers_on_call_only(tenant_channels, settings, notify_queue):
    import datetime as dt

    from notifications import jobs
    from tests.fixtures.notifications import WebhookServer

    pager = WebhookServer()  # acme's on-call; globex has none, and no portal-wide ESCALATE_URLS
    try:
        settings.APPROVAL_SLA_BY_TASK = {"isolateHost": 900}
        settings.ESCALATE_URLS = []
        settings.KSC_SERVERS = [
            dataclasses.replace(server, escalate_urls=(pager.url("acme-oncall"),)) if server.name == "acme" else server
            for server in settings.KSC_SERVERS
        ]
        acme = file_on("acme", tenant_channels.analysts["acme"])
        globex = file_on("globex", tenant_channels.analysts["globex"])
        run_notify_worker(notify_queue)
        assert pager.posts == []  # on-call hears escalations only

        assert jobs.sweep(now=acme.created_at + dt.timedelta(minutes=16))["escalated"] == 2
        run_notify_worker(notify_queue)
        assert len(pager.posts) == 1
        assert "Escalated" in pager.posts[0]["title"] and MARKERS["acme"] in text(pager.posts[0])
        assert Notification.objects.get(destination="oncall@acme:0").label == "on-call: JSON (acme)"
        # The trail says on-call was told only where the request's own server has an on-call channel.
        escalated = {
            rr.server: rr.events.get(kind=EventKind.ESCALATED).message for rr in (acme, globex)
        }
        assert "on-call" in escalated["acme"]
        assert "on-call" not in escalated["globex"] and "nobody" in escalated["globex"]
    finally:
        pager.stop()


def test_a_test_message_to_one_servers_channels_goes_there_only(tenant_channels, webhook):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("send_test_notification", "--to", "channels", "--server", "globex", stdout=out)
    assert out.getvalue().strip() == "JSON (globex): delivered"
    assert len(tenant_channels.hooks["globex"].posts) == 1
    assert tenant_channels.hooks["acme"].posts == [] and webhook.posts == []
    with pytest.raises(CommandError, match="No KSC server 'initech' in KSC_SERVERS_FILE"):
        call_command("send_test_notification", "--to", "channels", "--server", "initech")
    with pytest.raises(CommandError, match="--server goes with --to channels"):
        call_command("send_test_notification", "--to", "acme-approver", "--server", "acme")
    assert len(tenant_channels.hooks["globex"].posts) == 1 and webhook.posts == []


SLACK_PATH = "/notifications/chat/slack/interactions/"


def slack_buttons(message: dict) -> dict[str, dict]:
    found = {}
    for block in message["blocks"]:
        if block["type"] == "actions":
            found.update({element["action_id"]: element for element in block["elements"]})
    return found


def claims(rr) -> list[RequestEvent]:
    return list(RequestEvent.objects.filter(request=rr, kind=EventKind.REVIEW_CLAIMED))


def test_each_servers_slack_and_mattermost_channels_and_a_click_from_another_tenant_changes_nothing(
    tenant_channels, chatting, chat_service, notify_queue, live_server, settings
):
    import requests

    settings.KSC_SERVERS = [
        dataclasses.replace(
            server,
            slack_channels=(f"C0{server.name.upper()}",),
            mattermost_webhook_urls=(f"{chat_service.base}/mm/hooks/{server.name}-hook",),
        )
        for server in settings.KSC_SERVERS
    ]
    chat_service.emails.update({"UACME": "acme-approver@example.test", "UGLOBEX": "globex-approver@example.test"})
    chat_service.emails.update({"mmacme": "acme-approver@example.test", "mmglobex": "globex-approver@example.test"})
    acme = file_on("acme", tenant_channels.analysts["acme"])
    globex = file_on("globex", tenant_channels.analysts["globex"])
    run_notify_worker(notify_queue)

    posted = [call.body for call in chat_service.to("/slack/api/chat.postMessage")]
    by_channel = {
        channel: [p for p in posted if p["channel"] == channel] for channel in ("C0ACME", "C0GLOBEX", "C0SOC0001")
    }
    assert len(by_channel["C0ACME"]) == 1 and MARKERS["acme"] in text(by_channel["C0ACME"][0])
    assert MARKERS["globex"] not in text(by_channel["C0ACME"][0])
    assert len(by_channel["C0GLOBEX"]) == 1 and MARKERS["globex"] in text(by_channel["C0GLOBEX"][0])
    assert len(by_channel["C0SOC0001"]) == 2  # the operator's channel
    for server, other in (("acme", "globex"), ("globex", "acme")):
        [hook] = chat_service.to(f"/mm/hooks/{server}-hook")
        assert MARKERS[server] in text(hook.body) and MARKERS[other] not in text(hook.body)
    assert len(chat_service.to("/mm/hooks/soc-channel-hook")) == 2

    # A globex approver clicks Claim on acme's message (in the operator's channel, or one forwarded):
    # the policy hides acme's request from them (404), and nothing is written.
    claim = slack_buttons(by_channel["C0ACME"][0])["claim"]
    answer = post_to_portal(
        live_server.url + SLACK_PATH,
        slack_click_body("UGLOBEX", claim, f"{chat_service.base}/slack/response/T0SOC/1"),
    )
    assert answer.status_code == 404 and "may not see it" in answer.json()["error"]
    mm_claim = next(
        action
        for action in chat_service.to("/mm/hooks/acme-hook")[0].body["attachments"][0]["actions"]
        if action["id"] == "claim"
    )
    body = {
        "user_id": "mmglobex",
        "user_name": "mmglobex",
        "channel_id": "mmchannel",
        "team_id": "mmteam",
        "post_id": "mmpost1",
        "trigger_id": "mmtrigger1",
        "type": "",
        "context": mm_claim["integration"]["context"],
    }
    refused = requests.post(mm_claim["integration"]["url"], json=body, timeout=30)
    assert refused.status_code == 404
    assert claims(acme) == []

    # acme's own approver may, from acme's channel; globex's request is untouched by it.
    answer = post_to_portal(
        live_server.url + SLACK_PATH,
        slack_click_body("UACME", claim, f"{chat_service.base}/slack/response/T0SOC/2"),
    )
    assert answer.status_code == 200
    assert [event.actor_username for event in claims(acme)] == ["acme-approver"]
    assert claims(globex) == []


# --- Checked at start --------------------------------------------------------------------------


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "acme.password"
    path.write_text("secret\n")
    return path


def servers_file(tmp_path, password_file, **channel_keys) -> str:
    entry = {
        "name": "acme",
        "url": "https://ksc-acme.example:13299",
        "user": "edr-portal",
        "password_file": str(password_file),
        **channel_keys,
    }
    path = tmp_path / "servers.json"
    path.write_text(json.dumps([entry]))
    return str(path)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"notify_urls": "json://hooks.example/x"}, "entry 1 ('acme'): notify_urls: a list of URLs"),
        ({"notify_urls": ["tok-en-without-scheme"]}, "entry 1 ('acme'): notify_urls: item 1 is not a URL"),
        ({"escalate_urls": ["json://ok.example/x", ""]}, "entry 1 ('acme'): escalate_urls: item 2 must be text"),
        ({"slack_channels": ["#soc team"]}, "entry 1 ('acme'): slack_channels: item 1 is not a Slack channel id"),
        (
            {"mattermost_webhook_urls": ["json://mm.example/hooks/tok-en"]},
            "entry 1 ('acme'): mattermost_webhook_urls: item 1 is not an http:// or https:// webhook URL",
        ),
    ],
)
def test_a_bad_channel_key_is_refused_naming_the_entry_and_key_never_the_url(tmp_path, password_file, keys, message):
    with pytest.raises(ImproperlyConfigured) as refused:
        read_servers(servers_file(tmp_path, password_file, **keys))
    assert message in str(refused.value)
    assert "tok-en" not in str(refused.value)


def test_a_servers_channel_apprise_does_not_understand_is_refused_without_its_url(tmp_path, password_file):
    [server] = read_servers(servers_file(tmp_path, password_file, notify_urls=["nosuchservice://tok-en-1234/x"]))
    assert "tok-en" not in repr(server)  # a logged server never shows its channels' URLs
    with pytest.raises(ImproperlyConfigured) as refused:
        channels.check_server_channels([server])
    words = str(refused.value)
    assert "KSC_SERVERS_FILE: entry 1 ('acme'): notify_urls: entry 1 (scheme 'nosuchservice')" in words
    assert "tok-en" not in words


def test_a_servers_slack_channel_without_the_slack_secrets_refuses_to_start(tmp_path, password_file):
    from tests.support.subprocesses import settings_in_subprocess

    path = servers_file(tmp_path, password_file, slack_channels=["C0ACME"])
    result = settings_in_subprocess(
        {"DEBUG": "1", "KSC_SERVERS_FILE": path, "PORTAL_BASE_URL": "https://edr.example.test"}
    )
    assert result.returncode != 0
    assert "KSC_SERVERS_FILE: entry 1 ('acme'): slack_channels needs SLACK_BOT_TOKEN" in result.stderr
