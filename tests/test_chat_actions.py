"""Safe actions from chat (issue 29, point 4): Claim, Reject with a reason, Snooze; never Approve.

The portal runs as a live server; the tests play Slack's signed requests and Mattermost's
button calls against it over HTTP, and a real HTTP server (tests/fixtures/chat.py) plays
Slack's Web API, its response URLs and Mattermost's webhook and API, recording what the portal
sent. Each refusal (a replayed or wrongly signed request, an unmapped chat user, a requester
rejecting their own request, an empty reason) answers 4xx and leaves the request as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import requests
from django.utils import timezone

from accounts import roles
from notifications import jobs
from notifications.models import DeliveryStatus, Notification, NotificationKind
from responses.models import Decision, EventKind, RequestEvent, ResponseRequest, Status
from tests.fixtures.accounts import make_user
from tests.fixtures.chat import (
    BOT_TOKEN,
    MM_ACTION_TOKEN,
    post_to_portal,
    slack_click_body,
    slack_sign,
)
from tests.fixtures.notifications import file, run_notify_worker

SLACK_PATH = "/notifications/chat/slack/interactions/"


@pytest.fixture
def erin(db):
    """An analyst who is also an approver: she files, and must not reject her own request from chat."""
    return make_user("erin", roles.ANALYSTS, roles.APPROVERS)


def posted_slack_message(chat_service, index: int = -1) -> dict:
    return chat_service.to("/slack/api/chat.postMessage")[index].body


def buttons(message: dict) -> dict[str, dict]:
    found = {}
    for block in message["blocks"]:
        if block["type"] == "actions":
            found.update({element["action_id"]: element for element in block["elements"]})
    return found


def all_text(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def waiting_request(user, chat_service, notify_queue) -> tuple[ResponseRequest, dict]:
    rr = file(user)
    run_notify_worker(notify_queue)
    return rr, posted_slack_message(chat_service)


def response_url(chat_service, n: int) -> str:
    return f"{chat_service.base}/slack/response/T0SOC/{n}"


def click(live_server, chat_service, user_id, button, n=1, reason=None, **signing):
    body = slack_click_body(user_id, button, response_url(chat_service, n), reason)
    return post_to_portal(live_server.url + SLACK_PATH, body, **signing)


def events(rr, *kinds) -> list[RequestEvent]:
    return list(RequestEvent.objects.filter(request=rr, kind__in=kinds).order_by("seq"))


def test_it_posts_a_waiting_request_with_claim_reject_snooze_and_an_approve_link_never_an_approve_button(
    chatting, chat_service, notify_queue, alice, bob
):
    rr, message = waiting_request(alice, chat_service, notify_queue)

    call = chat_service.to("/slack/api/chat.postMessage")[0]
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"  # the bot token goes only to Slack's API
    assert message["channel"] == "C0SOC0001"
    assert "PAYROLL-01" in message["text"]
    found = buttons(message)
    assert set(found) == {"claim", "snooze", "reject", "approve_link"}
    # Approve is a link to the step-up page: no value Slack could post back to approve with.
    assert found["approve_link"]["url"].endswith(f"/requests/{rr.uuid}/approve/confirm/")
    assert "value" not in found["approve_link"]
    assert json.loads(found["reject"]["value"]) == {"r": str(rr.uuid), "k": "approval_needed"}

    hook = chat_service.to("/mm/hooks/soc-channel-hook")[0].body
    actions = hook["attachments"][0]["actions"]
    assert [action["id"] for action in actions] == ["claim", "snooze", "reject"]
    assert actions[0]["integration"]["url"] == chatting.PORTAL_BASE_URL + "/notifications/chat/mattermost/actions/"
    assert f"/requests/{rr.uuid}/approve/confirm/" in hook["attachments"][0]["text"]

    notes = Notification.objects.filter(request=rr, channel="chat").order_by("destination")
    assert [(n.label, n.status) for n in notes] == [
        ("Mattermost webhook 1", DeliveryStatus.DELIVERED),
        ("Slack C0SOC0001", DeliveryStatus.DELIVERED),
    ]
    for note in notes:  # no token, no webhook URL in what auditors read
        assert "hooks" not in note.label and BOT_TOKEN not in note.body and "soc-channel-hook" not in note.label


def test_it_claims_from_slack_in_the_trail_and_updates_the_message_in_place(
    chatting, chat_service, notify_queue, live_server, alice, bob, carol
):
    rr, message = waiting_request(alice, chat_service, notify_queue)

    answer = click(live_server, chat_service, "UBOB", buttons(message)["claim"])
    assert answer.status_code == 200

    [claimed] = events(rr, EventKind.REVIEW_CLAIMED)
    assert (claimed.actor_username, claimed.detail["via"]) == ("bob", "slack")
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL  # a claim decides nothing
    run_notify_worker(notify_queue)
    replaced, told = chat_service.to("/slack/response/T0SOC/1")
    assert replaced.body["replace_original"] is True
    assert "Claimed by bob" in all_text(replaced.body)
    assert "claim" not in buttons(replaced.body)  # claimed once: the others see who
    assert {"reject", "snooze", "approve_link"} <= set(buttons(replaced.body))
    assert told.body["response_type"] == "ephemeral" and "You claimed" in told.body["text"]

    # carol's claim after bob's is refused, naming him; the trail keeps one claim.
    chat_service.emails["UCAROL"] = "carol@example.test"
    again = click(live_server, chat_service, "UCAROL", buttons(message)["claim"], n=3)
    assert again.status_code == 409 and "bob claimed this request already" in again.json()["error"]
    assert len(events(rr, EventKind.REVIEW_CLAIMED)) == 1


def test_it_refuses_a_replayed_request_and_one_outside_the_five_minute_window(
    chatting, chat_service, notify_queue, live_server, alice, bob
):
    rr, message = waiting_request(alice, chat_service, notify_queue)
    body = slack_click_body("UBOB", buttons(message)["claim"], response_url(chat_service, 1))
    stamp = str(int(time.time()))

    assert post_to_portal(live_server.url + SLACK_PATH, body, timestamp=stamp).status_code == 200
    replayed = post_to_portal(live_server.url + SLACK_PATH, body, timestamp=stamp)
    assert replayed.status_code == 401 and "replay" in replayed.json()["error"]

    snooze = slack_click_body("UBOB", buttons(message)["snooze"], response_url(chat_service, 2))
    old = str(int(time.time()) - 6 * 60)  # correctly signed, six minutes old
    late = post_to_portal(live_server.url + SLACK_PATH, snooze, timestamp=old, signature=slack_sign(snooze, old))
    assert late.status_code == 401 and "five-minute window" in late.json()["error"]
    assert len(events(rr, EventKind.REVIEW_CLAIMED)) == 1
    assert events(rr, EventKind.SNOOZED) == []


def test_it_refuses_a_wrong_signature_and_a_missing_one(chatting, chat_service, notify_queue, live_server, alice, bob):
    rr, message = waiting_request(alice, chat_service, notify_queue)
    body = slack_click_body("UBOB", buttons(message)["reject"], response_url(chat_service, 1), reason="no")
    stamp = str(int(time.time()))

    forged = post_to_portal(
        live_server.url + SLACK_PATH, body, timestamp=stamp, signature=slack_sign(body, stamp, secret="guessed")
    )
    assert forged.status_code == 401 and "does not match" in forged.json()["error"]
    bare = requests.post(live_server.url + SLACK_PATH, data=body, timeout=30)
    assert bare.status_code == 401 and "no Slack signature" in bare.json()["error"]
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL and not Decision.objects.filter(request=rr).exists()


def test_it_refuses_a_chat_user_the_portal_cannot_map_and_tells_them_why(
    chatting, chat_service, notify_queue, live_server, alice, bob
):
    rr, message = waiting_request(alice, chat_service, notify_queue)
    chat_service.emails["UNKNOWN"] = "someone@elsewhere.test"  # a profile e-mail no portal user has

    answer = click(live_server, chat_service, "UNKNOWN", buttons(message)["reject"], reason="not ours")
    assert answer.status_code == 403 and "does not know who you are" in answer.json()["error"]
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL
    run_notify_worker(notify_queue)
    [told] = chat_service.to("/slack/response/T0SOC/1")
    assert told.body["response_type"] == "ephemeral" and "does not know who you are" in told.body["text"]


def test_it_maps_a_slack_user_by_the_e_mail_of_their_profile(
    chatting, chat_service, notify_queue, live_server, alice, bob, carol
):
    rr, message = waiting_request(alice, chat_service, notify_queue)
    chat_service.emails["UCAROL"] = "Carol@Example.test"  # not in CHAT_USER_MAP; users.info gives her e-mail

    assert click(live_server, chat_service, "UCAROL", buttons(message)["claim"]).status_code == 200
    assert [event.actor_username for event in events(rr, EventKind.REVIEW_CLAIMED)] == ["carol"]
    asked = chat_service.to("/slack/api/users.info", method="GET")
    assert asked and asked[0].headers["Authorization"] == f"Bearer {BOT_TOKEN}"


def test_a_requester_cannot_reject_their_own_request_from_chat(
    chatting, chat_service, notify_queue, live_server, erin, bob
):
    rr, message = waiting_request(erin, chat_service, notify_queue)

    answer = click(live_server, chat_service, "UERIN", buttons(message)["reject"], reason="never mind")
    assert answer.status_code == 403
    assert "their own request" in answer.json()["error"]
    claim = click(live_server, chat_service, "UERIN", buttons(message)["claim"], n=2)
    assert claim.status_code == 403
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL
    assert events(rr, EventKind.REJECTED, EventKind.REVIEW_CLAIMED) == []


def test_it_rejects_from_slack_with_the_reason_and_the_requester_is_told(
    chatting, chat_service, notify_queue, live_server, smtp_server, alice, bob
):
    rr, message = waiting_request(alice, chat_service, notify_queue)

    empty = click(live_server, chat_service, "UBOB", buttons(message)["reject"], reason="   ")
    assert empty.status_code == 400 and "reason" in empty.json()["error"]
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL

    answer = click(live_server, chat_service, "UBOB", buttons(message)["reject"], n=2, reason="Wrong host: PAYROLL-02")
    assert answer.status_code == 200
    rr.refresh_from_db()
    assert rr.status == Status.REJECTED
    [rejected] = events(rr, EventKind.REJECTED)
    assert (rejected.actor_username, rejected.message, rejected.detail) == ("bob", "Wrong host: PAYROLL-02", {"via": "slack"})
    assert Decision.objects.get(request=rr).approver == bob

    run_notify_worker(notify_queue)
    replaced = chat_service.to("/slack/response/T0SOC/2")[0].body
    assert "Rejected by bob" in all_text(replaced) and "Wrong host: PAYROLL-02" in all_text(replaced)
    assert buttons(replaced) == {}  # decided: no buttons left
    mail = smtp_server.to("alice@example.test")[-1]
    assert "Rejected" in mail["Subject"] and "Wrong host" in mail.get_content()


def test_chat_never_approves_whatever_it_posts(chatting, chat_service, notify_queue, live_server, alice, bob):
    rr, message = waiting_request(alice, chat_service, notify_queue)
    forged = dict(buttons(message)["claim"], action_id="approve")

    answer = click(live_server, chat_service, "UBOB", forged)
    assert answer.status_code == 400 and "approve on the portal" in answer.json()["error"]
    link = click(live_server, chat_service, "UBOB", buttons(message)["approve_link"], n=2)
    assert link.status_code == 200  # Slack reports the link's click too: acknowledged, nothing done
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL and not Decision.objects.filter(request=rr).exists()


def test_a_snoozed_reminder_comes_back_once_when_the_snooze_ends(
    chatting, chat_service, notify_queue, live_server, smtp_server, alice, bob
):
    rr, message = waiting_request(alice, chat_service, notify_queue)

    assert click(live_server, chat_service, "UBOB", buttons(message)["snooze"]).status_code == 200
    [snoozed] = events(rr, EventKind.SNOOZED)
    assert snoozed.detail["minutes"] == 30 and snoozed.detail["via"] == "slack"
    run_notify_worker(notify_queue)
    assert "Reminder snoozed by bob until" in all_text(chat_service.to("/slack/response/T0SOC/1")[0].body)

    posts_before = len(chat_service.to("/slack/api/chat.postMessage"))
    assert jobs.remind_snoozed(timezone.now() + dt.timedelta(minutes=29)) == 0  # not yet
    assert jobs.remind_snoozed(timezone.now() + dt.timedelta(minutes=31)) == 1
    assert jobs.remind_snoozed(timezone.now() + dt.timedelta(minutes=40)) == 0  # once
    run_notify_worker(notify_queue)
    again = posted_slack_message(chat_service)
    assert len(chat_service.to("/slack/api/chat.postMessage")) == posts_before + 1
    assert "Snoozed reminder" in again["text"] and "snooze" in buttons(again)
    assert json.loads(buttons(again)["reject"]["value"])["k"] == NotificationKind.SNOOZE_ENDED
    assert any("Snoozed reminder" in mail["Subject"] for mail in smtp_server.to("bob@example.test"))
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL  # a snooze changes neither the status nor the expiry


class TestMattermost:
    URL = "/notifications/chat/mattermost/actions/"

    def action(self, chat_service, name: str) -> dict:
        hook = chat_service.to("/mm/hooks/soc-channel-hook")[-1].body
        return next(action for action in hook["attachments"][0]["actions"] if action["id"] == name)

    def call(self, live_server, button: dict, user_id: str, **context):
        body = {
            "user_id": user_id,
            "user_name": user_id,
            "channel_id": "mmchannel",
            "team_id": "mmteam",
            "post_id": "mmpost1",
            "trigger_id": "mmtrigger1",
            "type": "",
            "context": {**button["integration"]["context"], **context},
        }
        return requests.post(button["integration"]["url"], json=body, timeout=30)

    def test_it_claims_and_snoozes_and_the_answer_updates_the_post(
        self, chatting, chat_service, notify_queue, live_server, alice, bob
    ):
        rr, _message = waiting_request(alice, chat_service, notify_queue)

        answer = self.call(live_server, self.action(chat_service, "claim"), "mmbob")
        assert answer.status_code == 200
        update = answer.json()["update"]["props"]["attachments"][0]
        assert "Claimed by bob" in update["text"]
        assert [action["id"] for action in update["actions"]] == ["snooze", "reject"]
        assert "You claimed" in answer.json()["ephemeral_text"]
        assert events(rr, EventKind.REVIEW_CLAIMED)[0].detail["via"] == "mattermost"

    def test_it_refuses_a_call_whose_context_was_not_written_by_the_portal(
        self, chatting, chat_service, notify_queue, live_server, alice, bob
    ):
        rr, _message = waiting_request(alice, chat_service, notify_queue)
        claim = self.action(chat_service, "claim")

        other = self.call(live_server, claim, "mmbob", action="snooze")  # the claim's token on another action
        assert other.status_code == 401
        tokenless = self.call(live_server, claim, "mmbob", token="")
        assert tokenless.status_code == 401 and "no portal token" in tokenless.json()["error"]
        assert events(rr, EventKind.REVIEW_CLAIMED, EventKind.SNOOZED) == []

    def test_it_rejects_through_the_dialog_and_patches_the_post(
        self, chatting, chat_service, notify_queue, live_server, alice, bob, erin
    ):
        rr, _message = waiting_request(alice, chat_service, notify_queue)

        assert self.call(live_server, self.action(chat_service, "reject"), "mmbob").status_code == 200
        [opened] = chat_service.to("/mm/api/v4/actions/dialogs/open")
        dialog = opened.body
        assert dialog["trigger_id"] == "mmtrigger1"
        assert dialog["url"] == chatting.PORTAL_BASE_URL + "/notifications/chat/mattermost/dialog/"
        submission = {
            "type": "dialog_submission",
            "callback_id": dialog["dialog"]["callback_id"],
            "state": dialog["dialog"]["state"],
            "user_id": "mmbob",
            "channel_id": "mmchannel",
            "team_id": "mmteam",
            "submission": {"reason": ""},
            "cancelled": False,
        }
        empty = requests.post(dialog["url"], json=submission, timeout=30)
        assert "reason" in empty.json()["errors"]["reason"]
        rr.refresh_from_db()
        assert rr.status == Status.PENDING_APPROVAL

        forged_state = json.loads(dialog["dialog"]["state"])
        forged_state["request"] = "00000000-0000-4000-8000-000000000000"
        forged = requests.post(dialog["url"], json={**submission, "state": json.dumps(forged_state)}, timeout=30)
        assert forged.status_code == 401

        done = requests.post(dialog["url"], json={**submission, "submission": {"reason": "Duplicate of KUMA 4710"}}, timeout=30)
        assert done.status_code == 200
        rr.refresh_from_db()
        assert rr.status == Status.REJECTED
        assert events(rr, EventKind.REJECTED)[0].detail == {"via": "mattermost"}
        run_notify_worker(notify_queue)
        [patched] = chat_service.to("/mm/api/v4/posts/mmpost1/patch", method="PUT")
        attachment = patched.body["props"]["attachments"][0]
        assert "Rejected by bob" in attachment["text"] and "actions" not in attachment

    def test_a_requester_cannot_open_the_reject_dialog_on_their_own_request(
        self, chatting, chat_service, notify_queue, live_server, erin, bob
    ):
        rr, _message = waiting_request(erin, chat_service, notify_queue)
        answer = self.call(live_server, self.action(chat_service, "reject"), "mmerin")
        assert answer.status_code == 403 and "their own request" in answer.json()["ephemeral_text"]
        assert chat_service.to("/mm/api/v4/actions/dialogs/open") == []
        unmapped = self.call(live_server, self.action(chat_service, "claim"), "mmnobody")
        assert unmapped.status_code == 403
        rr.refresh_from_db()
        assert rr.status == Status.PENDING_APPROVAL


def test_the_token_of_the_buttons_is_never_what_is_sent(chatting, chat_service, notify_queue, alice, bob):
    waiting_request(alice, chat_service, notify_queue)
    sent = json.dumps([call.body for call in chat_service.calls])
    assert MM_ACTION_TOKEN not in sent  # each button carries an HMAC keyed with it, never the token


class TestConfiguration:
    def test_slack_channels_without_their_secrets_refuse_to_start(self):
        from tests.support.subprocesses import settings_in_subprocess

        result = settings_in_subprocess(
            {"DEBUG": "1", "SLACK_CHANNELS": "C0SOC0001", "PORTAL_BASE_URL": "https://edr.example.test"}
        )
        assert result.returncode != 0 and "SLACK_CHANNELS needs SLACK_BOT_TOKEN" in result.stderr
        webhook = settings_in_subprocess(
            {"DEBUG": "1", "MATTERMOST_WEBHOOK_URLS": "https://mm.example.test/hooks/x", "PORTAL_BASE_URL": "https://e.test"}
        )
        assert webhook.returncode != 0 and "needs MATTERMOST_ACTION_TOKEN" in webhook.stderr
        assert "hooks/x" not in webhook.stderr  # the webhook URL is a secret: never in an error

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("[1, 2]", "one JSON object"),
            ('{"teams:U1": "bob"}', "is not 'slack:<user id>'"),
            ('{"slack:U1": ""}', "must name a portal username"),
            ("{not json", "is not JSON"),
        ],
    )
    def test_a_bad_chat_user_map_is_refused_with_the_reason(self, tmp_path, content, message):
        from django.core.exceptions import ImproperlyConfigured

        from notifications import chat_users

        path = tmp_path / "map.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ImproperlyConfigured, match=message):
            chat_users.load_map(str(path))


def test_the_chat_speaks_notify_language_before_and_after_a_click(
    chatting, chat_service, notify_queue, live_server, alice, bob
):
    chatting.NOTIFY_LANGUAGE = "ja"
    rr, message = waiting_request(alice, chat_service, notify_queue)
    assert "承認が必要です：" in message["text"]
    labels = {name: button["text"]["text"] for name, button in buttons(message).items()}
    assert labels == {"claim": "担当する（確認中）", "snooze": "30 分保留", "reject": "却下", "approve_link": "ポータルで承認"}

    assert click(live_server, chat_service, "UBOB", buttons(message)["claim"]).status_code == 200
    run_notify_worker(notify_queue)
    replaced, told = chat_service.to("/slack/response/T0SOC/1")
    assert "bob が" in all_text(replaced.body) and "に担当しました（slack）。" in all_text(replaced.body)
    assert told.body["text"] == "この依頼を担当しました。あなたが確認中であることが他の承認者に表示されます。"
    rr.refresh_from_db()
    assert rr.status == Status.PENDING_APPROVAL
