"""manage.py ksc_simulator's topology options: bad ones stop the start with a clear message, nothing served."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["--secondary", "emea"], "write ID:NAME or ID:NAME:PARENT_ID"),
        (["--secondary", "21:paris:11"], "its parent 11 is not a secondary given"),
        (["--secondary", "11:emea", "--secondary", "11:apac"], "id 11 is given twice"),
        (["--secondary", "11:emea", "--failing-secondary", "12"], "12 is not a secondary given"),
        (["--vserver", "tenant-a", "--vserver", "tenant-a"], "'tenant-a' is given twice"),
        (["--gateway-key-ttl", "0"], "--gateway-key-ttl must be a number of seconds above 0"),
    ],
)
def test_a_topology_that_cannot_be_served_stops_the_start(arguments, words, tmp_path):
    state = tmp_path / "state.json"
    with pytest.raises(CommandError, match=words):
        call_command("ksc_simulator", "--user", "u", "--password", "p", "--port", "0", "--state", str(state), *arguments)
    assert not state.exists()  # nothing was started, nothing written
