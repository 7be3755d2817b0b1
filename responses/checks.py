"""System checks of the KSC servers (issue 26, point 1): what the servers file's reading at start cannot see.

portal/ksc_servers.py already refuses a malformed KSC_SERVERS_FILE when the settings load (each
message names the file, the entry and the key). Here, before every management command and at
``manage.py check``: each server's password file and CA file must be readable by the account
the portal runs as (the file existed for whoever started it, but the workers may run as another
user), and every user's scope should name configured servers.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Warning, register


@register("responses")
def ksc_server_files_readable(app_configs=None, **kwargs) -> list[Error]:
    problems = []
    for index, server in enumerate(getattr(settings, "KSC_SERVERS", []), start=1):
        for key in ("password_file", "ca_file"):
            path = getattr(server, key, "")
            if path and not os.access(path, os.R_OK):
                problems.append(
                    Error(
                        f"KSC_SERVERS_FILE entry {index} ({server.name!r}): {key}: {path!r} cannot be read by this "
                        "process's user.",
                        hint="Make the file readable by the account the portal and its workers run as (mode 0400 "
                        "or 0440, owned by that account or its group).",
                        id="responses.E101",
                    )
                )
    return problems


@register("responses", deploy=False, databases=["default"])
def scopes_name_configured_servers(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """A scope naming a server the file no longer lists gives that user nothing of it: said, not refused."""
    if not databases:
        return []
    from django.db import DatabaseError

    from accounts.models import ServerScope
    from responses import policy

    names = set(policy.server_names())
    try:
        unknown = sorted(
            {name for servers in ServerScope.objects.values_list("servers", flat=True) for name in servers} - names
        )
    except DatabaseError:
        return []  # before migrate: nothing to check yet
    if not unknown:
        return []
    return [
        Warning(
            f"Users are scoped to KSC servers that are not configured: {', '.join(unknown)}.",
            hint="Rename them in KSC_SERVERS_FILE, or change those users' scopes (manage.py scope_user).",
            id="responses.W102",
        )
    ]
