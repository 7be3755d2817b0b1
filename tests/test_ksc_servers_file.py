"""KSC servers as data (issue 25, point 9): KSC_SERVERS_FILE, checked at start with messages naming entry and key."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.ksc_servers import KscServer, primary_from_variables, read_servers
from tests.support.subprocesses import settings_in_subprocess


@pytest.fixture
def secrets_dir(tmp_path):
    password = tmp_path / "primary.password"
    password.write_text("not-in-the-file\n")
    ca = tmp_path / "ksc.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return tmp_path


def entry(secrets_dir, **changes):
    values = {
        "name": "primary",
        "url": "https://ksc.corp.example:13299",
        "user": "edr-portal",
        "password_file": str(secrets_dir / "primary.password"),
        "ca_file": str(secrets_dir / "ksc.pem"),
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def write(secrets_dir, entries, name="servers.json"):
    path = secrets_dir / name
    path.write_text(json.dumps(entries) if name.endswith(".json") else entries)
    return str(path)


def test_a_primary_a_secondary_and_a_virtual_server(secrets_dir):
    path = write(
        secrets_dir,
        [
            entry(secrets_dir, hourly_cap=300, inflight_tasks=100),
            entry(secrets_dir, name="emea", route=[3], ca_file=None),
            entry(secrets_dir, name="tenant-a", vserver="Tenant A"),
        ],
    )
    primary, emea, tenant = read_servers(path)
    assert primary == KscServer(
        name="primary",
        url="https://ksc.corp.example:13299",
        user="edr-portal",
        password_file=str(secrets_dir / "primary.password"),
        ca_file=str(secrets_dir / "ksc.pem"),
        hourly_cap=300,
        inflight_tasks=100,
    )
    assert emea.route == (3,) and emea.ca_file == "" and emea.vserver == ""
    assert tenant.vserver == "Tenant A" and tenant.route == ()
    assert "not-in-the-file" not in repr(read_servers(path)), "the password is never read into the settings"


def test_the_same_in_toml(secrets_dir):
    text = f"""
[[server]]
name = "primary"
url = "https://ksc.corp.example:13299"
user = "edr-portal"
password_file = "{secrets_dir / "primary.password"}"

[[server]]
name = "apac"
url = "https://ksc.corp.example:13299"
user = "edr-portal"
password_file = "{secrets_dir / "primary.password"}"
route = [7, 12]
"""
    servers = read_servers(write(secrets_dir, text, "servers.toml"))
    assert [(s.name, s.route) for s in servers] == [("primary", ()), ("apac", (7, 12))]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"password": "hunter2"}, "entry 1 ('primary'): password: passwords are never written here"),
        ({"name": "Primary!"}, "entry 1 ('Primary!'): name: lowercase letters"),
        ({"url": "http://ksc.corp.example:13299"}, "entry 1 ('primary'): url: https://host:port"),
        ({"url": "https://ksc.corp.example:13299/api"}, "url: https://host:port"),
        ({"url": "https://ksc.corp.example:99999"}, "url: the port is not a number"),
        ({"user": ""}, "entry 1 ('primary'): user: required"),
        ({"password_file": "relative.password"}, "password_file: an absolute path"),
        ({"password_file": "/nonexistent/ksc.password"}, "password_file: no file at"),
        ({"ca_file": "/nonexistent/ksc.pem"}, "ca_file: no file at"),
        ({"route": ["emea"]}, "route: a list of secondary server ids"),
        ({"route": [3], "vserver": "Tenant A"}, "a virtual server has no secondaries"),
        ({"hourly_cap": -1}, "hourly_cap: a whole number of at least 0"),
        ({"inflight_tasks": True}, "inflight_tasks: a whole number"),
        ({"region": "emea"}, "entry 1 ('primary'): region: not a key of a server"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_entry_and_the_key(secrets_dir, changes, words):
    path = write(secrets_dir, [entry(secrets_dir, **changes)])
    with pytest.raises(ImproperlyConfigured) as refused:
        read_servers(path)
    assert words in str(refused.value) and path in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [("{not json", "not JSON"), ('{"name": "primary"}', "must hold a list of servers"), ("[]", "lists no server")],
)
def test_a_file_that_is_not_a_list_of_servers_is_refused(secrets_dir, content, words):
    path = secrets_dir / "servers.json"
    path.write_text(content)
    with pytest.raises(ImproperlyConfigured, match=words):
        read_servers(str(path))


def test_two_entries_of_one_name_and_a_second_source_are_refused(secrets_dir):
    path = write(secrets_dir, [entry(secrets_dir), entry(secrets_dir)])
    with pytest.raises(ImproperlyConfigured, match=r"entry 2 \('primary'\): name: another entry has this name"):
        read_servers(path)
    single = write(secrets_dir, [entry(secrets_dir)])
    with pytest.raises(ImproperlyConfigured, match="KSC_SERVERS_FILE and KSC_HOST are both set"):
        read_servers(single, primary=primary_from_variables("ksc.corp.example", 13299, "u", "", ""))
    with pytest.raises(ImproperlyConfigured, match="must be an absolute path"):
        read_servers("servers.json")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        read_servers(str(secrets_dir / "missing.json"))


def test_todays_variables_are_the_server_named_primary():
    [primary] = read_servers("", primary=primary_from_variables("ksc.corp.example", 13299, "edr", "/etc/ksc.pem", "T"))
    assert (primary.name, primary.url, primary.user, primary.password_env, primary.ca_file, primary.vserver) == (
        "primary",
        "https://ksc.corp.example:13299",
        "edr",
        "KSC_PASSWORD",
        "/etc/ksc.pem",
        "T",
    )
    assert read_servers("", primary=None) == []


def test_the_portal_refuses_to_start_with_a_bad_servers_file(secrets_dir):
    path = write(secrets_dir, [entry(secrets_dir, password="hunter2")])
    result = settings_in_subprocess({"SECRET_KEY": "k" * 50, "AUDIT_CHAIN_KEY": "a" * 50, "KSC_SERVERS_FILE": path})
    assert result.returncode != 0
    assert "password: passwords are never written here" in result.stderr and "hunter2" not in result.stderr
