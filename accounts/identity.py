"""The identity rules the accounts ask: who must use two-factor authentication, who may sign in with a
local password, which portal roles a user holds.

They are part of the one policy: responses/policy.py re-exports them, and everything above the
accounts asks them there; the accounts ask them here, below the requests (docs/architecture.md,
"The apps' order"). Roles are Django groups (accounts/roles.py).
"""

from __future__ import annotations

from django.conf import settings

from accounts import roles


def active(user) -> bool:
    """An authenticated, active user (anonymous and disabled accounts may do nothing)."""
    return bool(user is not None and user.is_authenticated and user.is_active)


def must_use_two_factor(user) -> bool:
    """Approvers, and whoever reaches the admin, must use two-factor authentication."""
    return active(user) and (user.is_superuser or user.is_staff or roles.has_role(user, roles.APPROVERS))


def may_sign_in_locally(user, *, directory_user: bool) -> bool:
    """With LOCAL_LOGIN_SUPERUSERS_ONLY, a local password signs in break-glass superusers only."""
    return not settings.LOCAL_LOGIN_SUPERUSERS_ONLY or user.is_superuser or directory_user


def roles_of(user) -> list[str]:
    """The portal roles this user holds, in the roles' order (for the account page and token warnings)."""
    return [role for role in roles.ALL_ROLES if roles.has_role(user, role)]


def is_approver(user) -> bool:
    """Holds the Approvers role (the home page's queue link, create_api_token's warning)."""
    return roles.has_role(user, roles.APPROVERS)
