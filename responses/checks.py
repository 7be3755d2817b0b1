"""System checks of the requests' settings and of the KSC servers.

Per-task variables must name a task type: the settings import no app code (portal/settings.py reads
``APPROVALS_REQUIRED_<TASK>`` and ``APPROVAL_SLA_<TASK>`` for any suffix); these checks, which know the
catalog, refuse a suffix that is no task type.

The KSC servers (issue 26, point 1): portal/ksc_servers.py already refuses a malformed KSC_SERVERS_FILE
when the settings load (each message names the file, the entry and the key). Here: each server's
password file and CA file must be readable by the account the portal runs as (the file existed for
whoever started it, but the workers may run as another user), and every user's scope should name
configured servers.

Django runs these before every management command (migrate, the workers, runserver) and
``manage.py check``; an error stops the command with a non-zero exit.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, Warning, register

from responses import catalog, risk

PER_TASK = (
    ("APPROVALS_REQUIRED_BY_TASK", "APPROVALS_REQUIRED_", "responses.E001"),
    ("APPROVAL_SLA_BY_TASK", "APPROVAL_SLA_", "responses.E002"),
)


@register("responses")
def per_task_variables_name_task_types(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for setting, prefix, check_id in PER_TASK:
        unknown = catalog.unknown_task_keys(getattr(settings, setting, {}))
        if unknown:
            errors.append(
                Error(
                    f"{', '.join(prefix + key.upper() for key in unknown)}: no such task type; use one of "
                    + ", ".join(prefix + name.upper() for name in catalog.TASK_NAMES),
                    hint="Rename or remove the variable; the task types are listed in README, Configuration.",
                    id=check_id,
                )
            )
    return errors


@register("responses")
def critical_groups_are_patterns(app_configs=None, **kwargs) -> list[Error]:
    """CRITICAL_GROUPS (responses/risk.py): group names or patterns, none empty, none matching every group."""
    return [
        Error(
            problem,
            hint='Set CRITICAL_GROUPS to KSC group names or patterns, comma-separated: "Domain Controllers,Servers*".',
            id="responses.E003",
        )
        for problem in risk.pattern_problems(getattr(settings, "CRITICAL_GROUPS", []))
    ]


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
