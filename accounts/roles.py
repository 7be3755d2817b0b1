"""The portal's roles, as Django groups created by migration 0001."""

from __future__ import annotations

ANALYSTS = "Analysts"  # file requests, cancel their own
APPROVERS = "Approvers"  # approve, reject, retry
AUDITORS = "Auditors"  # read everything, change nothing
ALL_ROLES = (ANALYSTS, APPROVERS, AUDITORS)


def has_role(user, role: str) -> bool:
    """Whether an active, authenticated user is in the role's group (superusers are not implicitly)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._portal_roles = cached
    return role in cached
