"""Who a chat user is in the portal (issue 29, "Safe actions from chat").

First ``CHAT_USER_MAP`` (a JSON file naming chat users: ``{"slack:U0123ABCD": "bob"}``), then
the e-mail of the chat user's profile, asked of Slack or Mattermost by the caller: it must be
the e-mail of exactly one active portal user (the directory sync keeps those). A chat user
found neither way acts on nothing: the interaction is refused (403) and nothing changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

SERVICES = ("slack", "mattermost")
_KEY = re.compile(r"(slack|mattermost):[A-Za-z0-9_.-]{1,64}")


class Unmapped(Exception):
    """The chat user is nobody the portal knows; the message says what to do about it."""


def load_map(path: str) -> dict[str, str]:
    """CHAT_USER_MAP's entries, checked: keys ``service:user id``, values usernames."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ImproperlyConfigured(f"CHAT_USER_MAP: cannot read {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise ImproperlyConfigured(f"CHAT_USER_MAP: {path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured('CHAT_USER_MAP must hold one JSON object: {"slack:U0123ABCD": "bob", ...}.')
    for key, value in data.items():
        if not _KEY.fullmatch(key):
            raise ImproperlyConfigured(
                f"CHAT_USER_MAP: {key!r} is not 'slack:<user id>' or 'mattermost:<user id>'."
            )
        if not isinstance(value, str) or not value.strip():
            raise ImproperlyConfigured(f"CHAT_USER_MAP: {key!r} must name a portal username.")
    return {key: value.strip() for key, value in data.items()}


def portal_user(service: str, chat_user_id: str, email_of: Callable[[str], str | None]):
    """The active portal user behind ``chat_user_id``; raises Unmapped.

    ``email_of(chat_user_id)`` asks the chat service for the profile's e-mail (None: unknown).
    """
    users = get_user_model().objects.filter(is_active=True)
    mapped = load_map(settings.CHAT_USER_MAP_FILE).get(f"{service}:{chat_user_id}")
    if mapped:
        user = users.filter(username=mapped).first()
        if user is None:
            raise Unmapped(f"CHAT_USER_MAP names {mapped!r} for you, and no active portal user has that name.")
        return user
    email = email_of(chat_user_id)
    if email:
        found = list(users.filter(email__iexact=email)[:2])
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Unmapped("Several portal users have your chat profile's e-mail; ask for an entry in CHAT_USER_MAP.")
    raise Unmapped(
        "The portal does not know who you are: your chat profile's e-mail is no portal user's, "
        "and CHAT_USER_MAP does not name you. Nothing was changed."
    )
