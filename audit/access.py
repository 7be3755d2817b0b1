"""Who reads and verifies the audit chains: asked of the portal's one policy, through a rule it registers.

This app stands below the requests and the accounts (docs/architecture.md, "The apps' order"), so
it cannot import responses/policy.py; the policy registers its answer here when the requests' app
is ready (``policy.may_export_audit``). Until a rule is registered nobody may: refusing is the
safe default.
"""

from __future__ import annotations

from collections.abc import Callable

_rule: Callable[[object], bool] | None = None


def set_reader_rule(rule: Callable[[object], bool]) -> None:
    """The policy's answer to "may this user read, export and verify the audit chains?"."""
    global _rule
    _rule = rule


def may_read(user) -> bool:
    return bool(_rule is not None and _rule(user))
