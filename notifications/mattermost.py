"""Mattermost, spoken by the portal itself: an incoming webhook's message with buttons, and their calls back.

Each entry of MATTERMOST_WEBHOOK_URLS is an incoming webhook (a secret URL) the portal posts a
message attachment to. A message asking for a decision carries **Claim**, **Reject** and
**Snooze** buttons whose ``integration`` calls the portal (notifications/chat_views.py) with a
context the portal wrote: the action, the request and an HMAC of both keyed with
MATTERMOST_ACTION_TOKEN, so a call is the portal's own button or it is refused (401). Mattermost
buttons are not links, so **Approve on the portal** is a link in the text. The answer to a click
updates the post in place (``update``). Reject asks for the reason in an interactive dialog
(MATTERMOST_URL's ``/api/v4/actions/dialogs/open``); after the dialog the post is updated through
the API when MATTERMOST_BOT_TOKEN is set. Tokens never leave this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import requests
from django.conf import settings
from django.urls import reverse

from notifications import channels
from notifications.chat_actions import CLAIM, REJECT, SNOOZE, Card

log = logging.getLogger(__name__)


class Unverified(Exception):
    """Not a call from one of the portal's buttons: the message says why, for the 401."""


def enabled() -> bool:
    return bool(settings.MATTERMOST_WEBHOOK_URLS)


def channel_key(url: str) -> str:
    return channels.url_key(url)


def action_url() -> str:
    return settings.PORTAL_BASE_URL + reverse("notifications:mattermost_actions")


def dialog_url() -> str:
    return settings.PORTAL_BASE_URL + reverse("notifications:mattermost_dialog")


# --- The keyed context ---------------------------------------------------------------------------


