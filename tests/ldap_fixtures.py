"""A real OpenLDAP slapd for the LDAP tests: started on a free port with a throwaway directory.

Users and nested groups as an Active Directory has them (groupOfNames with ``member``,
a group inside a group), in an mdb database under a temporary folder, loaded with
slapadd before the server starts. Skips, with the reason printed, where slapd or
python-ldap is missing (.ci/run installs both: slapd, ldap-utils, libldap2-dev, libsasl2-dev).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from portal.local_redis import free_port

SLAPD = "/usr/sbin/slapd"
BASE = "dc=corp,dc=example"
PEOPLE = f"ou=People,{BASE}"
GROUPS = f"ou=Groups,{BASE}"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "admin-only-in-this-throwaway-directory"
SERVICE_DN = f"cn=portal-bind,{BASE}"
SERVICE_PASSWORD = "portal-bind-password"
# username: (password, groups it is a direct member of)
USERS = {
    "alice": ("alice-directory-pass", ["SOC Analysts"]),
    "bob": ("bob-directory-pass", ["Tier 2"]),  # an approver through a nested group only
    "dave": ("dave-directory-pass", ["SOC Auditors"]),
    "erin": ("erin-directory-pass", ["SOC Analysts", "Tier 2"]),
    "mallory": ("mallory-directory-pass", ["Marketing"]),
}
GROUP_MEMBERS = {
    "SOC Analysts": [],
    "SOC Approvers": ["group:Tier 2"],
    "Tier 2": [],
    "SOC Auditors": [],
    "Marketing": [],
    "Nobody": [],
}
for _name, (_pw, _groups) in USERS.items():
    for _group in _groups:
        GROUP_MEMBERS[_group].append(f"user:{_name}")


def user_dn(username: str) -> str:
    return f"uid={username},{PEOPLE}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS}"


def role_groups() -> dict[str, tuple[str, ...]]:
    """ROLE_GROUPS for this directory, as portal/settings.py parses it (typed as an operator would)."""
    from accounts.role_groups import parse_role_groups

    return parse_role_groups(
        "ROLE_GROUPS",
        '{"Analysts": "CN=SOC Analysts, OU=Groups, DC=corp, DC=example",'
        f' "Approvers": ["{group_dn("SOC Approvers")}"], "Auditors": ["{group_dn("SOC Auditors")}"]}}',
    )


def _ldif() -> str:
    entries = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Corp\ndc: corp\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: People\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: Groups\n",
        f"dn: {SERVICE_DN}\nobjectClass: person\ncn: portal-bind\nsn: portal\nuserPassword: {SERVICE_PASSWORD}\n",
    ]
    for name, (password, _groups) in USERS.items():
        entries.append(
            f"dn: {user_dn(name)}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name.title()} Example\n"
            f"sn: Example\ngivenName: {name.title()}\nmail: {name}@corp.example\nuserPassword: {password}\n"
        )
    for group, members in GROUP_MEMBERS.items():
        dns = [
            user_dn(m.split(":", 1)[1]) if m.startswith("user:") else group_dn(m.split(":", 1)[1]) for m in members
        ] + [ROOT_DN]  # groupOfNames needs a member, also when a test removes the last person
        entries.append(
            f"dn: {group_dn(group)}\nobjectClass: groupOfNames\ncn: {group}\n"
            + "".join(f"member: {dn}\n" for dn in dns)
        )
    return "\n".join(entries)


@dataclass
class Slapd:
    uri: str

    def admin(self):
        import ldap

        conn = ldap.initialize(self.uri, bytes_mode=False)
        conn.simple_bind_s(ROOT_DN, ROOT_PASSWORD)
        return conn

    def remove_member(self, group: str, member_dn: str) -> None:
        self._change_members(group, member_dn, add=False)

    def add_member(self, group: str, member_dn: str) -> None:
        self._change_members(group, member_dn, add=True)

    def _change_members(self, group: str, member_dn: str, *, add: bool) -> None:
        import ldap

        conn = self.admin()
        try:
            conn.modify_s(group_dn(group), [(ldap.MOD_ADD if add else ldap.MOD_DELETE, "member", [member_dn.encode()])])
        finally:
            conn.unbind_s()


def _missing() -> str:
    try:
        import django_auth_ldap  # noqa: F401
        import ldap  # noqa: F401
    except ImportError as exc:
        return f"django-auth-ldap/python-ldap not installed: {exc} (pip install -r requirements-ldap.txt)"
    if not Path(SLAPD).is_file() or not shutil.which("slapadd"):
        return f"needs OpenLDAP's slapd at {SLAPD} and slapadd (apt-get install slapd ldap-utils)"
    return ""


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory):
    """The running slapd (one for the session); each test that changes it puts it back."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "db").mkdir()
    conf = folder / "slapd.conf"
    conf.write_text(
        "\n".join(
            [
                *(f"include /etc/ldap/schema/{name}.schema" for name in ("core", "cosine", "inetorgperson")),
                "modulepath /usr/lib/ldap",
                "moduleload back_mdb",
                f"pidfile {folder}/slapd.pid",
                "database mdb",
                f'suffix "{BASE}"',
                f'rootdn "{ROOT_DN}"',
                f"rootpw {ROOT_PASSWORD}",
                f"directory {folder}/db",
                "index objectClass eq",
                "index member eq",
                "access to attrs=userPassword by anonymous auth by * none",
                "access to * by users read by * none",
                "",
            ]
        )
    )
    (folder / "data.ldif").write_text(_ldif())
    loaded = subprocess.run(
        ["slapadd", "-f", str(conf), "-l", str(folder / "data.ldif")], capture_output=True, text=True, check=False
    )
    if loaded.returncode != 0:
        pytest.fail(f"slapadd failed: {loaded.stderr}")
    port = free_port()
    uri = f"ldap://127.0.0.1:{port}"
    process = subprocess.Popen(
        [SLAPD, "-f", str(conf), "-h", f"{uri}/", "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "slapd.log", "w"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"slapd exited: {(folder / 'slapd.log').read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("slapd did not listen within 15 s")
    yield Slapd(uri)
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def ldap_settings(settings, slapd_server):
    """The portal configured for the throwaway directory, as an operator would with the environment."""
    settings.LDAP_SERVER_URI = slapd_server.uri
    settings.LDAP_BIND_DN = SERVICE_DN
    settings.LDAP_BIND_PASSWORD = SERVICE_PASSWORD
    settings.LDAP_USER_SEARCH_BASE = PEOPLE
    settings.LDAP_USER_FILTER = "(uid=%(user)s)"
    settings.LDAP_GROUP_SEARCH_BASE = GROUPS
    settings.LDAP_START_TLS = False
    settings.LDAP_CA_FILE = ""
    settings.LDAP_TIMEOUT = 5.0
    settings.ROLE_GROUPS = role_groups()
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.ldap.DirectoryLDAPBackend"]
    return settings
