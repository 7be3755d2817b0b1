"""``manage.py ksc_check`` with several servers (issue 26, points 6 and 8), and the admin's KSC servers page.

Two simulators over HTTPS as servers east and west (tests/fixtures/tenants.py).
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from responses.models import KscServerState


def check(capsys, *args: str) -> tuple[int, str]:
    try:
        call_command("ksc_check", *args)
    except CommandError as error:
        return error.returncode, capsys.readouterr().out + str(error)
    return 0, capsys.readouterr().out


def test_every_server_is_checked_and_one_down_fails_alone(two_ksc_servers, capsys):
    two_ksc_servers.west.simulator.stop()
    status, out = check(capsys)
    assert status == 1
    east, west = out.split("KSC server west")
    assert "KSC server east" in east and "OK    login:" in east and "FAIL" not in east
    assert "FAIL  connection:" in west
    states = {state.server: state for state in KscServerState.objects.all()}
    assert states["east"].last_login_ok is True and states["east"].unreachable_since is None
    assert states["west"].unreachable_since is not None


def test_one_server_by_name(two_ksc_servers, capsys):
    two_ksc_servers.west.simulator.stop()
    status, out = check(capsys, "--server", "east")
    assert status == 0, out
    assert "west" not in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--server", "initech"), "--server: no KSC server named 'initech'; the configured servers are east, west."),
        (("--probe", "some-host"), "--probe files a real task on one server: name it with --server."),
        (("--server", "east", "--probe", "x" * 300), "--probe: "),
        (("--server", "east", "--probe", "h", "--wait", "0"), "--wait: at least 1 second."),
    ],
)
def test_bad_input_is_refused_by_name_and_nothing_is_filed(two_ksc_servers, capsys, args, words):
    with pytest.raises(CommandError) as caught:
        call_command("ksc_check", *args)
    assert words in str(caught.value)
    assert two_ksc_servers.east.incidents() == [] and two_ksc_servers.west.incidents() == []


def test_the_probe_files_a_real_scan_and_sees_its_response_task(two_ksc_servers, capsys):
    host = two_ksc_servers.east.hosts()[0]["KLHST_WKS_HOSTNAME"]
    status, out = check(capsys, "--server", "east", "--probe", host, "--wait", "20")
    assert status == 0, out
    assert "REAL  probe: filing a real task on host" in out
    assert "OK    probe: incident" in out and "Web Console background connection works" in out
    (incident,) = two_ksc_servers.east.incidents()
    assert '"onDemandScan"' in incident["pData"]["KLINCDT_BODY"]
    assert two_ksc_servers.west.incidents() == []  # exactly that server
    assert KscServerState.objects.get(server="east").last_probe.startswith("passed: ")


def test_a_server_without_the_response_task_fails_the_probe(two_ksc_servers, capsys):
    host = two_ksc_servers.west.hosts()[0]["KLHST_WKS_HOSTNAME"]
    # No Web Console background connection: KES never makes the [Response] task.
    two_ksc_servers.west._request("POST", "tasks", {"hosts": {host: {"outcome": "never"}}})
    status, out = check(capsys, "--server", "west", "--probe", host, "--wait", "2")
    assert status == 1
    assert "FAIL  probe:" in out and "gets incidents but the portal will follow no outcome" in out
    assert len(two_ksc_servers.west.incidents()) == 1
    assert KscServerState.objects.get(server="west").last_probe.startswith("FAILED: ")


def test_the_admin_lists_every_server_with_its_queue(two_ksc_servers, client, login, root, alice, bob):
    from accounts import tenants
    from tests.fixtures.tenants import file_for

    for user in (alice, bob):
        tenants.set_scope(user, every_server=True, servers=[])
    pending, _submitted = file_for("west", alice, bob, "zzwestzz")
    from responses import workflow

    workflow.approve(pending, user=bob)  # on its way to west: west's queue is 1
    login(client, root)
    page = client.get("/admin/responses/kscserverstate/").content.decode()
    assert "east" in page and "west" in page
    assert two_ksc_servers.east.url in page
    assert two_ksc_servers.west.password not in page and two_ksc_servers.east.password not in page
    rows = {state.server for state in KscServerState.objects.all()}
    assert rows == {"east", "west"}
