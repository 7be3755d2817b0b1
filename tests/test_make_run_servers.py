"""`make run`'s simulated hierarchy as a servers file (issue 26): a primary, a secondary and two virtual servers."""

from __future__ import annotations

import json

from portal.ksc_servers import read_servers
from portal.launcher import Launcher


def test_the_launcher_lists_the_simulated_hierarchy_in_a_servers_file(tmp_path):
    launcher = Launcher(port=0, state=tmp_path)
    (tmp_path / "ksc-simulator").mkdir()
    cert = tmp_path / "ksc-simulator" / "ksc-simulator.pem"
    cert.write_text("certificate")
    assert launcher._hierarchy_options() == ["--secondary", "1:branch-eu", "--vserver", "acme", "--vserver", "globex"]

    path = launcher.write_servers_file("https://127.0.0.1:40000", "edr-portal", "sim-secret", str(cert))

    servers = read_servers(str(path))
    assert [server.name for server in servers] == ["primary", "branch-eu", "acme", "globex"]
    assert servers[1].route == (1,) and (servers[2].vserver, servers[3].vserver) == ("acme", "globex")
    assert "sim-secret" not in path.read_text()  # the password is in its own file, never in the list
    secret = tmp_path / "ksc-simulator" / "password"
    assert secret.read_text() == "sim-secret" and secret.stat().st_mode & 0o077 == 0
    assert all(entry["password_file"] == str(secret) for entry in json.loads(path.read_text()))
