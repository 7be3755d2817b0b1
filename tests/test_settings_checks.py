"""Settings import no app code; what only an app knows is a Django system check (issue 25, point 9).

portal/settings.py reads APPROVALS_REQUIRED_<TASK>, APPROVAL_SLA_<TASK>, ROLE_GROUPS and
TENANT_GROUPS as plain values; responses/checks.py and accounts/checks.py refuse the ones that name
no task type, no role or no server, naming the variable, and `manage.py check` then exits non-zero.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from accounts import checks as account_checks
from accounts.roles import APPROVERS
from responses import catalog
from responses import checks as request_checks
from tests.support.subprocesses import settings_in_subprocess

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "audit", "notifications", "responses", "worker", "ksc_simulator")


def test_the_settings_import_no_app_code():
    tree = ast.parse((ROOT / "portal" / "settings.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert sorted(name for name in imported if name.split(".")[0] in APPS) == []


def test_a_per_task_variable_naming_no_task_type_is_the_checks_error(settings):
    settings.APPROVALS_REQUIRED_BY_TASK = {"FORMATDISK": 1, "ISOLATEHOST": 2}
    settings.APPROVAL_SLA_BY_TASK = {"NOSUCHTASK": 600}
    errors = request_checks.per_task_variables_name_task_types()
    assert [error.id for error in errors] == ["responses.E001", "responses.E002"]
    assert errors[0].msg.startswith("APPROVALS_REQUIRED_FORMATDISK: no such task type; use one of ")
    assert errors[1].msg.startswith("APPROVAL_SLA_NOSUCHTASK: no such task type")
    with pytest.raises(SystemCheckError, match="APPROVALS_REQUIRED_FORMATDISK"):
        call_command("check")


def test_per_task_values_are_matched_to_the_task_type_whatever_the_case(settings):
    settings.APPROVALS_REQUIRED_BY_TASK = {"ISOLATEHOST": 2}  # as read from APPROVALS_REQUIRED_ISOLATEHOST=2
    assert request_checks.per_task_variables_name_task_types() == []
    assert catalog.approvals_required("isolateHost", {}) == 2
    assert catalog.approval_policy("isolateHost") == (catalog.ALWAYS, 2)
    assert catalog.per_task({"isolateHost": 900}, "isolateHost") == 900  # as tests and the admin set it


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"Admins": ["CN=x"]}, "ROLE_GROUPS: 'Admins' is not a role"),
        ({APPROVERS: []}, "ROLE_GROUPS: the groups of Approvers must be a non-empty list"),
        ({APPROVERS: ["CN=ok", 7]}, "ROLE_GROUPS: the groups of Approvers must be a non-empty list"),
    ],
)
def test_a_bad_role_groups_is_the_checks_error(settings, value, words):
    settings.ROLE_GROUPS = value
    errors = account_checks.role_groups_name_roles()
    assert [error.id for error in errors] == ["accounts.E002"]
    assert errors[0].msg.startswith(words)


def test_good_role_groups_pass_and_are_read_normalised(settings):
    from accounts import role_groups

    settings.ROLE_GROUPS = {APPROVERS: "CN=SOC Approvers, OU=Groups,DC=corp"}
    assert account_checks.role_groups_name_roles() == []
    assert role_groups.configured() == {APPROVERS: ("cn=soc approvers,ou=groups,dc=corp",)}


def test_tenant_groups_naming_no_server_is_the_checks_error(settings):
    settings.TENANT_GROUPS = {"mars": ["CN=x"]}
    errors = account_checks.tenant_groups_name_servers()
    assert [error.id for error in errors] == ["accounts.E003"]
    assert "TENANT_GROUPS: 'mars' is not a configured KSC server" in errors[0].msg


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("APPROVALS_REQUIRED_FORMATDISK", "1", "(responses.E001) APPROVALS_REQUIRED_FORMATDISK: no such task type"),
        ("ROLE_GROUPS", '{"Admins": ["CN=x"]}', "(accounts.E002) ROLE_GROUPS: 'Admins' is not a role"),
    ],
)
def test_manage_py_check_exits_non_zero_naming_the_variable(variable, value, words):
    result = settings_in_subprocess({variable: value, "DEBUG": "true"})
    assert result.returncode != 0
    assert words in result.stderr
