"""Slack, spoken by the portal itself: messages with buttons, and the requests Slack sends when one is clicked.

Apprise cannot carry buttons, so the channels of SLACK_CHANNELS get the portal's own messages:
``chat.postMessage`` with blocks, through the Slack app's bot token (SLACK_BOT_TOKEN). A message
asking for a decision carries **Claim**, a reason field with **Reject**, **Snooze** and an
**Approve on the portal** link button (a URL: Slack opens it in the browser, the portal's step-up
page decides; the click Slack also reports is ignored). Slack posts each click to the portal's
interaction endpoint (notifications/chat_views.py): verified here with the signing secret
(``v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>")``, a timestamp at most five minutes old, and
each signature taken once), then updated in place through the click's ``response_url``.
Tokens never leave this module: not in the database, not in logs, not in errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import requests
from django.conf import settings

from notifications import channels
from notifications.chat_actions import CLAIM, REJECT, SNOOZE, Card

log = logging.getLogger(__name__)

REPLAY_WINDOW = 300  # seconds: Slack's own advice; older (or future) timestamps are refused
REASON_BLOCK = "edr_reason"
ACTIONS_BLOCK = "edr_actions"
APPROVE_LINK = "approve_link"


class Unverified(Exception):
    """Not a request from Slack (or an old one again): the message says why, for the 401."""


def enabled() -> bool:
    return bool(settings.SLACK_CHANNELS)


def channel_key(channel_id: str) -> str:
    return channels.url_key(f"slack:{channel_id}")


# --- Verifying Slack's requests ------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify(timestamp: str | None, given: str | None, body: bytes, *, now: float | None = None, seen=None) -> None:
    """Refuse (Unverified) a request not signed with SLACK_SIGNING_SECRET, or outside the replay window.

    ``seen(signature) -> bool``: True the first time a signature is presented (the replay guard
    within the window); the view hands in a Redis SET NX.
    """
    if not settings.SLACK_SIGNING_SECRET:
        raise Unverified("Slack interactions are not configured (SLACK_SIGNING_SECRET).")
    if not timestamp or not given:
        raise Unverified("The request carries no Slack signature.")
    try:
        stamp = int(timestamp)
    except ValueError:
        raise Unverified("The Slack timestamp is not a number.") from None
    now = time.time() if now is None else now
    if abs(now - stamp) > REPLAY_WINDOW:
        raise Unverified("The Slack timestamp is outside the five-minute window (a replayed or delayed request).")
    expected = signature(settings.SLACK_SIGNING_SECRET, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("ascii", "replace")):
        raise Unverified("The Slack signature does not match.")
    if seen is not None and not seen(given):
        raise Unverified("This Slack request was received already (a replay).")


def parse(form_payload: str) -> dict:
    """The click, from Slack's ``payload`` form field: who, which button, on what, and the reason typed."""
    try:
        data = json.loads(form_payload)
    except ValueError:
        raise ValueError("The payload is not JSON.") from None
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        raise ValueError("Only button clicks (block_actions) are handled.")
    user = data.get("user") or {}
    actions = data.get("actions") or []
    if not isinstance(user, dict) or not user.get("id") or not isinstance(actions, list) or not actions:
        raise ValueError("The payload names no user or no action.")
    action = actions[0] if isinstance(actions[0], dict) else {}
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        value = {}
    values = ((data.get("state") or {}).get("values") or {}) if isinstance(data.get("state"), dict) else {}
    reason = ((values.get(REASON_BLOCK) or {}).get("reason") or {}).get("value") or ""
    return {
        "user_id": str(user["id"]),
        "action": str(action.get("action_id") or ""),
        "request": str(value.get("r") or ""),
        "kind": str(value.get("k") or ""),
        "reason": reason if isinstance(reason, str) else "",
        "response_url": str(data.get("response_url") or ""),
    }


# --- Messages ------------------------------------------------------------------------------------


