"""What every page needs: the site-wide warnings and which parts of the menu this user gets.

The menu asks the same functions the views ask (workflow.permission, can_view_all),
so a link is shown exactly when its page would let the user in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts import roles
from responses import audit, workflow


class _Menu:
    def __init__(self, user):
        self.can_file = bool(workflow.permission(user, workflow.FILE))
        self.can_view_all = workflow.can_view_all(user)
        self.can_audit = audit.may_export(user) if user.is_authenticated else False
        # Whoever decides on requests or administers the portal must know that KSC's identity is unchecked.
        self.sees_tls_warning = bool(
            user.is_authenticated and (user.is_superuser or roles.has_role(user, roles.APPROVERS))
        )


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "ksc_simulated": bool(getattr(settings, "KSC_SIMULATED", False)),
        "ksc_tls_unverified": getattr(settings, "KSC_VERIFY", True) is False,
        # Lazy: pages that never look at the menu (CSV, fragments) cost no query for it.
        "portal": SimpleLazyObject(lambda: _Menu(user)) if user is not None else None,
    }
