"""Only responses/policy.py decides access: nothing else tests roles, groups or the admin flags.

A grep over the project's code and templates for what a home-made access check looks
like: ``has_role(``, ``.groups.``, the role groups' names, ``is_superuser``/``is_staff``.
What may hold them: the policy, the roles' definitions, migrations, and code that SETS
roles or flags or records their changes (demo users, the directory sign-in and sync,
the account trail). Everything else asks responses.policy.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("portal", "responses", "accounts", "notifications", "ksc_simulator", "templates")

ACCESS_TEST = re.compile(
    r"has_role\(|\.groups\.|\bgroups__|is_superuser|is_staff|_portal_roles"
    r"|[\"'](Analysts|Approvers|Auditors)[\"']|\b(ANALYSTS|APPROVERS|AUDITORS|ALL_ROLES)\b"
)

# By file name, so that a file moved to another app (issue 14 moves accounts code) keeps its reason.
ALLOWED = {
    "policy.py": "the policy itself",
    "roles.py": "the roles' definitions",
    "identity.py": "accounts' identity rules (two-factor, local sign-in, roles held), re-exported by the policy",
    "role_groups.py": "definitions: which directory group gives which role (ROLE_GROUPS)",
    "create_demo_users.py": "sets the demo users' roles and flags",
    "directory.py": "sets a user's roles from the directory at sign-in",
    "sync.py": "sync_directory_roles sets roles from the directory",
    "ldap.py": "the LDAP sign-in sets roles (and drops the role cache it just changed)",
    "account_trail.py": "records every change of roles and flags in the account trail",
    "checks.py": "a start-up check reads ROLE_GROUPS (does it give Approvers?); decides nothing about a user",
    "settings.py": "the ROLE_GROUPS variable's example default names a role (a definition); decides nothing",
    "account.html": "shows its owner the account's own superuser flag; decides nothing",
}


def offending_lines() -> list[str]:
    found = []
    for top in SCANNED:
        base = ROOT / top
        if not base.is_dir():
            continue
        for path in sorted([*base.rglob("*.py"), *base.rglob("*.html")]):
            if "migrations" in path.parts or path.name in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if ACCESS_TEST.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_module_but_the_policy_tests_roles_or_admin_flags():
    found = offending_lines()
    assert not found, "ask responses.policy instead:\n" + "\n".join(found)


def test_the_grep_catches_a_home_made_check(tmp_path, monkeypatch):
    """The check itself: a view that tests a group by hand is reported, with its line."""
    views = tmp_path / "responses"
    views.mkdir()
    (views / "views.py").write_text(
        "def page(user):\n    if user.groups.filter(name='Auditors').exists() or user.is_staff:\n        pass\n"
    )
    (views / "policy.py").write_text("def sees(user):\n    return user.is_superuser\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)

    assert offending_lines() == [
        "responses/views.py:2: if user.groups.filter(name='Auditors').exists() or user.is_staff:"
    ]