def _text(value: str, limit: int = 2900) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def blocks(card: Card) -> list[dict]:
    """The message as Slack blocks: the words, what happened since, and while it waits, the buttons."""
    found = [{"type": "section", "text": {"type": "mrkdwn", "text": _text(f"*{card.subject}*\n{card.body}")}}]
    if card.lines:
        found.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _text("\n".join(card.lines))}]})
    if not card.pending:
        return found
    value = json.dumps({"r": str(card.request.uuid), "k": card.kind})
    buttons = []
    if not card.claimed:
        buttons.append({"type": "button", "action_id": CLAIM, "value": value, "text": _plain(card.labels[CLAIM])})
    buttons += [
        {"type": "button", "action_id": SNOOZE, "value": value, "text": _plain(card.labels[SNOOZE])},
        {"type": "button", "action_id": REJECT, "value": value, "style": "danger", "text": _plain(card.labels[REJECT])},
        {
            "type": "button",
            "action_id": APPROVE_LINK,
            "url": card.labels["approve_url"],
            "style": "primary",
            "text": _plain(card.labels["approve"]),
        },
    ]
    found.append(
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "optional": True,
            "label": _plain(card.labels["reason"]),
            "element": {
                "type": "plain_text_input",
                "action_id": "reason",
                "max_length": 2000,
                "placeholder": _plain(card.labels["reason_hint"][:150]),
            },
        }
    )
    found.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons})
    return found


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text[:75]}


# --- Calls to Slack ------------------------------------------------------------------------------


def _post(url: str, body: dict, *, token: str = "") -> dict:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        answer = requests.post(url, data=json.dumps(body), headers=headers, timeout=settings.CHAT_TIMEOUT)
    except requests.RequestException as exc:
        raise channels.DeliveryFailed(f"Slack: {exc.__class__.__name__}") from None
    if answer.status_code != 200:
        raise channels.DeliveryFailed(f"HTTP {answer.status_code}")
    try:
        return answer.json()
    except ValueError:
        return {"ok": answer.text.strip() == "ok"}


def send(channel_index: int, key: str, card: Card, server: str = "") -> str:
    """Post ``card`` to SLACK_CHANNELS[channel_index] (with ``server``: that server's slack_channels);
    returns the message's ts. Raises DeliveryFailed."""
    names = channels.configured("slack", server)
    if channel_index >= len(names) or channel_key(names[channel_index]) != key:
        raise channels.DeliveryFailed(
            f"{channels.source_name('slack', server)} changed since this message was planned; not sent"
        )
    answer = _post(
        f"{settings.SLACK_API_URL}/chat.postMessage",
        {"channel": names[channel_index], "text": card.subject, "blocks": blocks(card), "unfurl_links": False},
        token=settings.SLACK_BOT_TOKEN,
    )
    if not answer.get("ok"):
        raise channels.DeliveryFailed(f"Slack: {str(answer.get('error') or 'not ok')[:100]}")
    return str(answer.get("ts") or "")


def response_url_allowed(url: str) -> bool:
    return bool(url) and bool(settings.SLACK_RESPONSE_URL_PREFIX) and url.startswith(settings.SLACK_RESPONSE_URL_PREFIX)


def replace(response_url: str, card: Card) -> None:
    """Update the clicked message in place (its response_url), so the channel sees who did what."""
    _post(response_url, {"replace_original": True, "text": card.subject, "blocks": blocks(card)})


def tell(response_url: str, text: str) -> None:
    """An ephemeral answer only the clicker sees (why nothing changed, or what did)."""
    _post(response_url, {"response_type": "ephemeral", "replace_original": False, "text": text})


def email_of(user_id: str) -> str | None:
    """The e-mail of a Slack user's profile (users.info; the app needs users:read.email), or None."""
    if not settings.SLACK_BOT_TOKEN:
        return None
    try:
        answer = requests.get(
            f"{settings.SLACK_API_URL}/users.info",
            params={"user": user_id},
            headers={"Authorization": f"Bearer {settings.SLACK_BOT_TOKEN}"},
            timeout=settings.CHAT_TIMEOUT,
        )
        data = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError) as exc:
        log.warning("Slack users.info for a clicker failed: %s", exc.__class__.__name__)
        return None
    email = ((data.get("user") or {}).get("profile") or {}).get("email") if data.get("ok") else None
    return email if isinstance(email, str) and email else None
