"""What the task chooser says about each task type's approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from responses import catalog


@dataclass(frozen=True)
class ApprovalRule:
    """Whether a task type needs approval: always, never, or when some of its options are chosen."""

    always: bool
    never: bool
    approvals: int
    when: tuple[Any, ...] = ()  # labels of the options that make it need approval


def approval_rule(task: catalog.TaskType) -> ApprovalRule:
    """catalog.approval_policy, plus which options make a "depends" task need approval.

    The options are found by asking catalog.approvals_required about each switch
    in turn, so that no task's rule is written a second time here.
    """
    policy, count = catalog.approval_policy(task.name)
    if policy == catalog.ALWAYS:
        return ApprovalRule(always=True, never=False, approvals=count)
    if policy == catalog.NEVER:
        return ApprovalRule(always=False, never=True, approvals=0)

    def needs_approval(switch: str) -> bool:
        values: dict[str, Any] = {}
        for spec in task.fields:
            if spec.kind == catalog.BOOL:
                values[spec.name] = spec.name == switch
            elif spec.kind == catalog.CHOICE:
                values[spec.name] = next(iter(spec.choices))
            else:
                values[spec.name] = ""
        return bool(catalog.approvals_required(task.name, [values] if task.list_params else values))

    when = tuple(spec.label for spec in task.fields if spec.kind == catalog.BOOL and needs_approval(spec.name))
    return ApprovalRule(always=False, never=False, approvals=count, when=when)
