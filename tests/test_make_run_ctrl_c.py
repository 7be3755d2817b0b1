"""`make run` stopped with Ctrl-C typed in a terminal while it starts (issue 17, point 10).

A Ctrl-C at a keyboard is not a SIGINT to one process: the terminal driver sends SIGINT to the
whole foreground process group, which holds make, the launcher and any child left in it. So
this test runs `make run ARGS="--port P --state-dir D"` as the foreground group of a
pseudo-terminal (``Terminal`` and ``make_run`` in tests/support/launcher.py) and types Ctrl-C on
it while the launcher still migrates its database. The terminal must show no traceback, warning
or error, make no "make: ***" line, every process must be gone within a bound, and the home
folder must stay empty.

Ctrl-C once the portal runs, while a job is in the worker's hands, is the second half of
tests/test_make_run.py's one launch (one `make run` for both: each launch migrates a new database).
"""

from __future__ import annotations

import re
import time

import pytest

from portal.local_redis import free_port
from tests.support.launcher import assert_quiet, commands, descendants, make_run, press_ctrl_c_and_wait

pytestmark = pytest.mark.launcher


def test_ctrl_c_while_make_run_starts_stops_it_quietly(tmp_path):
    # Ctrl-C once Redis is up, while the launcher migrates the new database (the longest step of a
    # first run): the migration is stopped, Redis too, and the launcher says nothing more.
    terminal = make_run(tmp_path, free_port())
    try:
        terminal.wait_for(r"Redis: redis://127\.0\.0\.1:\d+/0 \(local redis-server, pid \d+\)", timeout=120)
        deadline = time.monotonic() + 10
        while not any("migrate" in command for command in commands(descendants(terminal.process.pid))):
            assert time.monotonic() < deadline, f"no migrate started:\n{terminal.text()[-3000:]}"
            time.sleep(0.05)
        took, leftover, after = press_ctrl_c_and_wait(terminal)
    finally:
        terminal.close()

    assert_quiet(terminal, took, leftover, after, tmp_path / "home")
    assert "The portal is running" not in after
    assert re.search(r"^stopped: redis \(pid \d+\)$", after, re.MULTILINE), after[-4000:]
