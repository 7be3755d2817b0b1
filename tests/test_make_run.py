"""`make run`'s launcher, end to end, as a person would use it.

`make run ARGS="--port P --state-dir D"` is typed in a pseudo-terminal (tests/support/launcher.py),
on free ports with its own state directory: it starts Redis, the KSC simulator, a mail sink, a
worker and gunicorn. Over plain HTTP the test logs in as alice and files an isolateHost request,
logs in as bob and approves it (with the code of the authenticator key it printed), watches the
incident id appear and the mails arrive; then, while the worker holds a second approved request's
slow AddIncident, types Ctrl-C (issue 17, point 10): the terminal shows no traceback, warning or
error, every process is gone, the job was finished. A second launch on the same state directory
keeps the simulator's incidents and is stopped by a SIGINT to the launcher alone.

One launch serves the flow and the Ctrl-C (each launch migrates a new SQLite database, the longest
step); Ctrl-C while it still starts is tests/test_make_run_ctrl_c.py.
"""

from __future__ import annotations

import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from portal.local_redis import free_port
from tests.support.launcher import (
    ROOT,
    alive,
    assert_quiet,
    demo_credentials,
    descendants,
    fresh_machine_env,
    login,
    make_run,
    post,
    press_ctrl_c_and_wait,
    totp,
)

pytestmark = pytest.mark.launcher

# The simulated KSC's AddIncident takes this long, so that Ctrl-C finds the worker busy with it.
ADD_INCIDENT_MS = 3000


class Portal:
    def __init__(self, tmp_path: Path):
        self.state = tmp_path / "run"
        # A home folder of its own that must stay empty: `make run` keeps everything in its state dir.
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)  # a second `make run` on the same state dir reuses it
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A fresh machine: the launcher brings its own Redis and SQLite.
        self.env = env = fresh_machine_env(self.home)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "portal.launcher", "--port", str(self.port), "--state-dir", str(self.state)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for_line(self, pattern: str, timeout: float = 180) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.output)[-4000:]}")

    def text(self) -> str:
        return "".join(self.output)


def file_and_approve(url: str, alice, bob, host_id: str, justification: str) -> str:
    """alice files an isolateHost request for ``host_id`` through the form, bob approves it; its key."""
    page = alice.get(f"{url}/requests/new/?task=isolateHost", timeout=10).text
    assert "SIMULATED KSC: nothing reaches real endpoints" in page
    preview = post(
        alice,
        f"{url}/requests/new/",
        {
            "task": "isolateHost",
            "target_host": host_id,
            "params-action": "1",
            "justification": justification,
            "step": "preview",
        },
    )
    assert preview.status_code == 200, preview.text[-2000:]
    sealed = re.search(r'name="sealed" value="([^"]+)"', preview.text).group(1)
    filed = post(alice, f"{url}/requests/new/", {"step": "file", "sealed": sealed})
    key = re.search(r"/requests/([0-9a-f-]{36})/$", filed.url).group(1)
    assert "Pending approval" in filed.text
    approved = post(bob, f"{url}/requests/{key}/approve/", {"comment": f"approved: {justification}"})
    assert approved.status_code == 200
    return key


