"""`make run` stopped with Ctrl-C typed in a terminal, as a newcomer stops it (issue 17, point 10).

A Ctrl-C at a keyboard is not a SIGINT to one process: the terminal driver sends SIGINT to the
whole foreground process group, which holds make, the launcher and any child left in it. So
these tests run `make run ARGS="--port P --state-dir D"` as the foreground group of a
pseudo-terminal (``Terminal`` in tests/support/launcher.py) and type Ctrl-C on it:

- once the portal says it is running, while a job is in the worker's hands (an approved request
  whose AddIncident the simulated KSC makes last a few seconds): the moment when stopping Redis
  or the simulator before the worker shows, in pages of tracebacks;
- while it is still starting (migrating its database).

Each time the terminal must show no traceback, warning or error, make no "make: ***" line, every
process must be gone within a bound, and the home folder must stay empty.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import requests

from portal.local_redis import free_port
from tests.support.launcher import (
    ROOT,
    Terminal,
    alive,
    demo_credentials,
    descendants,
    fresh_machine_env,
    login,
    post,
)

pytestmark = pytest.mark.launcher

# The simulated KSC's AddIncident takes this long, so that Ctrl-C finds the worker busy with it.
ADD_INCIDENT_MS = 3000

# What must never reach the terminal while stopping: Python's tracebacks, redis-py's, requests'
# and RQ's errors when Redis or the simulator goes first, a warning or an error logged by one of
# the servers, the launcher's "make run failed", and make's "make: *** [Makefile:N: run] Error 1"
# or "Interrupt" (the launcher failed, or died of the signal).
NOISE = re.compile(
    r"Traceback|KeyboardInterrupt|ConnectionError|Connection refused|Error \d+ connecting"
    r"|not reachable|unhandled exception|make run failed|^make(\[\d+\])?: \*\*\*"
    r"|\b(WARNING|ERROR|CRITICAL)\b",
    re.MULTILINE,
)


def make_run(tmp_path: Path, port: int) -> Terminal:
    """`make run ARGS="--port port --state-dir tmp_path/run"` in a new terminal, HOME an empty tmp_path/home.

    Exactly what a newcomer types, but for make's check of the installed requirements (`-o`)
    and PY=, the Python this test runs in.
    """
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "run"
    return Terminal(
        ["make", "-o", ".venv/.installed", "run", f"PY={sys.executable}", f"ARGS=--port {port} --state-dir {state}"],
        cwd=ROOT,
        env=fresh_machine_env(home),
    )


def press_ctrl_c_and_wait(terminal: Terminal) -> tuple[float, list[int], str]:
    """Ctrl-C; (seconds until make and everything it started ended, pids still running, terminal since)."""
    started = descendants(terminal.process.pid)
    assert started, "make started nothing"
    before = len(terminal.text())
    terminal.press_ctrl_c()
    pressed = time.monotonic()
    try:
        terminal.process.wait(timeout=60)
        terminal.closed.wait(timeout=10)  # nothing holds the terminal any more
    finally:
        took = time.monotonic() - pressed
        leftover = sorted(pid for pid in started if alive(pid))
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
    return took, leftover, terminal.text()[before:].replace("^C", "", 1)  # without the terminal's echo


def assert_quiet(terminal: Terminal, took: float, leftover: list[int], after: str, home: Path) -> None:
    assert leftover == [], f"still running after Ctrl-C: {leftover}\n{after[-3000:]}"
    assert took < 30, f"stopping took {took:.1f} s\n{after[-3000:]}"
    assert terminal.closed.is_set(), "something still holds the terminal"
    noise = [line for line in after.splitlines() if NOISE.search(line)]
    assert noise == [], "\n".join(noise) + "\n--- the terminal after Ctrl-C ---\n" + after[-6000:]
    # make printed nothing, so its child, the launcher, exited 0; make itself then ends by the
    # SIGINT it got, as any command that Ctrl-C stops (a shell shows 130).
    assert terminal.process.returncode == -signal.SIGINT, terminal.process.returncode
    assert sorted(p.name for p in home.rglob("*")) == []


def test_ctrl_c_in_a_terminal_stops_make_run_quietly(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = tmp_path / "run"
    terminal = make_run(tmp_path, port)
    try:
        # ARGS reached the launcher: it serves on the port given there.
        terminal.wait_for(re.escape(f"The portal is running at {url}/"), timeout=180)
        login_page = requests.get(f"{url}/accounts/login/", timeout=10)
        assert login_page.status_code == 200
        assert 'name="username"' in login_page.text and 'name="password"' in login_page.text

        # A request filed and approved, whose AddIncident is still in the simulated KSC when Ctrl-C comes.
        text = terminal.text()
        passwords, keys = demo_credentials(text)
        ksc = re.search(r"KSC: SIMULATED at (https://127\.0\.0\.1:\d+)", text).group(1)
        cert = str(next((state / "ksc-simulator").glob("*.pem")))
        host_id = requests.get(f"{ksc}/_simulator/hosts", verify=cert, timeout=10).json()[0]["KLHST_WKS_HOSTNAME"]
        slow = requests.post(f"{ksc}/_simulator/faults", json={"add_delay_ms": ADD_INCIDENT_MS}, verify=cert, timeout=10)
        assert slow.status_code == 200, slow.text
        alice = login(url, "alice", passwords["alice"])
        preview = post(
            alice,
            f"{url}/requests/new/",
            {
                "task": "isolateHost",
                "target_host": host_id,
                "params-action": "1",
                "justification": "Ctrl-C test",
                "step": "preview",
            },
        )
        sealed = re.search(r'name="sealed" value="([^"]+)"', preview.text).group(1)
        filed = post(alice, f"{url}/requests/new/", {"step": "file", "sealed": sealed})
        key = re.search(r"/requests/([0-9a-f-]{36})/$", filed.url).group(1)
        bob = login(url, "bob", passwords["bob"], keys["bob"])
        assert post(bob, f"{url}/requests/{key}/approve/", {"comment": "approved"}).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stats = requests.get(f"{ksc}/_simulator/stats", verify=cert, timeout=10).json()
            if stats.get("in_progress", {}).get("HostGroup.AddIncident"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the worker never called AddIncident: {stats}")

        # The launcher, Redis, the simulator, the mail sink, the two workers, gunicorn and its 2 workers.
        assert len(descendants(terminal.process.pid)) >= 9
        took, leftover, after = press_ctrl_c_and_wait(terminal)
    finally:
        terminal.close()

    assert_quiet(terminal, took, leftover, after, tmp_path / "home")
    # Every child the launcher started is named as stopped.
    stopped = re.search(r"^stopped: (.*)$", after, re.MULTILINE)
    assert stopped is not None, after[-4000:]
    names = re.findall(r"([\w-]+) \(pid \d+\)", stopped.group(1))
    assert names == ["redis", "ksc-simulator", "mail-sink", "worker", "notify-worker", "web"], stopped.group(0)
    # The job the worker held was finished, not cut off: the simulator and Redis stopped after it.
    with sqlite3.connect(state / "portal.sqlite3") as db:
        row = db.execute(
            "SELECT status, ksc_incident_id FROM responses_responserequest WHERE uuid = ?", (key.replace("-", ""),)
        ).fetchone()
    assert row is not None and row[0] == "submitted" and row[1] is not None, row


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


def commands(pids: set[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return found