def sign(*parts: str) -> str:
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(settings.MATTERMOST_ACTION_TOKEN.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(parts: list[str], given: object) -> None:
    if not settings.MATTERMOST_ACTION_TOKEN:
        raise Unverified("Mattermost interactions are not configured (MATTERMOST_ACTION_TOKEN).")
    if not isinstance(given, str) or not given:
        raise Unverified("The call carries no portal token.")
    if not hmac.compare_digest(sign(*parts).encode("ascii"), given.encode("ascii", "replace")):
        raise Unverified("The portal token of this call does not match.")


def parse_action(body: bytes) -> dict:
    """A button's call: who clicked, on which post, and the verified context. Raises ValueError, Unverified."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("The body is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("context"), dict):
        raise ValueError("The call carries no context.")
    context = data["context"]
    action, key, kind = (str(context.get(name) or "") for name in ("action", "request", "kind"))
    verify([action, key, kind], context.get("token"))
    if not data.get("user_id"):
        raise ValueError("The call names no user.")
    return {
        "user_id": str(data["user_id"]),
        "action": action,
        "request": key,
        "kind": kind,
        "post_id": str(data.get("post_id") or ""),
        "trigger_id": str(data.get("trigger_id") or ""),
    }


def parse_dialog(body: bytes) -> dict:
    """The Reject dialog's submission: who, the reason, and the verified state. Raises ValueError, Unverified."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ValueError("The body is not JSON.") from None
    if not isinstance(data, dict) or data.get("type") != "dialog_submission":
        raise ValueError("Only dialog submissions are handled here.")
    try:
        state = json.loads(data.get("state") or "{}")
    except ValueError:
        state = {}
    if not isinstance(state, dict):
        state = {}
    key, kind, post_id = (str(state.get(name) or "") for name in ("request", "kind", "post_id"))
    verify([REJECT, key, kind, post_id], state.get("token"))
    submission = data.get("submission") if isinstance(data.get("submission"), dict) else {}
    if not data.get("user_id"):
        raise ValueError("The submission names no user.")
    return {
        "user_id": str(data["user_id"]),
        "request": key,
        "kind": kind,
        "post_id": post_id,
        "cancelled": bool(data.get("cancelled")),
        "reason": submission.get("reason") if isinstance(submission.get("reason"), str) else "",
    }


# --- Messages ------------------------------------------------------------------------------------


def _button(card: Card, action: str, style: str = "default") -> dict:
    key, kind = str(card.request.uuid), card.kind
    return {
        "id": action,
        "name": card.labels[action],
        "style": style,
        "integration": {
            "url": action_url(),
            "context": {"action": action, "request": key, "kind": kind, "token": sign(action, key, kind)},
        },
    }


def attachments(card: Card) -> list[dict]:
    text = card.body
    if card.pending:
        text += f"\n[{card.labels['approve']}]({card.labels['approve_url']})"
    if card.lines:
        text += "\n\n" + "\n".join(f"_{line}_" for line in card.lines)
    attachment = {"fallback": card.subject, "title": card.subject, "text": text, "color": "#b45309"}
    if card.pending:
        actions = [] if card.claimed else [_button(card, CLAIM, "primary")]
        actions.append(_button(card, SNOOZE))
        if settings.MATTERMOST_URL:  # the reason is asked in a dialog, which needs the server's address
            actions.append(_button(card, REJECT, "danger"))
        attachment["actions"] = actions
    return [attachment]


def _post(url: str, body: dict, *, token: str = "", method: str = "POST") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        answer = requests.request(method, url, data=json.dumps(body), headers=headers, timeout=settings.CHAT_TIMEOUT)
    except requests.RequestException as exc:
        raise channels.DeliveryFailed(f"Mattermost: {exc.__class__.__name__}") from None
    if answer.status_code not in (200, 201):
        raise channels.DeliveryFailed(f"HTTP {answer.status_code}")
    return answer


def send(channel_index: int, key: str, card: Card, server: str = "") -> None:
    """Post ``card`` to MATTERMOST_WEBHOOK_URLS[channel_index] (with ``server``: that server's own webhooks)."""
    urls = channels.configured("mattermost", server)
    if channel_index >= len(urls) or channel_key(urls[channel_index]) != key:
        raise channels.DeliveryFailed(
            f"{channels.source_name('mattermost', server)} changed since this message was planned; not sent"
        )
    _post(urls[channel_index], {"text": "", "attachments": attachments(card)})


def update(card: Card) -> dict:
    """The answer to a click that replaces the post's attachments (Mattermost's ``update``)."""
    return {"message": "", "props": {"attachments": attachments(card)}}


def patch_post(post_id: str, card: Card) -> None:
    """Update a post through the API (after the Reject dialog, which cannot answer with an update)."""
    if not (settings.MATTERMOST_URL and settings.MATTERMOST_BOT_TOKEN and post_id):
        return
    _post(
        f"{settings.MATTERMOST_URL}/api/v4/posts/{post_id}/patch",
        {"props": {"attachments": attachments(card)}},
        token=settings.MATTERMOST_BOT_TOKEN,
        method="PUT",
    )


def open_reject_dialog(trigger_id: str, card: Card, post_id: str) -> None:
    """Ask for the reason of a rejection in Mattermost's dialog; its submission comes to the portal."""
    key, kind = str(card.request.uuid), card.kind
    state = json.dumps(
        {"request": key, "kind": kind, "post_id": post_id, "token": sign(REJECT, key, kind, post_id)}
    )
    _post(
        f"{settings.MATTERMOST_URL}/api/v4/actions/dialogs/open",
        {
            "trigger_id": trigger_id,
            "url": dialog_url(),
            "dialog": {
                "callback_id": "edr-reject",
                "title": card.labels[REJECT],
                "introduction_text": card.subject,
                "elements": [
                    {
                        "display_name": card.labels["reason"],
                        "name": "reason",
                        "type": "textarea",
                        "placeholder": card.labels["reason_hint"],
                        "max_length": 2000,
                    }
                ],
                "submit_label": card.labels[REJECT],
                "state": state,
            },
        },
    )


def email_of(user_id: str) -> str | None:
    """The e-mail of a Mattermost user (GET /api/v4/users/{id} with MATTERMOST_BOT_TOKEN), or None."""
    if not (settings.MATTERMOST_URL and settings.MATTERMOST_BOT_TOKEN):
        return None
    try:
        answer = requests.get(
            f"{settings.MATTERMOST_URL}/api/v4/users/{requests.utils.quote(user_id, safe='')}",
            headers={"Authorization": f"Bearer {settings.MATTERMOST_BOT_TOKEN}"},
            timeout=settings.CHAT_TIMEOUT,
        )
        data = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError) as exc:
        log.warning("Mattermost user lookup for a clicker failed: %s", exc.__class__.__name__)
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return email if isinstance(email, str) and email else None
