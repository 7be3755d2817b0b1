"""The portal's endpoints for chat buttons: Slack's interactions, Mattermost's actions and its Reject dialog.

These three views are exempt from CSRF, and only they: a CSRF token protects a browser's
session, and these calls carry no session (they never log anyone in). They are verified
instead, before anything is read: Slack's signature over the exact body with
SLACK_SIGNING_SECRET within a five-minute window, each signature taken once; Mattermost's
context keyed with MATTERMOST_ACTION_TOKEN. Then the chat user must map to an active portal
user (notifications/chat_users.py), and the action goes through the same functions and policy
as the pages (notifications/chat_actions.py). Anything unverifiable or refused answers 4xx with
the reason and changes nothing.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from notifications import chat_actions, chat_users, jobs, mattermost, slack
from notifications.models import NotificationKind
from responses.models import ResponseRequest

log = logging.getLogger(__name__)


def _first_time(signature: str) -> bool:
    """True the first time Slack's signature is seen within the replay window (Redis SET NX)."""
    connection = jobs.queue_connection()
    return bool(connection.set(f"portal:slack-seen:{signature}", 1, nx=True, ex=slack.REPLAY_WINDOW * 2))


def _kind(value: str) -> str:
    return value if value in chat_actions.INTERACTIVE_KINDS else NotificationKind.APPROVAL_NEEDED


@csrf_exempt  # verified by Slack's signature instead: see the module's docstring
@require_POST
def slack_interactions(request: HttpRequest) -> HttpResponse:
    body = request.body
    try:
        slack.verify(
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            body,
            seen=_first_time,
        )
    except slack.Unverified as exc:
        log.warning("Slack interaction refused: %s", exc)
        return JsonResponse({"error": str(exc)}, status=401)
    except RedisError:
        return JsonResponse({"error": "The portal cannot check for replays now (Redis); try again."}, status=503)
    try:
        click = slack.parse(request.POST.get("payload", ""))
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    if click["action"] == slack.APPROVE_LINK:
        return HttpResponse(status=200)  # a link: Slack opened the portal's step-up page; nothing to do here
    follow = click["response_url"] if slack.response_url_allowed(click["response_url"]) else ""
    try:
        if click["action"] not in chat_actions.ACTIONS:
            raise chat_actions.Refused(400, "Chat can claim, reject and snooze; approve on the portal.")
        user = chat_users.portal_user("slack", click["user_id"], slack.email_of)
        told = chat_actions.perform("slack", user, click["request"], click["action"], click["reason"])
    except chat_users.Unmapped as exc:
        jobs.follow_up_chat("slack", follow, "", "", str(exc))
        return JsonResponse({"error": str(exc)}, status=403)
    except chat_actions.Refused as exc:
        jobs.follow_up_chat("slack", follow, "", "", exc.message)
        return JsonResponse({"error": exc.message}, status=exc.status)
    jobs.follow_up_chat("slack", follow, click["request"], _kind(click["kind"]), told)
    return HttpResponse(status=200)


@csrf_exempt  # verified by the keyed context instead: see the module's docstring
@require_POST
def mattermost_actions(request: HttpRequest) -> HttpResponse:
    try:
        call = mattermost.parse_action(request.body)
    except mattermost.Unverified as exc:
        log.warning("Mattermost action refused: %s", exc)
        return JsonResponse({"error": str(exc)}, status=401)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        if call["action"] not in chat_actions.ACTIONS:
            raise chat_actions.Refused(400, "Chat can claim, reject and snooze; approve on the portal.")
        user = chat_users.portal_user("mattermost", call["user_id"], mattermost.email_of)
        if call["action"] == chat_actions.REJECT:
            rr = chat_actions.decidable(user, call["request"])  # refused before the dialog opens
            mattermost.open_reject_dialog(call["trigger_id"], chat_actions.card(rr, _kind(call["kind"])), call["post_id"])
            return JsonResponse({})
        told = chat_actions.perform("mattermost", user, call["request"], call["action"])
    except chat_users.Unmapped as exc:
        return JsonResponse({"error": str(exc), "ephemeral_text": str(exc)}, status=403)
    except chat_actions.Refused as exc:
        return JsonResponse({"error": exc.message, "ephemeral_text": exc.message}, status=exc.status)
    except mattermost.channels.DeliveryFailed as exc:
        return JsonResponse({"error": f"Mattermost did not open the dialog: {exc}"}, status=502)
    rr = ResponseRequest.objects.get(uuid=call["request"])
    return JsonResponse(
        {"update": mattermost.update(chat_actions.card(rr, _kind(call["kind"]))), "ephemeral_text": told}
    )


@csrf_exempt  # verified by the keyed state instead: see the module's docstring
@require_POST
def mattermost_dialog(request: HttpRequest) -> HttpResponse:
    try:
        submission = mattermost.parse_dialog(request.body)
    except mattermost.Unverified as exc:
        log.warning("Mattermost dialog refused: %s", exc)
        return JsonResponse({"error": str(exc)}, status=401)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    if submission["cancelled"]:
        return JsonResponse({})
    try:
        user = chat_users.portal_user("mattermost", submission["user_id"], mattermost.email_of)
        chat_actions.perform(
            "mattermost", user, submission["request"], chat_actions.REJECT, submission["reason"]
        )
    except chat_users.Unmapped as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except chat_actions.Refused as exc:
        if exc.status == 400:
            # Mattermost shows a dialog's field errors only from a 200 answer; the dialog stays open, nothing changed.
            return JsonResponse({"errors": {"reason": exc.message}})
        return JsonResponse({"error": exc.message}, status=exc.status)
    jobs.follow_up_chat("mattermost", submission["post_id"], submission["request"], _kind(submission["kind"]), "")
    return JsonResponse({})
