"""Tenants: which KSC servers each user works on (issue 26, point 5). Read by portal/settings.py: no models at import.

A service provider runs one virtual Administration Server per customer; a large company one
secondary per region. The portal's tenants are those servers: a user's *scope* is the set of
server names (entries of KSC_SERVERS) whose hosts, requests and outcomes they may see and act
on. responses/policy.py turns a scope into the filters every page, the API, the exports and
the notifications ask (``policy.servers_of``); nothing else reads scopes.

- Local users get a scope in the admin (the "Server scope" inline) or with
  ``manage.py scope_user USER --servers NAME[,NAME] | --all | --none``; every change is an
  AccountEvent ("scope_changed") in the accounts chain (accounts/account_trail.py).
- Directory users get theirs from ``TENANT_GROUPS`` at every sign-in and directory sync:
  a JSON object from server name to directory groups, the key ``"*"`` for every server
  (global auditors and administrators: explicit, never by default).
- A user with no scope sees every server only while one server is configured; from the second
  server on, no scope is no server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from django.core.exceptions import ImproperlyConfigured

from accounts.role_groups import normalise_group

EVERY_SERVER = "*"  # TENANT_GROUPS's key for groups whose members work on every server


def parse_tenant_groups(name: str, raw: str | None, servers: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``{server name or "*": (normalised group, ...)}`` from the JSON in variable ``name``; ImproperlyConfigured on junk.

    ``servers``: the configured servers' names; a key naming no server is refused (a typo
    would silently leave a tenant's people with nothing).
    """
    if raw is None or not raw.strip():
        return {}
    example = '{"eu": ["CN=SOC EU,OU=Groups,DC=corp,DC=example"], "*": ["CN=SOC Auditors,OU=Groups,DC=corp,DC=example"]}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}: {exc}.") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object from server name to groups, such as {example}.")
    return tenant_groups_from(name, data, servers)


def tenant_groups_from(name: str, data: Mapping, servers: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``{server or "*": (normalised group, ...)}`` from an already-read mapping; ImproperlyConfigured naming ``name``.

    portal/settings.py keeps TENANT_GROUPS as the JSON object read (no app code there); the system
    check accounts.E003 refuses a bad one at start, and the sign-in asks ``configured()``.
    """
    known = set(servers)
    mapping: dict[str, tuple[str, ...]] = {}
    for server, groups in data.items():
        if server != EVERY_SERVER and server not in known:
            raise ImproperlyConfigured(
                f"{name}: {server!r} is not a configured KSC server; use one of {', '.join(sorted(known)) or '(none)'}"
                f" or {EVERY_SERVER!r} for every server."
            )
        if isinstance(groups, str):
            groups = [groups]
        if isinstance(groups, tuple):
            groups = list(groups)
        if not isinstance(groups, list) or not groups or any(not isinstance(g, str) or not g.strip() for g in groups):
            raise ImproperlyConfigured(f"{name}: the groups of {server!r} must be a non-empty list of group names or DNs.")
        mapping[server] = tuple(normalise_group(group) for group in groups)
    return mapping


def configured() -> dict[str, tuple[str, ...]]:
    """settings.TENANT_GROUPS, its servers checked against KSC_SERVERS and its groups normalised."""
    from django.conf import settings

    return tenant_groups_from(
        "TENANT_GROUPS", settings.TENANT_GROUPS, [server.name for server in getattr(settings, "KSC_SERVERS", [])]
    )


def servers_for(groups: Iterable[str], tenant_groups: Mapping[str, Iterable[str]]) -> tuple[bool, list[str]]:
    """(every server, [server names]) that these directory groups (a user's, nested ones included) give."""
    held = {normalise_group(group) for group in groups if isinstance(group, str)}
    every = bool(held.intersection(tenant_groups.get(EVERY_SERVER, ())))
    names = sorted(server for server, mapped in tenant_groups.items() if server != EVERY_SERVER and held.intersection(mapped))
    return every, names


def set_scope(user, *, every_server: bool, servers: Iterable[str], from_directory: bool = False) -> bool:
    """Give ``user`` this scope; True when it changed. The accounts chain records the change (account_trail)."""
    from accounts.models import ServerScope  # settings import this module: no models at import time

    wanted = sorted(set(servers)) if not every_server else []
    scope = ServerScope.objects.filter(user=user).first()
    if scope is None:
        scope = ServerScope(user=user)
    elif (scope.every_server, sorted(scope.servers), scope.from_directory) == (every_server, wanted, from_directory):
        return False
    scope.every_server, scope.servers, scope.from_directory = every_server, wanted, from_directory
    scope.save()
    user.__dict__.pop("_portal_servers", None)  # policy.servers_of's cache
    return True


def follow_tenant_groups(user, groups: Iterable[str], tenant_groups: Mapping[str, Iterable[str]]) -> bool:
    """A directory user's scope, as TENANT_GROUPS says for their groups now; True when it changed."""
    every, names = servers_for(groups, tenant_groups)
    return set_scope(user, every_server=every, servers=names, from_directory=True)


# The configured KSC servers' names: the requests' app knows them (responses/ksc_servers.py, through
# policy.server_names) and registers the answer when it is ready, since the accounts stand below it
# (docs/architecture.md, "The apps' order"). Until then: none.
_server_names = None


def set_server_names(provider) -> None:
    """Register the function answering the configured servers' names, in configuration order."""
    global _server_names
    _server_names = provider


def configured_servers() -> list[str]:
    """The configured KSC servers' names (the admin's choices, ``scope_user``'s check)."""
    return list(_server_names()) if _server_names is not None else []
