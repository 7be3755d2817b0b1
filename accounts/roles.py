"""The portal's roles, as Django groups created by migration 0001."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ANALYSTS = "Analysts"  # file requests, cancel their own
APPROVERS = "Approvers"  # approve, reject, retry
AUDITORS = "Auditors"  # read everything, change nothing
ALL_ROLES = (ANALYSTS, APPROVERS, AUDITORS)
# The group names stay English in the database; people read them in their own language.
LABELS = {ANALYSTS: _("Analysts"), APPROVERS: _("Approvers"), AUDITORS: _("Auditors")}


def label(role: str) -> str:
    """A role's group name in the reader's language (an unknown name as it is)."""
    return str(LABELS.get(role, role))


def has_role(user, role: str) -> bool:
    """Whether an active, authenticated user is in the role's group (superusers are not implicitly)."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._portal_roles = cached
    return role in cached
