"""What every page needs: the site-wide warnings and which parts of the menu this user gets.

The menu asks the same functions the views ask (responses.policy),
so a link is shown exactly when its page would let the user in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from responses import policy


class _Menu:
    def __init__(self, user):
        self.can_file = bool(policy.may(user, policy.FILE))
        self.can_view_all = policy.sees_all_requests(user)
        self.can_audit = policy.may_export_audit(user)
        self.sees_tls_warning = policy.sees_ksc_warnings(user)


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "ksc_simulated": bool(getattr(settings, "KSC_SIMULATED", False)),
        "ksc_tls_unverified": getattr(settings, "KSC_VERIFY", True) is False,
        # Lazy: pages that never look at the menu (CSV, fragments) cost no query for it.
        "portal": SimpleLazyObject(lambda: _Menu(user)) if user is not None else None,
        # The menu's "Needs attention" count (responses/attention.py); lazy like the menu.
        "attention_count": SimpleLazyObject(lambda: _attention_count(user)),
    }


def _attention_count(user) -> int:
    from responses import attention

    return attention.count_for(user)
