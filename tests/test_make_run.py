"""`make run`'s launcher, end to end, as a person would use it.

The launcher runs as a subprocess on free ports with its own state directory:
it starts Redis, the KSC simulator, a mail sink, a worker and gunicorn. Over plain HTTP the
test logs in as alice and files an isolateHost request, logs in as bob and
approves it (with the code of the authenticator key it printed), watches the incident id appear, then sends SIGTERM and checks
that no process the launcher started is left.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from portal.local_redis import free_port
from tests.support.launcher import ROOT, alive, demo_credentials, fresh_machine_env, login, post, totp

pytestmark = pytest.mark.launcher


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


def test_make_run_serves_the_whole_flow_and_stops_cleanly(tmp_path):
    portal = Portal(tmp_path)
    try:
        portal.wait_for_line(r"The portal is running at")
        text = portal.text()
        passwords, keys = demo_credentials(text)
        # The demo users, and those of the two demo tenants (acme: ann, arno; globex: gina, gus).
        assert set(passwords) == {"alice", "bob", "carol", "dave", "admin", "ann", "arno", "gina", "gus"}
        assert {"bob", "carol", "admin"} <= set(keys) <= set(passwords)
        ksc = re.search(r"KSC: SIMULATED at (https://127\.0\.0\.1:\d+)", text).group(1)
        cert = next((tmp_path / "run" / "ksc-simulator").glob("*.pem"))

        # A host from the simulated KSC's inventory.
        hosts = requests.get(f"{ksc}/_simulator/hosts", verify=str(cert), timeout=10).json()
        host_id = hosts[0]["KLHST_WKS_HOSTNAME"]

        alice = login(portal.url, "alice", passwords["alice"])
        page = alice.get(f"{portal.url}/requests/new/?task=isolateHost", timeout=10).text
        assert "SIMULATED KSC: nothing reaches real endpoints" in page
        preview = post(
            alice,
            f"{portal.url}/requests/new/",
            {
                "task": "isolateHost",
                "target_host": host_id,
                "params-action": "1",
                "justification": "make run smoke test",
                "step": "preview",
            },
        )
        assert preview.status_code == 200, preview.text[-2000:]
        sealed = re.search(r'name="sealed" value="([^"]+)"', preview.text).group(1)
        filed = post(alice, f"{portal.url}/requests/new/", {"step": "file", "sealed": sealed})
        key = re.search(r"/requests/([0-9a-f-]{36})/$", filed.url).group(1)
        assert "Pending approval" in filed.text

        # The demo says how to get an approver's code without an app, and that command gives it.
        assert "The demo approvers' codes: instead of an authenticator app, run `make demo-totp WHO=bob`" in text
        before = totp(keys["bob"])
        shown = subprocess.run(
            [sys.executable, "-m", "portal.launcher", "--demo-totp", "bob", "--state-dir", str(portal.state)],
            cwd=ROOT, env=portal.env, capture_output=True, text=True, timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() in (before, totp(keys["bob"]))

        bob = login(portal.url, "bob", passwords["bob"], keys["bob"])
        approved = post(bob, f"{portal.url}/requests/{key}/approve/", {"comment": "approved in the smoke test"})
        assert approved.status_code == 200

        deadline = time.monotonic() + 60
        incident = None
        while time.monotonic() < deadline and incident is None:
            page = alice.get(f"{portal.url}/requests/{key}/", timeout=10).text
            incident = re.search(r'<dd id="ksc-incident"><strong>(\d+)</strong>', page)
            time.sleep(0.5)
        assert incident is not None, page[-3000:]
        incidents = requests.get(f"{ksc}/_simulator/incidents", verify=str(cert), timeout=10).json()
        assert [item["id"] for item in incidents] == [int(incident.group(1))]

        # The demo's mails (the approvers were asked, alice heard of the approval) are in the sink's
        # mailbox, which only a superuser reads.
        assert "Mail: a local sink on 127.0.0.1:" in portal.text()
        assert alice.get(f"{portal.url}/notifications/mailbox/", timeout=10).status_code == 404
        admin = login(portal.url, "admin", passwords["admin"], keys["admin"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            mailbox = admin.get(f"{portal.url}/notifications/mailbox/", timeout=10).text
            if mailbox.count("[EDR] Approval needed") == 2 and "[EDR] Approved" in mailbox:
                break
            time.sleep(0.5)
        assert "To: bob@demo.invalid" in mailbox and "To: carol@demo.invalid" in mailbox, mailbox[-3000:]
        assert "To: alice@demo.invalid" in mailbox and f"/requests/{key}/" in mailbox
    finally:
        # SIGINT to the launcher alone; a Ctrl-C typed in a terminal: tests/test_make_run_ctrl_c.py.
        portal.process.send_signal(signal.SIGINT)
        portal.process.wait(timeout=60)

    text = portal.text()
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", text.split("stopped:")[-1])]
    assert len(pids) == 6, text[-2000:]  # redis, simulator, mail sink, worker, notify worker, web
    time.sleep(1)
    assert [pid for pid in pids if alive(pid)] == []
    assert portal.process.returncode == 0
    # Ctrl-C stops quietly: no tracebacks from a worker that lost Redis while stopping.
    assert "Traceback" not in text and "ConnectionError" not in text, text[-4000:]
    assert sorted(p.name for p in portal.home.rglob("*")) == []

    # A second `make run` on the same .run keeps the simulator's incidents and tasks (issue 30,
    # point 6): the portal's database names incident ids the simulator must not give out again.
    again = Portal(tmp_path)
    try:
        again.wait_for_line(r"The portal is running at")
        ksc = re.search(r"KSC: SIMULATED at (https://127\.0\.0\.1:\d+)", again.text()).group(1)
        cert = next((tmp_path / "run" / "ksc-simulator").glob("*.pem"))
        kept = requests.get(f"{ksc}/_simulator/incidents", verify=str(cert), timeout=10).json()
        assert [item["id"] for item in kept] == [int(incident.group(1))]
    finally:
        again.process.send_signal(signal.SIGINT)
        again.process.wait(timeout=60)


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
