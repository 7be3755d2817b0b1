"""Directory settings: refused with a clear message when incomplete, and python-ldap optional without LDAP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts import roles
from accounts.role_groups import parse_role_groups

ROOT = Path(__file__).resolve().parent.parent
LDAP = {
    "LDAP_SERVER_URI": "ldaps://dc1.corp.example",
    "LDAP_USER_SEARCH_BASE": "OU=Users,DC=corp,DC=example",
    "LDAP_GROUP_SEARCH_BASE": "OU=Groups,DC=corp,DC=example",
    "ROLE_GROUPS": json.dumps({"Analysts": ["CN=SOC Analysts,OU=Groups,DC=corp,DC=example"]}),
}
# Makes `import ldap` and `import django_auth_ldap` fail, as on a machine where python-ldap did not build.
WITHOUT_LDAP = """
import sys, importlib.abc
class NotBuilt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ldap", "django_auth_ldap"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NotBuilt())
"""


def _manage(extra: dict[str, str], *args: str, without_ldap: bool = False) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KSC_", "LDAP_", "OIDC_", "ROLE_GROUPS", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"))
    }
    environment.update({"DEBUG": "true", **extra})
    code = (
        WITHOUT_LDAP if without_ldap else ""
    ) + "import sys; from django.core.management import execute_from_command_line\n"
    code += f"sys.argv = ['manage.py', *{list(args or ('check',))!r}]\n"
    code += "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); execute_from_command_line(sys.argv)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_portal_runs_without_python_ldap_when_ldap_is_not_configured():
    result = _manage({}, without_ldap=True)
    assert result.returncode == 0, result.stderr


def test_it_refuses_to_start_when_ldap_is_configured_but_python_ldap_is_missing():
    result = _manage(LDAP, without_ldap=True)
    assert result.returncode != 0
    assert "LDAP_SERVER_URI is set but django-auth-ldap/python-ldap is not installed" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"LDAP_GROUP_SEARCH_BASE": ""}, "LDAP_GROUP_SEARCH_BASE must be set too"),
        ({"LDAP_SERVER_URI": "ldap://dc1.corp.example"}, "would send passwords in clear"),
        ({"LDAP_SERVER_URI": "http://dc1"}, "must start with ldap:// or ldaps://"),
        ({"LDAP_USER_FILTER": "(sAMAccountName=%s)"}, "must contain %(user)s"),
        ({"ROLE_GROUPS": ""}, "ROLE_GROUPS must map"),
        ({"ROLE_GROUPS": '{"Admins": ["CN=x"]}'}, "'Admins' is not a role"),
    ],
)
def test_incomplete_ldap_settings_are_refused(change, message):
    result = _manage({**LDAP, **change})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "portal"}, "OIDC_CLIENT_SECRET"),
        (
            {"OIDC_ISSUER": "http://idp.example", "OIDC_CLIENT_ID": "p", "OIDC_CLIENT_SECRET": "s"},
            "must be an https:// URL",
        ),
        (
            {
                "OIDC_ISSUER": "https://idp.example",
                "OIDC_CLIENT_ID": "p",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_SCOPES": "email",
            },
            "must include openid",
        ),
        (
            {
                "OIDC_ISSUER": "https://idp.example",
                "OIDC_CLIENT_ID": "p",
                "OIDC_CLIENT_SECRET": "s",
                "OIDC_SIGN_ALGORITHMS": "HS256",
            },
            "HS256 is not allowed",
        ),
    ],
)
def test_incomplete_oidc_settings_are_refused(extra, message):
    result = _manage({"ROLE_GROUPS": LDAP["ROLE_GROUPS"], **extra})
    assert result.returncode != 0
    assert message in result.stderr


def test_role_groups_are_parsed_strictly():
    parsed = parse_role_groups("ROLE_GROUPS", '{"Approvers": "CN=SOC Approvers, OU=Groups,DC=corp,DC=example"}')
    assert parsed == {roles.APPROVERS: ("cn=soc approvers,ou=groups,dc=corp,dc=example",)}
    for junk in ("[1]", "not json", '{"Approvers": []}', '{"Approvers": [""]}'):
        with pytest.raises(ImproperlyConfigured, match="ROLE_GROUPS"):
            parse_role_groups("ROLE_GROUPS", junk)
