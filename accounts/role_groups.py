"""ROLE_GROUPS: which directory groups make a portal role. No models here (tests and checks call it early).

The value is a JSON object from role to groups, for example
``{"Approvers": ["CN=SOC Approvers,OU=Groups,DC=corp,DC=example"], "Analysts": "CN=SOC,OU=Groups,DC=corp,DC=example"}``.
A group is an LDAP distinguished name, or the value an OpenID Connect provider puts in
its groups claim (Entra ID: the group's object id; Keycloak: the group path).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from django.core.exceptions import ImproperlyConfigured

from accounts.roles import ALL_ROLES

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def normalise_group(value: str) -> str:
    """One spelling per group: AD compares DNs without case and ignores spaces around ``,`` and ``=``.

    ``lower()``, not ``casefold()``: casefolding also equates different strings ("Straße" and
    "STRASSE", the ligature "ﬁ" and "fi"), so a group named at the provider by whoever may create
    groups there could pass for a mapped one.
    """
    value = value.strip()
    if "=" in value:
        parts = []
        for rdn in _UNESCAPED_COMMA.split(value):
            name, _sep, rest = rdn.partition("=")
            parts.append(f"{name.strip()}={rest.strip()}")
        value = ",".join(parts)
    return value.lower()


def parse_role_groups(name: str, raw: str | None) -> dict[str, tuple[str, ...]]:
    """``{role: (normalised group, ...)}`` from the JSON in variable ``name``; ImproperlyConfigured on junk."""
    if raw is None or not raw.strip():
        return {}
    example = '{"Approvers": ["CN=SOC Approvers,OU=Groups,DC=corp,DC=example"]}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}: {exc}.") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}.")
    return role_groups_from(name, data)


def role_groups_from(name: str, data: Mapping) -> dict[str, tuple[str, ...]]:
    """``{role: (normalised group, ...)}`` from an already-read mapping; ImproperlyConfigured naming ``name`` on junk.

    portal/settings.py keeps ROLE_GROUPS as the JSON object read (no app code there); the system check
    accounts.E002 refuses a bad one at start, and every reader asks ``configured()``.
    """
    mapping: dict[str, tuple[str, ...]] = {}
    for role, groups in data.items():
        if role not in ALL_ROLES:
            raise ImproperlyConfigured(f"{name}: {role!r} is not a role; use {', '.join(ALL_ROLES)}.")
        if isinstance(groups, str):
            groups = [groups]
        if isinstance(groups, tuple):
            groups = list(groups)
        if not isinstance(groups, list) or not groups or any(not isinstance(g, str) or not g.strip() for g in groups):
            raise ImproperlyConfigured(f"{name}: the groups of {role} must be a non-empty list of group names or DNs.")
        mapping[role] = tuple(normalise_group(group) for group in groups)
    return mapping


def configured() -> dict[str, tuple[str, ...]]:
    """settings.ROLE_GROUPS, its roles checked and its groups normalised (ImproperlyConfigured when bad)."""
    from django.conf import settings

    return role_groups_from("ROLE_GROUPS", settings.ROLE_GROUPS)


def roles_for(groups: Iterable[str], role_groups: Mapping[str, Iterable[str]]) -> set[str]:
    """The portal roles that these directory groups (a user's, nested ones included) give."""
    held = {normalise_group(group) for group in groups if isinstance(group, str)}
    return {role for role, mapped in role_groups.items() if held.intersection(mapped)}
