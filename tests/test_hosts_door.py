"""One door for host questions (issue 25, point 4): responses/hosts.py, asked by pages, filing, the API and the sweep.

Against the simulated KSC over HTTPS; and a reading of the code: no other module asks the KSC
client about hosts.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from ksc_client.errors import KscError
from responses import hosts
from responses.ksc_servers import UnknownServer
from responses.models import HostDirectoryEntry

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("portal", "responses", "accounts", "notifications", "worker", "audit")
# What a KSC client answers about hosts.
HOST_CALLS = {
    "get_host",
    "get_host_info",
    "find_hosts",
    "find_hosts_async",
    "hosts_named",
    "_find_hosts",
    "tasks_of_host",
    "hosts_in_groups",
    "group_id",
    "subgroup_ids",
}
ALLOWED = {
    "responses/hosts.py": "the door itself",
    # A diagnostic of the connection to KSC (its wire, its rights), run by an administrator: it
    # tests the client's own calls, one host as an example, and answers no question about a host.
    "responses/management/commands/ksc_check.py": "the connection check",
}


def host_calls_outside_the_door() -> list[str]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")) if (ROOT / top).is_dir() else []:
            relative = str(path.relative_to(ROOT))
            if "migrations" in path.parts or relative in ALLOWED:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                receiver = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
                if name in HOST_CALLS and not (name == "get_host" and receiver == "request"):  # Django's HttpRequest
                    found.append(f"{relative}:{node.lineno}: {name}()")
    return found


def test_nothing_but_hosts_py_asks_the_ksc_client_about_hosts():
    assert host_calls_outside_the_door() == []


def test_the_reading_finds_a_host_call_elsewhere(tmp_path, monkeypatch):
    (tmp_path / "responses").mkdir()
    (tmp_path / "responses" / "page.py").write_text(
        "def page(request, client):\n    request.get_host()\n    return client.get_host('h-1')\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)

    assert host_calls_outside_the_door() == ["responses/page.py:3: get_host()"]


def test_every_function_that_asks_ksc_takes_a_server():
    asking = [hosts.lookup, hosts.check, hosts.search, hosts.named, hosts.state, hosts.task_ids, hosts.in_group]
    for function in asking:
        parameter = inspect.signature(function).parameters.get("server")
        assert parameter is not None and parameter.default is None, function.__name__


@pytest.mark.django_db
class TestAgainstTheSimulator:
    def test_lookup_and_check_by_id(self, ksc_settings):
        host_id = ksc_settings.host_id("SRV-SQL-01")

        assert hosts.lookup(host_id).display_name == "SRV-SQL-01"
        assert hosts.lookup(host_id, server="primary").id == host_id
        assert hosts.lookup("no-such-host") is None
        check = hosts.check(host_id)
        assert (check.display_name, check.unknown, check.error) == ("SRV-SQL-01", False, "")
        assert hosts.check("no-such-host").unknown
        assert HostDirectoryEntry.objects.filter(host_id=host_id, display_name="SRV-SQL-01").exists()

    def test_a_server_that_is_not_configured_is_refused_by_name(self, ksc_settings):
        with pytest.raises(UnknownServer):
            hosts.lookup(ksc_settings.host_id("SRV-SQL-01"), server="tenant-b")

    def test_check_says_why_ksc_could_not_be_asked(self, ksc_settings):
        ksc_settings.simulator.stop()  # KSC is down: connection refused

        check = hosts.check("anything")

        assert check.host is None and check.error and not check.unknown

    def test_check_without_ksc_configured_says_so(self, settings):
        settings.KSC_HOST = ""

        assert "not configured" in hosts.check("h-1").error

    def test_search_named_and_the_name_pages_show(self, ksc_settings):
        found = hosts.search("SRV-SQL", limit=5)

        assert [host.display_name for host in found] == ["SRV-SQL-01"]
        assert [host.display_name for host in hosts.named("SRV-SQL-01")] == ["SRV-SQL-01"]
        assert hosts.named("nobody-is-called-this") == []
        assert hosts.display_name(found[0]) == "SRV-SQL-01"

    def test_state_gives_facts_or_why_not(self, ksc_settings):
        facts, why = hosts.state(ksc_settings.host_id("SRV-SQL-01"))
        assert facts is not None and why == "" and facts.host.display_name == "SRV-SQL-01"
        assert hosts.name_of(facts.host.id, facts, filed_as="old name") == "SRV-SQL-01"

        facts, why = hosts.state("no-such-host")
        assert facts is None and why == "KSC does not know this host id."
        assert hosts.name_of("no-such-host", facts, filed_as=lambda: "WS-7") == "WS-7"
        assert hosts.name_of("no-such-host") == "no-such-host"

    def test_task_ids_of_a_host(self, ksc_settings):
        host_id = ksc_settings.host_id("SRV-SQL-01")
        ids = hosts.task_ids(host_id)  # the simulator's group tasks include every host

        assert ids and all(isinstance(task_id, str) and task_id for task_id in ids)
        assert hosts.task_ids(host_id, server="primary") == ids
        with pytest.raises(KscError):
            hosts.task_ids("no-such-host")

    def test_in_group_with_and_without_subgroups(self, ksc_settings):
        alone = hosts.in_group("Managed devices/Servers", subgroups=False, limit=100)
        both = hosts.in_group("Servers", subgroups=True, limit=100)

        assert (alone.total, len(alone.hosts), alone.groups) == (9, 9, 1)
        assert (both.total, both.groups) == (11, 2) and {"DC01", "DC02"} < {h.display_name for h in both.hosts}
        assert both.group_id == alone.group_id
        assert HostDirectoryEntry.objects.filter(display_name="DC01").exists()  # the door records what it saw
        capped = hosts.in_group("Managed devices", subgroups=True, limit=3)
        assert capped.total == 53 and len(capped.hosts) == 3
        with pytest.raises(hosts.UnknownGroup) as caught:
            hosts.in_group("Servers/Nowhere", subgroups=True, limit=10)
        assert caught.value.path == "Servers/Nowhere"