def test_make_run_serves_the_whole_flow_and_ctrl_c_stops_it_quietly(tmp_path):
    # One `make run` typed in a terminal (each launch migrates a new database: the longest step), for
    # the whole flow, then Ctrl-C while the worker holds a job; then a second launch on the same .run.
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

        text = terminal.text()
        passwords, keys = demo_credentials(text)
        # The demo users, and those of the two demo tenants (acme: ann, arno; globex: gina, gus).
        assert set(passwords) == {"alice", "bob", "carol", "dave", "admin", "ann", "arno", "gina", "gus"}
        assert {"bob", "carol", "admin"} <= set(keys) <= set(passwords)
        ksc = re.search(r"KSC: SIMULATED at (https://127\.0\.0\.1:\d+)", text).group(1)
        cert = str(next((state / "ksc-simulator").glob("*.pem")))

        # Hosts from the simulated KSC's inventory: one per isolation (one change per host at a time).
        hosts = requests.get(f"{ksc}/_simulator/hosts", verify=cert, timeout=10).json()
        first_host, second_host = hosts[0]["KLHST_WKS_HOSTNAME"], hosts[1]["KLHST_WKS_HOSTNAME"]

        # The demo says how to get an approver's code without an app, and that command gives it.
        assert "The demo approvers' codes: instead of an authenticator app, run `make demo-totp WHO=bob`" in text
        before = totp(keys["bob"])
        shown = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "--demo-totp", "bob", "--state-dir", str(state)],
            cwd=ROOT, env=fresh_machine_env(tmp_path / "home"), capture_output=True, text=True, timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() in (before, totp(keys["bob"]))

        alice = login(url, "alice", passwords["alice"])
        bob = login(url, "bob", passwords["bob"], keys["bob"])
        key = file_and_approve(url, alice, bob, first_host, "make run smoke test")

        deadline = time.monotonic() + 60
        incident = None
        while time.monotonic() < deadline and incident is None:
            page = alice.get(f"{url}/requests/{key}/", timeout=10).text
            incident = re.search(r'<dd id="ksc-incident"><strong>(\d+)</strong>', page)
            time.sleep(0.5)
        assert incident is not None, page[-3000:]
        incidents = requests.get(f"{ksc}/_simulator/incidents", verify=cert, timeout=10).json()
        assert [item["id"] for item in incidents] == [int(incident.group(1))]

        # The demo's mails (the approvers were asked, alice heard of the approval) are in the sink's
        # mailbox, which only a superuser reads.
        assert "Mail: a local sink on 127.0.0.1:" in terminal.text()
        assert alice.get(f"{url}/notifications/mailbox/", timeout=10).status_code == 404
        admin = login(url, "admin", passwords["admin"], keys["admin"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            mailbox = admin.get(f"{url}/notifications/mailbox/", timeout=10).text
            if mailbox.count("[EDR] Approval needed") == 2 and "[EDR] Approved" in mailbox:
                break
            time.sleep(0.5)
        assert "To: bob@demo.invalid" in mailbox and "To: carol@demo.invalid" in mailbox, mailbox[-3000:]
        assert "To: alice@demo.invalid" in mailbox and f"/requests/{key}/" in mailbox

        # Ctrl-C while a job is in the worker's hands: a second request approved, whose AddIncident the
        # simulated KSC makes last a few seconds, is still there when Ctrl-C comes.
        slow = requests.post(f"{ksc}/_simulator/faults", json={"add_delay_ms": ADD_INCIDENT_MS}, verify=cert, timeout=10)
        assert slow.status_code == 200, slow.text
        held = file_and_approve(url, alice, bob, second_host, "Ctrl-C test")
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
    whole = terminal.text()
    assert "Traceback" not in whole and "ConnectionError" not in whole, whole[-4000:]
    # Every child the launcher started is named as stopped, and none is left.
    stopped = re.search(r"^stopped: (.*)$", after, re.MULTILINE)
    assert stopped is not None, after[-4000:]
    names = re.findall(r"([\w-]+) \(pid \d+\)", stopped.group(1))
    assert names == ["redis", "ksc-simulator", "mail-sink", "worker", "notify-worker", "web"], stopped.group(0)
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", stopped.group(1))]
    assert [pid for pid in pids if alive(pid)] == []
    # The job the worker held was finished, not cut off: the simulator and Redis stopped after it.
    with sqlite3.connect(state / "portal.sqlite3") as db:
        row = db.execute(
            "SELECT status, ksc_incident_id FROM responses_responserequest WHERE uuid = ?", (held.replace("-", ""),)
        ).fetchone()
    assert row is not None and row[0] == "submitted" and row[1] is not None, row

    # A second `make run` on the same .run keeps the simulator's incidents and tasks (issue 30,
    # point 6): the portal's database names incident ids the simulator must not give out again.
    # This one is stopped by a SIGINT to the launcher alone (a Ctrl-C typed in a terminal: above).
    again = Portal(tmp_path)
    try:
        again.wait_for_line(r"The portal is running at")
        ksc = re.search(r"KSC: SIMULATED at (https://127\.0\.0\.1:\d+)", again.text()).group(1)
        cert = next((state / "ksc-simulator").glob("*.pem"))
        kept = requests.get(f"{ksc}/_simulator/incidents", verify=str(cert), timeout=10).json()
        assert [item["id"] for item in kept] == [int(incident.group(1)), row[1]]
    finally:
        again.process.send_signal(signal.SIGINT)
        again.process.wait(timeout=60)

    text = again.text()
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", text.split("stopped:")[-1])]
    assert len(pids) == 6, text[-2000:]  # redis, simulator, mail sink, worker, notify worker, web
    time.sleep(1)
    assert [pid for pid in pids if alive(pid)] == []
    assert again.process.returncode == 0
    # SIGINT stops quietly: no tracebacks from a worker that lost Redis while stopping.
    assert "Traceback" not in text and "ConnectionError" not in text, text[-4000:]
    assert sorted(p.name for p in again.home.rglob("*")) == []


def test_make_passes_args_to_the_launcher():
    # `make run ARGS="--port 8001"`: make -n prints the command it would run, without running it
    # (tests/test_make_run_ctrl_c.py runs it and fetches a page on the port given).
    shown = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", 'ARGS=--port 8001'], cwd=ROOT, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "-m portal.launcher --port 8001" in shown.stdout


def test_demo_totp_without_a_running_demo_says_so(tmp_path):
    shown = subprocess.run(
        [sys.executable, "-m", "portal.launcher", "--demo-totp", "bob", "--state-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert shown.returncode == 1
    assert "No demo is running" in shown.stderr
