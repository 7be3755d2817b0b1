"""The portal-wide housekeeping the keeper's beat runs (apps register their own duties in their modules)."""

from __future__ import annotations

import contextlib
from importlib import import_module

from django.conf import settings

from worker import duties


@duties.every_beat("expired-sessions")
def clear_expired_sessions() -> None:
    """What `manage.py clearsessions` does: delete the sessions past their expiry.

    Anonymous visits make session rows too (a draft kept when a session ended, the OpenID Connect
    sign-in's state), and nothing else deletes them. One indexed DELETE per beat.
    """
    engine = import_module(settings.SESSION_ENGINE)
    with contextlib.suppress(NotImplementedError):  # sessions in signed cookies keep no rows
        engine.SessionStore.clear_expired()
