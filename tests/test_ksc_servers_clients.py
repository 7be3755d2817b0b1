"""responses/ksc_servers.py: clients built per configured server from the settings (issue 25 point 2, issue 26).

Against the simulator's hierarchy over HTTPS: a server of KSC_SERVERS_FILE with a virtual server, and one
with a route of two secondaries, each reached by its own cached client; the password read from its file.
"""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.ksc_servers import KscServer
from responses import ksc_servers
from tests.support.ksc_payloads import isolate


@pytest.fixture
def file_servers(settings, ksc_hierarchy, tmp_path):
    password = tmp_path / "ksc.password"
    password.write_text(ksc_hierarchy.password + "\n", encoding="utf-8")
    common = {"url": ksc_hierarchy.url, "user": ksc_hierarchy.user, "password_file": str(password)}
    settings.KSC_SERVERS = [
        KscServer(name="primary", ca_file=str(ksc_hierarchy.cert_path), **common),
        KscServer(name="tenant-a", ca_file=str(ksc_hierarchy.cert_path), vserver="tenant-a", **common),
        KscServer(name="emea-paris", ca_file=str(ksc_hierarchy.cert_path), route=(11, 21), **common),
    ]
    settings.KSC_CLIENT = "builtin"
    ksc_servers.reset_clients()
    yield ksc_hierarchy
    ksc_servers.reset_clients()


def test_each_server_of_the_file_gets_its_own_client_and_reaches_its_own_ksc(file_servers):
    assert ksc_servers.server_names() == ["primary", "tenant-a", "emea-paris"]
    assert ksc_servers.default_server() == "primary"
    config = ksc_servers.config_for("emea-paris")
    assert (config.name, config.route, config.vserver, config.url) == ("emea-paris", (11, 21), "", file_servers.url)
    assert config.password == file_servers.password  # read from its file, the newline dropped

    paris = ksc_servers.client_for("emea-paris")
    tenant = ksc_servers.client_for("tenant-a")
    assert ksc_servers.client_for("emea-paris") is paris and tenant is not paris
    assert ksc_servers.get_client() is ksc_servers.client_for("primary")

    paris.add_incident(isolate(file_servers.host_id("EMEA-PARIS-WS-02", "secondary:21")))
    tenant.add_incident(isolate(file_servers.host_id("TENANT-A-WS-02", "vserver:tenant-a")))
    assert len(file_servers.incidents("secondary:21")) == 1
    assert len(file_servers.incidents("vserver:tenant-a")) == 1
    assert file_servers.incidents() == []


def test_an_unknown_server_is_refused_by_name(file_servers):
    with pytest.raises(ksc_servers.UnknownServer, match="No KSC server is named 'nowhere'") as refused:
        ksc_servers.client_for("nowhere")
    assert isinstance(refused.value, ValueError) and "primary, tenant-a, emea-paris" in str(refused.value)


def test_a_password_file_that_went_away_is_a_configuration_error_naming_the_server(file_servers, settings, tmp_path):
    settings.KSC_SERVERS = [
        KscServer(name="emea", url=file_servers.url, user="u", password_file=str(tmp_path / "gone.password"))
    ]
    with pytest.raises(ImproperlyConfigured, match="KSC server 'emea': password_file .* cannot be read"):
        ksc_servers.config_for("emea")
    assert ksc_servers.default_server() == "emea"  # the only server is the default, whatever its name


def test_several_servers_without_a_primary_have_no_default(settings):
    settings.KSC_SERVERS = [
        KscServer(name=name, url=f"https://ksc-{name}.invalid:13299", user="u", password_env="X") for name in "ab"
    ]
    assert ksc_servers.default_server() is None
    with pytest.raises(ImproperlyConfigured, match="none is named 'primary'"):
        ksc_servers.get_client()


def test_the_clients_of_a_parent_are_never_used_in_a_forked_child(file_servers):
    parent = ksc_servers.client_for("tenant-a")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a client of its own, never the parent's connection
        os.close(read)
        os.write(write, b"same" if ksc_servers.client_for("tenant-a") is parent else b"new")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    assert answer == b"new"
    assert ksc_servers.client_for("tenant-a") is parent


def test_without_any_server_the_error_says_which_settings_to_set(settings):
    settings.KSC_SERVERS = []
    settings.KSC_HOST = None
    assert ksc_servers.server_names() == [] and ksc_servers.default_server() is None
    for build in (lambda: ksc_servers.client_for("primary"), ksc_servers.get_client):
        with pytest.raises(ImproperlyConfigured, match="KSC_HOST is not set"):
            build()
