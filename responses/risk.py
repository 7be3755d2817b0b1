"""How risky a request is to approve: one table per task, raised by the host's group (issue 30, point 1).

Three levels, shown as words and colour on the approval card and the request page (never colour
alone): low (the host is not changed), medium (the host is changed: a file deleted, the network
cut), high (a program run as SYSTEM, or a change to a host of a critical group). Approving a
high-risk request needs an explicit confirmation, which the server checks
(responses/views/decisions.py refuses a high-risk approval from a page without it).

The table (``TASK_RISK``) is the one place that says how risky each task is; ``CRITICAL_GROUPS``
(KSC administration group names or shell-style patterns such as ``Domain Controllers`` or
``Servers*``, any case) raises a request that changes the host by one level. A request whose
host's group is not known (KSC could not be asked) is raised too while CRITICAL_GROUPS names any
group: it may be one of them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

LOW, MEDIUM, HIGH = "low", "medium", "high"
LEVELS = (LOW, MEDIUM, HIGH)
LEVEL_WORDS = {LOW: gettext_lazy("Low risk"), MEDIUM: gettext_lazy("Medium risk"), HIGH: gettext_lazy("High risk")}
# The badge colour of each level (static/portal.css); the words above are always shown beside it.
LEVEL_BADGES = {LOW: "badge-green", MEDIUM: "badge-amber", HIGH: "badge-red"}

# The POST field a page's Approve form carries when the approver confirmed a high-risk approval.
CONFIRM_FIELD = "confirm_high_risk"


def _ioc_scan(params: Any) -> tuple[str, Any]:
    acts = isinstance(params, dict) and (params.get("isolateHost") or params.get("quarantineObject"))
    if acts:
        return MEDIUM, gettext_lazy("Changes the endpoint: on detection it isolates the host or removes objects.")
    return LOW, gettext_lazy("Does not change the endpoint: a scan that only reports.")


def _isolation(params: Any) -> tuple[str, Any]:
    if isinstance(params, dict) and params.get("action") == 1:
        return MEDIUM, gettext_lazy("Changes the endpoint: cuts the host off the network.")
    return MEDIUM, gettext_lazy("Changes the endpoint: reconnects a host that was isolated.")


def _fixed(level: str, reason: str) -> Callable[[Any], tuple[str, Any]]:
    return lambda params: (level, reason)


# Each task's level and why, from its params. A task missing here is high: a new task is judged
# before it is trusted (tests/test_risk.py checks that every catalog task is listed).
TASK_RISK: dict[str, Callable[[Any], tuple[str, Any]]] = {
    "getFile": _fixed(LOW, gettext_lazy("Does not change the endpoint: fetches a copy of a file.")),
    "onDemandScan": _fixed(LOW, gettext_lazy("Does not change the endpoint: a malware scan.")),
    "iocScan": _ioc_scan,
    "deleteFile": _fixed(MEDIUM, gettext_lazy("Changes the endpoint: deletes a file.")),
    "quarantineFile": _fixed(MEDIUM, gettext_lazy("Changes the endpoint: moves a file into quarantine.")),
    "terminateProcess": _fixed(MEDIUM, gettext_lazy("Changes the endpoint: ends a running process.")),
    "preventExecution": _fixed(MEDIUM, gettext_lazy("Changes the endpoint: blocks a file from running.")),
    "isolateHost": _isolation,
    "startProcess": _fixed(HIGH, gettext_lazy("Changes the endpoint: runs a program as SYSTEM.")),
}


@dataclass(frozen=True)
class Risk:
    level: str
    reasons: list[str] = field(default_factory=list)

    @property
    def words(self) -> str:
        return str(LEVEL_WORDS[self.level])

    @property
    def badge(self) -> str:
        return LEVEL_BADGES[self.level]

    @property
    def high(self) -> bool:
        return self.level == HIGH


def critical_pattern(group_name: str) -> str:
    """The first CRITICAL_GROUPS pattern the group's name matches (any case), or ""."""
    name = (group_name or "").strip().casefold()
    if not name:
        return ""
    for pattern in getattr(settings, "CRITICAL_GROUPS", []):
        if fnmatch.fnmatchcase(name, pattern.strip().casefold()):
            return pattern
    return ""


def of(task: str, params: Any, group_name: str | None = None) -> Risk:
    """The risk of approving ``task`` with ``params`` on a host of group ``group_name`` (None: not known)."""
    judge = TASK_RISK.get(task)
    if judge is None:
        level, reason = HIGH, _("A task this portal has not rated: treated as high risk.")
    else:
        level, reason = judge(params)
    reasons = [str(reason)]
    if group_name is None:
        if level != LOW and getattr(settings, "CRITICAL_GROUPS", []):
            # It may be a domain controller: judged as if it were one until KSC says otherwise.
            level = LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]
            reasons.append(_("The host's group is not known (KSC could not be asked): it may be a critical group."))
        else:
            reasons.append(_("The host's group is not known (KSC could not be asked)."))
    elif level != LOW and (pattern := critical_pattern(group_name)):
        level = LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]
        reasons.append(
            _("The host is in %(group)s, a critical group (CRITICAL_GROUPS: %(pattern)s).")
            % {"group": group_name, "pattern": pattern}
        )
    return Risk(level, reasons)


def pattern_problems(patterns: Any) -> list[str]:
    """What is wrong with CRITICAL_GROUPS' patterns, each in words (responses/checks.py reports them)."""
    if not isinstance(patterns, list | tuple):
        return [f"CRITICAL_GROUPS must be a list of group names or patterns, not {type(patterns).__name__}."]
    problems = []
    for index, pattern in enumerate(patterns, start=1):
        if not isinstance(pattern, str) or not pattern.strip():
            problems.append(f"CRITICAL_GROUPS item {index} is empty; name a KSC group or a pattern such as Servers*.")
            continue
        if any(ord(char) < 32 or ord(char) == 127 for char in pattern):
            problems.append(f"CRITICAL_GROUPS item {index} ({pattern!r}) holds a control character.")
        elif len(pattern) > 256:
            problems.append(f"CRITICAL_GROUPS item {index} is longer than 256 characters.")
        elif pattern.count("[") != pattern.count("]"):
            problems.append(f"CRITICAL_GROUPS item {index} ({pattern!r}) has an unclosed [ ] set.")
        elif pattern.strip().strip("*") == "":
            problems.append(
                f"CRITICAL_GROUPS item {index} ({pattern!r}) matches every group: then no group is above another."
            )
    return problems
