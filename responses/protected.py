"""Protected hosts: domain controllers, DHCP and DNS servers that nothing isolates by accident.

Two sources, read together:

- ``PROTECTED_HOSTS_FILE``: a JSON list of rules, each one of ``{"host": "<KSC host id>"}``,
  ``{"group": "Managed devices/Servers/DC"}`` (the group or any group below it) or
  ``{"name": "DC*"}`` (the display name, ``*`` and ``?`` as wildcards, any case), with an
  optional ``"tasks": [...]`` (default: every task that changes the endpoint) and ``"reason"``;
- the admin's list (``ProtectedHostRule``), every change kept by django-auditlog.

Checked when a campaign or a single-host request is filed and again before it is sent: a
campaign's host when its wave is released (skipped), a single-host request before its first
attempt (responses.jobs: FAILED, never sent), so a host moved into a protected group since
filing is not acted on. Overriding, for campaigns and single-host requests alike, needs a
permission (responses.policy), a written reason and one more approver.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from responses import catalog

log = logging.getLogger(__name__)

_cache: dict[str, Any] = {"path": None, "mtime": None, "rules": []}


@dataclass(frozen=True)
class Rule:
    kind: str  # host, group or name
    value: str
    tasks: tuple[str, ...] = ()
    reason: str = ""
    source: str = "file"  # file or admin

    def covers_task(self, task: str, params: Any) -> bool:
        if self.tasks:
            return task in self.tasks
        task_type = catalog.TASKS.get(task)
        return task_type is not None and task_type.changes_endpoint(params)

    def matches(self, host_id: str, name: str, group: str) -> bool:
        if self.kind == "host":
            return host_id == self.value
        if self.kind == "name":
            return bool(name) and fnmatch.fnmatchcase(name.casefold(), self.value.casefold())
        # A group rule covers the group and every group below it; KSC may report a path or a bare name.
        wanted = self.value.strip("/").casefold()
        have = group.strip("/").casefold()
        if not have:
            return False
        return have == wanted or have.startswith(wanted + "/") or wanted.rsplit("/", 1)[-1] == have

    def describe(self) -> str:
        what = {"host": _("host id %(v)s"), "group": _("group %(v)s"), "name": _("name %(v)s")}[self.kind]
        text = what % {"v": self.value}
        return f"{text} ({self.reason})" if self.reason else text


def parse_rules(data: Any, where: str) -> list[Rule]:
    """Rules from the file's JSON; ImproperlyConfigured naming the entry and key when one is wrong."""
    if not isinstance(data, list):
        raise ImproperlyConfigured(f"{where}: must be a JSON list of rules")
    rules = []
    for index, entry in enumerate(data):
        at = f"{where}, rule {index + 1}"
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{at}: must be an object")
        kinds = [key for key in ("host", "group", "name") if key in entry]
        if len(kinds) != 1:
            raise ImproperlyConfigured(f"{at}: must have exactly one of host, group, name")
        unknown = set(entry) - {"host", "group", "name", "tasks", "reason"}
        if unknown:
            raise ImproperlyConfigured(f"{at}: unknown key {sorted(unknown)[0]}")
        value = entry[kinds[0]]
        if not isinstance(value, str) or not value.strip():
            raise ImproperlyConfigured(f"{at}: {kinds[0]} must be a non-empty string")
        tasks = entry.get("tasks", [])
        if not isinstance(tasks, list) or any(task not in catalog.TASKS for task in tasks):
            raise ImproperlyConfigured(f"{at}: tasks must be a list of task names ({', '.join(catalog.TASKS)})")
        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise ImproperlyConfigured(f"{at}: reason must be a string")
        rules.append(Rule(kinds[0], value.strip(), tuple(tasks), reason))
    return rules


def file_rules() -> list[Rule]:
    """PROTECTED_HOSTS_FILE's rules, read again when the file changes."""
    path = settings.PROTECTED_HOSTS_FILE
    if not path:
        return []
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ImproperlyConfigured(f"PROTECTED_HOSTS_FILE {path}: {exc.strerror}") from None
    if _cache["path"] == path and _cache["mtime"] == mtime:
        return _cache["rules"]
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"PROTECTED_HOSTS_FILE {path}: not readable JSON ({exc})") from None
    rules = parse_rules(data, f"PROTECTED_HOSTS_FILE {path}")
    _cache.update(path=path, mtime=mtime, rules=rules)
    return rules


def all_rules() -> list[Rule]:
    from responses.models import ProtectedHostRule

    admin = [
        Rule(
            "host" if row.host_id else "group" if row.group else "name",
            row.host_id or row.group or row.name,
            tuple(row.tasks or ()),
            row.reason,
            "admin",
        )
        for row in ProtectedHostRule.objects.all()
    ]
    return [*file_rules(), *admin]


def protection(
    host_id: str, name: str, group: str, task: str, params: Any, rules: list[Rule] | None = None
) -> Rule | None:
    """The first rule that protects this host from this task, or None."""
    for rule in all_rules() if rules is None else rules:
        if rule.covers_task(task, params) and rule.matches(host_id, name, group):
            return rule
    return None


def refusal(rule: Rule) -> str:
    return _("This host is protected (%(rule)s): a request needs the protected-host override.") % {
        "rule": rule.describe()
    }


def register_auditlog() -> None:
    """django-auditlog keeps every change of the admin's rules (who, when, before and after)."""
    from auditlog.registry import auditlog

    from responses.models import ProtectedHostRule

    auditlog.register(ProtectedHostRule)
