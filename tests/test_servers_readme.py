"""README's "Several KSC servers" example is a servers file the portal accepts (issue 26, point 1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from portal.ksc_servers import read_servers

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readmes_example_servers_file_is_accepted(tmp_path):
    section = README.read_text(encoding="utf-8").split("### Several KSC servers", 1)[1]
    example = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    entries = json.loads(example)
    for entry in entries:  # the files it names, made here
        for key in ("password_file", "ca_file"):
            target = tmp_path / Path(entry[key]).name
            target.write_text("x")
            entry[key] = str(target)
    servers_file = tmp_path / "ksc-servers.json"
    servers_file.write_text(json.dumps(entries))
    servers = read_servers(str(servers_file))
    assert [server.name for server in servers] == ["primary", "branch-eu", "branch-eu-lab", "acme", "globex"]
    assert servers[2].route == (12, 3) and servers[3].vserver == "acme"
    # The tenants' own channels: an Apprise URL Apprise accepts, and a Slack channel id.
    from notifications import channels

    channels.check_server_channels(servers)
    assert len(servers[3].notify_urls) == 1 and servers[4].slack_channels == ("C0GLOBEX01",)
