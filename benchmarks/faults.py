"""The fault-injection run: real workers, the KSC simulator and a private Redis, broken on purpose.

    .venv/bin/python benchmarks/faults.py [--requests 200] [--only NAME ...]      (or `make faults`)

Starts a private redis-server on loopback, the KSC simulator (`manage.py
ksc_simulator`, over HTTPS) and real `manage.py rqworker ksc` processes, then,
scenario by scenario, files and approves requests and breaks things: workers
SIGKILLed at random, the worker holding the schedule killed, Redis killed or
flushed, KSC slow or killed. Each scenario waits for every request to settle and
prints one row: requests, incidents KSC holds for them, duplicates (incidents no
request owns), lost (requests that ended without their incident), stuck (still in
flight at the deadline), and the time to settle after the last fault, beside the
recovery target the settings promise (docs/reliability.md).

Short settings make a run take minutes: WORKER_HEARTBEAT_TTL=3, RECONCILE_INTERVAL=5,
RECONCILE_GRACE=3 (override them in the environment). Works in a fresh database made
beside DATABASE_URL's (`<name>_faults`, dropped at the end; a temporary SQLite file
when DATABASE_URL is not set).
The fast scenarios also run in `make test` (tests/test_faults.py) with smaller counts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The settings of a fault run, for this process and every worker (the environment wins).
RUN_SETTINGS = {
    "WORKER_HEARTBEAT_TTL": "3",
    "RECONCILE_INTERVAL": "5",
    "RECONCILE_GRACE": "3",
    "KSC_SUBMIT_TRIES": "6",
    "KSC_SUBMIT_BACKOFF": "2",
    "KSC_CONNECT_TIMEOUT": "2",
    "KSC_READ_TIMEOUT": "3",
    "REQUEST_RATE_LIMIT": "0",
    "KSC_SUBMIT_HOURLY_CAP": "0",
    "LOG_LEVEL": "WARNING",
}

SLOW_KSC = "slow KSC (AddIncident completes after the client's read timeout)"
LATE_ADD = "AddIncident completed by KSC 12 s after a 2 s read timeout"
SESSIONS_REFUSED = "KSC ends every session every 0.3 s"
UPDATE_HTML = "UpdateIncident answered with HTML"
CERT_CHANGE = "KSC's certificate changed for 20 s"
CLOCK_BACK = "retries scheduled by a clock 1 h ahead (a step back)"
SIMULATOR_RESTART = "simulator killed and restarted"
SECONDARY_KILLED = "worker SIGKILLed in an AddIncident on a secondary (gateway)"
# The secondary of that scenario: KLSRVH_SRV_ID and name, below the primary (ksc_simulator/hierarchy.py).
SECONDARY_ID, SECONDARY_NAME = 11, "emea"


@dataclass
class Row:
    scenario: str
    requests: int = 0
    incidents: int = 0
    duplicates: int = 0
    lost: int = 0
    stuck: int = 0
    settle: float | None = None  # seconds from the last fault to the last request settled
    note: str = ""
    not_run: str = ""
    recovery: float | None = None  # the scenario's own recovery time, compared with its target in note
    landed: int = 0  # faults that landed where the scenario meant them (kills during a held call)

    @property
    def ok(self) -> bool:
        return bool(self.not_run) or (self.duplicates == 0 and self.lost == 0 and self.stuck == 0)


class NotSupported(Exception):
    """The running simulator lacks a fault this scenario needs."""


def _setting(name: str) -> int:
    return int(os.environ.get(name, RUN_SETTINGS[name]))


class Stand:
    """The processes of a fault run: a private redis-server, the simulator, workers.

    ``env`` is the environment of every process (database, Redis and the run's
    settings); the KSC_* variables are added once the simulator runs.
    """

    def __init__(self, env: dict[str, str], redis_port: int, workdir: Path):
        from ksc_simulator.server import certificate_names, generate_certificate

        self.env = dict(env)
        self.redis_port = redis_port
        self.workdir = workdir
        self.redis: subprocess.Popen | None = None
        self.simulator: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.topology: list[str] = []  # the simulator's --secondary/--vserver options (none: one server)
        self.queues = ["ksc"]  # what the workers listen on (the SMTP scenario adds notify)
        self.user, self.password = "fault-run", secrets.token_urlsafe(16)
        self.cert, self.key = generate_certificate(workdir, certificate_names("127.0.0.1"))
        from portal.local_redis import free_port

        self.ksc_port = free_port()
        self.env.update(
            KSC_HOST="127.0.0.1",
            KSC_PORT=str(self.ksc_port),
            KSC_CERT=str(self.cert),
            KSC_USER=self.user,
            KSC_PASSWORD=self.password,
            KSC_CLIENT="builtin",
            KSC_SIMULATED="true",
        )
        import requests

        self.http = requests.Session()
        self.http.trust_env = False
        self.http.verify = str(self.cert)

    # --- Redis -------------------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def start_redis(self) -> None:
        from portal import local_redis

        self.redis, _url = local_redis.start(self.redis_port)

    def kill_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait(timeout=10)

    def refuse_writes(self, how: str) -> None:
        """Make the running Redis refuse every write, as production ones do.

        "misconf": an RDB save fails (its directory is gone, as on a full disk) while
        stop-writes-on-bgsave-error is on: every write answers MISCONF. "readonly": Redis becomes
        the replica of a master that does not answer, as after a Sentinel failover: READONLY.
        """
        import redis

        from portal.local_redis import free_port

        connection = redis.Redis.from_url(self.redis_url)
        if how == "misconf":
            gone = Path(tempfile.mkdtemp(prefix="redis-dir-", dir=self.workdir))
            connection.config_set("save", "3600 1")
            connection.config_set("stop-writes-on-bgsave-error", "yes")
            connection.config_set("dir", str(gone))
            gone.rmdir()
            connection.bgsave()
            wait_until(lambda: connection.info("persistence")["rdb_last_bgsave_status"] == "err", 10)
        elif how == "readonly":
            connection.replicaof("127.0.0.1", free_port())
        else:
            raise ValueError(how)
        connection.close()

    def accept_writes(self, how: str) -> None:
        """Heal what refuse_writes did: a save that succeeds, or the replica promoted again."""
        import redis

        connection = redis.Redis.from_url(self.redis_url)
        if how == "misconf":
            connection.config_set("dir", str(self.workdir))
            connection.bgsave()
            wait_until(lambda: connection.info("persistence")["rdb_last_bgsave_status"] == "ok", 10)
            connection.config_set("save", "")
        else:
            connection.replicaof("NO", "ONE")
        connection.close()

    # --- the simulator ----------------------------------------------------------------------

    def start_simulator(self, state: Path | None = None) -> None:
        """Start `manage.py ksc_simulator` on the run's port; NotSupported when it refuses --state.

        It always keeps its incidents in the run's state file, as a real KSC keeps them across
        restarts: a simulator that came back empty would hand out incident ids the portal already
        holds for earlier requests, which no real KSC does.
        """
        state = state or self.workdir / "simulator-state.json"
        command = [
            sys.executable, "manage.py", "ksc_simulator", "--bind", "127.0.0.1", "--port", str(self.ksc_port),
            # --password=: a generated password may start with "-"
            "--user", self.user, f"--password={self.password}", "--cert", str(self.cert), "--key", str(self.key),
        ]  # fmt: skip
        if state is not None:
            command += ["--state", str(state)]
        command += self.topology
        log = open(self.workdir / "simulator.log", "a")  # noqa: SIM115 - the child keeps it
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                if state is not None and process.returncode == 2:
                    raise NotSupported("simulator lacks --state")
                raise RuntimeError(f"the simulator exited with {process.returncode}; see {log.name}")
            try:
                self.http.get(f"https://127.0.0.1:{self.ksc_port}/_simulator/stats", timeout=1).raise_for_status()
                self.simulator = process
                return
            except Exception:
                time.sleep(0.2)
        process.kill()
        raise RuntimeError("the simulator did not start within 30 s")

    def kill_simulator(self) -> None:
        if self.simulator is not None and self.simulator.poll() is None:
            _kill_group(self.simulator)

    def simulator_call(self, verb: str, name: str, payload=None, server: str = ""):
        """A /_simulator/ endpoint; ``server`` ("secondary:11", "vserver:NAME"): about that server, not the primary."""
        response = self.http.request(
            verb,
            f"https://127.0.0.1:{self.ksc_port}/_simulator/{name}",
            json=payload,
            params={"server": server} if server else None,
            timeout=10,
        )
        if response.status_code == 400 and "unknown fault" in response.text:
            raise NotSupported("simulator lacks " + ", ".join(payload or {}))
        response.raise_for_status()
        return response.json()

    def set_faults(self, faults: dict) -> None:
        self.simulator_call("POST", "faults", faults)

    def incidents(self, server: str = "") -> list[dict]:
        return self.simulator_call("GET", "incidents", server=server)

    def servers(self) -> list[str]:
        """The simulator's servers ("primary", "secondary:11", ...)."""
        return list(self.simulator_call("GET", "topology")["servers"])

    def with_secondary(self) -> str:
        """The simulator serving the secondary SECONDARY_ID (restarted with it when it lacks it, keeping its
        incidents), and a KSC_SERVERS_FILE naming the primary and that secondary; returns the file's path."""
        import json

        if f"secondary:{SECONDARY_ID}" not in self.servers():
            self.topology = ["--secondary", f"{SECONDARY_ID}:{SECONDARY_NAME}"]
            self.kill_simulator()
            self.start_simulator()
        password = self.workdir / "ksc.password"
        password.write_text(self.password, encoding="utf-8")
        password.chmod(0o600)
        common = {
            "url": f"https://127.0.0.1:{self.ksc_port}",
            "user": self.user,
            "password_file": str(password),
            "ca_file": str(self.cert),
        }
        path = self.workdir / "ksc-servers.json"
        path.write_text(
            json.dumps([{"name": "primary", **common}, {"name": SECONDARY_NAME, "route": [SECONDARY_ID], **common}]),
            encoding="utf-8",
        )
        return str(path)

    # --- workers -----------------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen:
        log = open(self.workdir / "workers.log", "a")  # noqa: SIM115 - the child keeps it
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *self.queues],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        return worker

    def living_workers(self) -> list[subprocess.Popen]:
        return [worker for worker in self.workers if worker.poll() is None]

    def kill_worker(self, worker: subprocess.Popen) -> None:
        _kill_group(worker)

    def worker_by_pid(self, pid: int | None) -> subprocess.Popen | None:
        return next((worker for worker in self.living_workers() if worker.pid == pid), None)

    def stop_workers(self) -> None:
        for worker in self.living_workers():
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _kill_group(worker)
        self.workers = []

    def stop(self) -> None:
        for worker in self.living_workers():
            _kill_group(worker)
        self.kill_simulator()
        self.kill_redis()
        self.http.close()


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


# --- What the portal's database says ----------------------------------------------------------


def in_flight(keys) -> int:
    from responses.models import IN_FLIGHT, ResponseRequest

    return ResponseRequest.objects.filter(uuid__in=keys, status__in=IN_FLIGHT).count()


def wait_settled(keys, since: float, timeout: float) -> float | None:
    """Seconds from since until no request of keys is in flight; None past the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if in_flight(keys) == 0:
            return time.monotonic() - since
        time.sleep(0.2)
    return None


def tally(row: Row, stand: Stand, keys, known_incidents: set, server: str = "") -> Row:
    """Fill in incidents, duplicates, lost and stuck for the requests keys (on the simulator's ``server``)."""
    from responses.models import IN_FLIGHT, ResponseRequest, Status

    incidents = {
        incident["id"]
        for incident in stand.incidents(server)
        if incident["id"] not in known_incidents and not incident.get("deleted")
    }
    requests = list(ResponseRequest.objects.filter(uuid__in=keys).values_list("status", "ksc_incident_id"))
    owned = [incident for status, incident in requests if status == Status.SUBMITTED and incident is not None]
    row.requests = len(requests)
    row.incidents = len(incidents)
    row.duplicates = len(incidents - set(owned))
    row.stuck = sum(1 for status, _ in requests if status in IN_FLIGHT)
    settled = [(status, incident) for status, incident in requests if status not in IN_FLIGHT]
    row.lost = sum(1 for status, incident in settled if status != Status.SUBMITTED or incident not in incidents)
    row.lost += len(owned) - len(set(owned))  # two requests sharing one incident: one of them has none
    return row


def known_incident_ids(stand: Stand, server: str = "") -> set:
    return {incident["id"] for incident in stand.incidents(server)}


def started(key) -> bool:
    from responses.models import ResponseRequest, Status

    return ResponseRequest.objects.filter(uuid=key, status=Status.SUBMITTING).exists()


def job_worker_pid(stand: Stand, key) -> int | None:
    """The pid of the worker running the request's job, from RQ's own records."""
    import django_rq

    connection = django_rq.get_queue("ksc").connection
    name = connection.hget(f"rq:job:{key}", "worker_name")
    pid = connection.hget(f"rq:worker:{name.decode()}", "pid") if name else None
    return int(pid) if pid else None


def schedule_holder_pid() -> int | None:
    """The pid of the process whose keeper holds the `ksc` schedule (portal-keeper:host:pid:tag)."""
    import django_rq
    from rq.scheduler import RQScheduler

    holder = django_rq.get_queue("ksc").connection.get(RQScheduler.get_locking_key("ksc"))
    if not holder:
        return None
    parts = holder.decode().split(":")
    return int(parts[2]) if len(parts) == 4 and parts[0] == "portal-keeper" else None


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# --- The scenarios ----------------------------------------------------------------------------

Approver = Callable[[int], object]  # files and approves request number i; returns its uuid (the job id)


def settle_timeout() -> float:
    """A correctness bound, not a speed goal: far beyond any target below."""
    return 20 * (2 * _setting("WORKER_HEARTBEAT_TTL") + _setting("RECONCILE_INTERVAL")) + 60


def begin(stand: Stand, title: str, workers: int = 2) -> tuple[Row, set]:
    """A scenario's opening: its row, the incidents KSC held before it, and `workers` running workers."""
    known = known_incident_ids(stand)
    while len(stand.living_workers()) < workers:
        stand.start_worker()
    # Faults start once the workers listen: one that cannot reach Redis at birth exits (systemd restarts it).
    wait_until(lambda: {worker.pid for worker in stand.living_workers()} <= registered_worker_pids(), 120)
    return Row(title), known


def registered_worker_pids() -> set[int]:
    """Pids of the workers registered in Redis."""
    import django_rq
    from rq.worker import Worker

    connection = django_rq.get_queue("ksc").connection
    pids = (connection.hget(key, "pid") for key in Worker.all_keys(connection=connection))
    return {int(pid) for pid in pids if pid}


def sigkill_burst(stand: Stand, approve: Approver, requests: int = 200, workers: int = 2) -> Row:
    """Workers SIGKILLed at random every 1-4 s while they drain the requests; each comes back 1 s later."""
    stand.stop_workers()
    row, known = begin(stand, "worker SIGKILL burst", workers=0)
    stand.set_faults({"delay_ms": 80})  # each KSC call takes a while, so kills land mid-job
    keys = [approve(index) for index in range(requests)]  # all waiting before the workers start
    for _ in range(workers):
        stand.start_worker()
    kills, last_fault = 0, time.monotonic()
    while in_flight(keys) and kills < 25:
        time.sleep(random.uniform(1, 4))
        victims = stand.living_workers()
        if not victims or not in_flight(keys):
            break
        stand.kill_worker(random.choice(victims))
        kills, last_fault = kills + 1, time.monotonic()
        time.sleep(1)  # systemd's RestartSec
        stand.start_worker()
    row.settle = wait_settled(keys, last_fault, settle_timeout())
    stand.set_faults({})
    row.note = f"{kills} kills, {workers} workers"
    return tally(row, stand, keys, known)


def sigkill_recovery(stand: Stand, approve: Approver, rounds: int = 5) -> Row:
    """The worker running a request is SIGKILLed at a random moment; the other worker must take it up."""
    from responses.models import ResponseRequest

    ttl, interval = _setting("WORKER_HEARTBEAT_TTL"), _setting("RECONCILE_INTERVAL")
    row, known = begin(stand, "SIGKILL recovery time")
    keys, worst = [], None
    for index in range(rounds):
        stand.set_faults({"delay_ms": 1500})  # AddIncident and UpdateIncident each take 1.5 s
        key = approve(index)
        keys.append(key)
        wait_until(lambda key=key: started(key), 30)
        time.sleep(random.uniform(0, 2.5))  # claimed, in AddIncident, or in UpdateIncident
        victim = stand.worker_by_pid(job_worker_pid(stand, key))
        if victim is None:  # it finished first: nothing to kill this round
            wait_settled([key], time.monotonic(), settle_timeout())
            continue
        stand.kill_worker(victim)
        killed = time.monotonic()
        stand.set_faults({})
        attempts = ResponseRequest.objects.get(uuid=key).attempts
        wait_until(
            lambda key=key, attempts=attempts: (
                ResponseRequest.objects.get(uuid=key).attempts > attempts or not in_flight([key])
            ),
            settle_timeout(),
        )
        worst = max(worst or 0.0, time.monotonic() - killed)
        row.settle = wait_settled([key], killed, settle_timeout())
        stand.start_worker()
    target = 2 * ttl + interval
    row.note = (
        f"running again ≤ {worst:.1f} s after the kill (target 2×TTL+INTERVAL = {target} s)"
        if worst is not None
        else "every job finished before its kill came"
    )
    row.recovery = worst
    return tally(row, stand, keys, known)


def scheduler_killed(stand: Stand, approve: Approver, requests: int = 5) -> Row:
    """Retries wait out their backoff; the worker whose keeper holds the schedule is killed meanwhile."""
    from responses.models import AttemptOutcome, SubmissionAttempt

    backoff, interval = _setting("KSC_SUBMIT_BACKOFF"), _setting("RECONCILE_INTERVAL")
    row, known = begin(stand, "worker killed holding the scheduler")
    wait_until(lambda: stand.worker_by_pid(schedule_holder_pid()) is not None, 30)
    stand.set_faults({"fail_next": requests, "status": 503, "methods": ["HostGroup.AddIncident"]})
    keys = [approve(index) for index in range(requests)]
    wait_until(
        lambda: (
            SubmissionAttempt.objects.filter(request__uuid__in=keys, outcome=AttemptOutcome.RETRYING).count()
            >= requests
        ),
        60,
    )
    holder = stand.worker_by_pid(schedule_holder_pid())
    if holder is not None:
        stand.kill_worker(holder)
    killed = time.monotonic()
    row.settle = wait_settled(keys, killed, settle_timeout())
    late = None
    for key in keys:
        attempts = list(SubmissionAttempt.objects.filter(request__uuid=key).order_by("number"))
        if len(attempts) >= 2 and attempts[0].finished_at:
            due = attempts[0].finished_at + dt.timedelta(seconds=backoff)
            late = max(late or 0.0, (attempts[1].started_at - due).total_seconds())
    row.note = (
        f"{'holder killed' if holder else 'no holder found'}; retries ran ≤ {late or 0.0:.1f} s after their "
        f"backoff (target ≤ RECONCILE_INTERVAL = {interval} s)"
    )
    row.recovery = late if holder else None
    while len(stand.living_workers()) < 2:
        stand.start_worker()
    return tally(row, stand, keys, known)


def redis_killed(stand: Stand, approve: Approver, requests: int = 90, outage: float = 4.0) -> Row:
    """Redis is SIGKILLed a third of the way through the approvals and comes back empty `outage` s later."""
    from responses.models import ResponseRequest

    interval = _setting("RECONCILE_INTERVAL")
    row, known = begin(stand, "Redis killed during approvals")
    stand.set_faults({"delay_ms": 20})
    keys, during = [], []
    third = requests // 3
    for index in range(third):
        keys.append(approve(index))
    stand.kill_redis()
    down = time.monotonic()
    for index in range(third, 2 * third):
        key = approve(index)
        keys.append(key)
        during.append(key)
        time.sleep(max(0.0, outage / third - 0.01))
    time.sleep(max(0.0, down + outage - time.monotonic()))
    stand.start_redis()
    back = time.monotonic()
    back_at = dt.datetime.now(dt.UTC)
    for index in range(2 * third, requests):
        keys.append(approve(index))
    row.settle = wait_settled(keys, back, settle_timeout())
    stand.set_faults({})
    submitted = ResponseRequest.objects.filter(uuid__in=during, submitted_at__isnull=False).values_list(
        "submitted_at", flat=True
    )
    worst = max(((at - back_at).total_seconds() for at in submitted), default=0.0)
    row.note = (
        f"{len(during)} approved while Redis was down, submitted ≤ {worst:.1f} s after it came back "
        f"(target RECONCILE_INTERVAL+10 = {interval + 10} s); workers alive: {len(stand.living_workers())}/2"
    )
    row.recovery = worst
    return tally(row, stand, keys, known)


REDIS_REFUSALS = {
    "misconf": "Redis refuses writes (MISCONF, disk full)",
    "readonly": "Redis refuses writes (READONLY, failover)",
}


def redis_refuses_writes(stand: Stand, approve: Approver, requests: int = 30, how: str = "misconf",
                         outage: float = 6.0) -> Row:  # fmt: skip
    """Redis refuses every write for `outage` s a third of the way through; no worker may exit over it."""
    row, known = begin(stand, REDIS_REFUSALS[how])
    stand.set_faults({"delay_ms": 100})
    workers = {worker.pid for worker in stand.living_workers()}
    third = requests // 3
    keys = [approve(index) for index in range(third)]
    wait_until(lambda: any(started(key) for key in keys), 30)
    stand.refuse_writes(how)
    keys += [approve(index) for index in range(third, 2 * third)]  # these cannot be queued: the keeper will
    time.sleep(outage)
    stand.accept_writes(how)
    back = time.monotonic()
    keys += [approve(index) for index in range(2 * third, requests)]
    row.settle = wait_settled(keys, back, settle_timeout())
    stand.set_faults({})
    survivors = workers & {worker.pid for worker in stand.living_workers()}
    row.note = f"writes refused {outage:.0f} s; workers that survived: {len(survivors)}/{len(workers)}"
    row.recovery = row.settle
    return tally(row, stand, keys, known)


SMTP_DOWN = "SMTP down longer than the quick tries (e-mails)"
# The notification settings of the SMTP scenario: two quick tries a second apart, a sweep every 5 s.
SMTP_SETTINGS = {
    "NOTIFY_TRIES": "2",
    "NOTIFY_BACKOFF": "1",
    "NOTIFY_SWEEP_INTERVAL": "5",
    "NOTIFY_BURST_WINDOW": "10",
    "NOTIFY_BURST_LIMIT": "1000",
    "NOTIFY_GIVE_UP_AFTER": "3600",
    "PORTAL_BASE_URL": "https://edr.example.test",
    "EMAIL_HOST": "127.0.0.1",
}


class Inbox:
    """An SMTP server (aiosmtpd) on loopback, started when the scenario says the mail server is back."""

    def __init__(self, port: int):
        self.port = port
        self.received: list[str] = []  # one key per mail received
        self.first_at: float | None = None  # time.monotonic() of the first mail
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email

                mail = email.message_from_bytes(envelope.content)
                # A message sent twice gets a new Message-ID: it is known by recipient, subject and link.
                text = envelope.content.decode("utf-8", "replace")
                links = sorted(line.strip() for line in text.splitlines() if "/requests/" in line)
                inbox.received.append(f"{mail['To']}|{mail['Subject']}|{links}")
                inbox.first_at = inbox.first_at or time.monotonic()
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


def smtp_down(stand: Stand, approve: Approver, requests: int = 6, outage: float = 20.0) -> Row:
    """The mail server is down for `outage` s, far longer than the quick tries (2, a second apart):
    every message must arrive once it is back, once each. Counts messages, not requests: requests
    = e-mails written, incidents = delivered, duplicates = mails received twice, lost = given up."""
    from django.test.utils import override_settings

    from notifications.models import Channel, DeliveryStatus, Notification
    from portal.local_redis import free_port

    stand.stop_workers()
    port = free_port()
    extra = {**SMTP_SETTINGS, "EMAIL_PORT": str(port)}
    saved_env, saved_queues = dict(stand.env), stand.queues
    stand.env.update(extra)
    stand.queues = ["ksc", "notify"]
    inbox = Inbox(port)
    row = Row(SMTP_DOWN)
    try:
        with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, PORTAL_BASE_URL=extra["PORTAL_BASE_URL"]):
            begin(stand, SMTP_DOWN)
            keys = [approve(index) for index in range(requests)]
            time.sleep(outage)
            inbox.start()
            back = time.monotonic()
            mails = Notification.objects.filter(request__uuid__in=keys, channel=Channel.EMAIL)

            def settled() -> bool:
                return not mails.exclude(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]).exists()

            tries_before_back = max(mails.values_list("attempts", flat=True), default=0)
            row.settle = time.monotonic() - back if wait_until(settled, settle_timeout()) else None
            statuses = list(mails.values_list("status", flat=True))
            row.requests = len(statuses)
            row.incidents = statuses.count(DeliveryStatus.DELIVERED)
            row.lost = statuses.count(DeliveryStatus.FAILED)
            row.stuck = len(statuses) - row.incidents - row.lost
            row.duplicates = len(inbox.received) - len(set(inbox.received))
            row.note = (
                f"{row.requests} e-mails, SMTP down {outage:.0f} s (quick tries: 2 over 1 s; up to "
                f"{tries_before_back} tries each before it came back), all delivered ≤ "
                f"{row.settle if row.settle is not None else float('nan'):.1f} s after"
            )
            row.recovery = row.settle
            stand.stop_workers()
    finally:
        inbox.stop()
        stand.env, stand.queues = saved_env, saved_queues
    return row


OVERLOAD = "overload (all approved at once, e-mails on)"


def overload(stand: Stand, approve: Approver, requests: int = 300) -> Row:
    """Every request approved before the workers start, with e-mail on: the e-mails must not wait
    for the whole backlog of submissions (the workers take `ksc` and `notify` in turn), and Redis
    keeps only short-lived records of the finished jobs."""
    import django_rq
    from django.test.utils import override_settings

    from portal.local_redis import free_port

    stand.stop_workers()
    port = free_port()
    extra = {**SMTP_SETTINGS, "EMAIL_PORT": str(port)}
    saved_env, saved_queues = dict(stand.env), stand.queues
    stand.env.update(extra)
    stand.queues = ["ksc", "notify"]
    inbox = Inbox(port)
    inbox.start()
    redis = django_rq.get_queue("ksc").connection
    try:
        with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=port, PORTAL_BASE_URL=extra["PORTAL_BASE_URL"]):
            row, known = begin(stand, OVERLOAD, workers=0)
            stand.set_faults({"delay_ms": 20})
            before = redis.info("memory")["used_memory"]
            keys = [approve(index) for index in range(requests)]
            for _ in range(2):
                stand.start_worker()
            began = time.monotonic()
            wait_until(lambda: inbox.first_at is not None, settle_timeout())
            waiting = in_flight(keys)  # submissions still waiting when the first e-mail arrived
            row.settle = wait_settled(keys, began, settle_timeout())
            stand.set_faults({})
            after = redis.info("memory")["used_memory"]
            first = f"{inbox.first_at - began:.1f} s" if inbox.first_at else "never"
            row.note = (
                f"first e-mail {first} after the workers started, with {waiting}/{requests} submissions still "
                f"waiting; Redis {before / 2**20:.1f} -> {after / 2**20:.1f} MB"
            )
            row.recovery = inbox.first_at - began if inbox.first_at else None
            tally(row, stand, keys, known)
            stand.stop_workers()
    finally:
        inbox.stop()
        stand.env, stand.queues = saved_env, saved_queues
    return row


def redis_flushed(stand: Stand, approve: Approver, requests: int = 60) -> Row:
    """Redis is flushed (FLUSHDB) halfway through: queued jobs, leases and the schedule all vanish."""
    import django_rq

    row, known = begin(stand, "Redis flushed")
    stand.set_faults({"delay_ms": 30})
    keys = [approve(index) for index in range(requests // 2)]
    django_rq.get_queue("ksc").connection.flushdb()
    flushed = time.monotonic()
    keys += [approve(index) for index in range(requests // 2, requests)]
    row.settle = wait_settled(keys, flushed, settle_timeout())
    stand.set_faults({})
    return tally(row, stand, keys, known)


def slow_ksc(stand: Stand, approve: Approver, requests: int = 10) -> Row:
    """KSC stores each incident after the client gave up waiting (read timeout)."""
    row, known = begin(stand, SLOW_KSC)
    stand.set_faults({"add_delay_ms": (_setting("KSC_READ_TIMEOUT") + 1) * 1000})
    keys = [approve(index) for index in range(requests)]
    wait_until(lambda: in_flight(keys) == 0 or len(known_incident_ids(stand) - known) >= requests, 120)
    stand.set_faults({})
    cleared = time.monotonic()
    row.settle = wait_settled(keys, cleared, settle_timeout())
    return tally(row, stand, keys, known)


@contextlib.contextmanager
def worker_settings(stand: Stand, **settings: str):
    """Workers started afresh with these settings for the scenario; the run's own ones afterwards."""
    saved = dict(stand.env)
    stand.stop_workers()
    stand.env.update(settings)
    try:
        yield
    finally:
        stand.stop_workers()
        stand.env.clear()
        stand.env.update(saved)


def late_add(stand: Stand, approve: Approver, requests: int = 3, late: float = 12.0) -> Row:
    """KSC carries out each request's first AddIncident `late` s after it came, long after the 2 s read timeout.

    The retry (after the 4 s settle) finds nothing and adds; the first call is stored
    later still. The late duplicate checks (settle, 2x, 4x, ... after the success)
    must find the late copy and delete it: one live incident per request.
    """
    with worker_settings(stand, KSC_READ_TIMEOUT="2", KSC_ADD_SETTLE="4"):
        row, known = begin(stand, LATE_ADD)
        stand.set_faults({"late_adds": requests, "late_add_ms": int(late * 1000)})
        started_at = time.monotonic()
        keys = [approve(index) for index in range(requests)]

        def one_each() -> bool:
            adding = stand.simulator_call("GET", "stats")["in_progress"].get("HostGroup.AddIncident")
            made = [i for i in stand.incidents() if i["id"] not in known]
            live = [i for i in made if not i.get("deleted")]
            return not adding and in_flight(keys) == 0 and len(made) > requests and len(live) == requests

        row.settle = time.monotonic() - started_at if wait_until(one_each, 120) else None
        stand.set_faults({})
        from responses.models import EventKind, RequestEvent

        removed = RequestEvent.objects.filter(request__uuid__in=keys, kind=EventKind.DUPLICATE_REMOVED).count()
        row.note = f"late copies removed: {removed} of {requests}; time to settle from the approvals (target 60 s)"
        return tally(row, stand, keys, known)


def sessions_refused(
    stand: Stand, approve: Approver, requests: int = 40, duration: float = 15.0, refusals: int = 4
) -> Row:
    """KSC logs every session out every 0.3 s while requests are submitted: none may be FAILED.

    The first `refusals` UpdateIncident calls are refused outright (401) as well, so that some
    call is surely refused again right after its fresh login, whatever the timing.
    """
    import threading

    row, known = begin(stand, SESSIONS_REFUSED)
    stand.set_faults({"fail_next": refusals, "status": 401, "methods": ["HostGroup.UpdateIncident"]})
    stop = threading.Event()

    def expire() -> None:
        while not stop.wait(0.3):
            with contextlib.suppress(Exception):
                stand.simulator_call("POST", "expire-sessions")

    expirer = threading.Thread(target=expire, daemon=True)
    expirer.start()
    try:
        keys = [approve(index) for index in range(requests)]
        time.sleep(duration)
    finally:
        stop.set()
        expirer.join(timeout=5)
    stand.set_faults({})
    cleared = time.monotonic()
    row.settle = wait_settled(keys, cleared, settle_timeout())
    row.note = _failed_note(keys)
    return tally(row, stand, keys, known)


def update_html(stand: Stand, approve: Approver, requests: int = 10, calls: int = 40) -> Row:
    """UpdateIncident is answered with an HTML page `calls` times: each request keeps its one incident, updated later."""
    row, known = begin(stand, UPDATE_HTML)

    def updates() -> int:
        return stand.simulator_call("GET", "stats")["calls"].get("HostGroup.UpdateIncident", 0)

    before = updates()
    stand.set_faults({"malformed_next": calls, "methods": ["HostGroup.UpdateIncident"]})
    keys = [approve(index) for index in range(requests)]
    wait_until(lambda: updates() - before >= calls, 120)  # every malformed answer given
    stand.set_faults({})
    cleared = time.monotonic()
    row.settle = wait_settled(keys, cleared, settle_timeout())
    not_updated = sum(1 for i in stand.incidents() if i["id"] not in known and not i["updates"] and not i["deleted"])
    row.note = _failed_note(keys) + f"; incidents never updated: {not_updated}"
    return tally(row, stand, keys, known)


def cert_change(stand: Stand, approve: Approver, requests: int = 20, window: float = 20.0) -> Row:
    """KSC presents a certificate the portal does not trust for `window` s: requests are held, then go on."""
    from ksc_simulator.certificates import certificate_names, generate_certificate

    row, known = begin(stand, CERT_CHANGE)
    other = stand.workdir / "other-certificate"
    other.mkdir(exist_ok=True)
    trusted = (stand.cert, stand.key)
    stand.cert, stand.key = generate_certificate(other, certificate_names("127.0.0.1"))
    stand.http.verify = str(stand.cert)
    stand.kill_simulator()
    stand.start_simulator()
    try:
        keys = [approve(index) for index in range(requests)]
        time.sleep(window)
    finally:
        stand.cert, stand.key = trusted
        stand.http.verify = str(stand.cert)
        stand.kill_simulator()
        stand.start_simulator()
    back = time.monotonic()
    row.settle = wait_settled(keys, back, settle_timeout())
    row.note = _failed_note(keys) + f"; target: within RECONCILE_INTERVAL ({_setting('RECONCILE_INTERVAL')} s) + a try"
    return tally(row, stand, keys, known)


def clock_back(stand: Stand, approve: Approver, requests: int = 10) -> Row:
    """Every first AddIncident answers 503; their retries wait in RQ's schedule, scored an hour late as by a
    clock stepped back. The database's times (next_try_at) must run them after their back-off all the same."""
    import django_rq

    from responses.models import EventKind, RequestEvent

    row, known = begin(stand, CLOCK_BACK)
    stand.set_faults({"fail_next": requests, "status": 503, "methods": ["HostGroup.AddIncident"]})
    connection = django_rq.get_queue("ksc").connection
    registry = django_rq.get_queue("ksc").scheduled_job_registry.key
    keys = [approve(index) for index in range(requests)]
    stepped = set()
    deadline = time.monotonic() + 60
    while len(stepped) < requests and time.monotonic() < deadline:
        for job_id, score in connection.zrange(registry, 0, -1, withscores=True):
            name = job_id.decode()
            if name in {str(key) for key in keys} and name not in stepped:
                connection.zadd(registry, {name: score + 3600}, xx=True)
                stepped.add(name)
        time.sleep(0.05)
    stand.set_faults({})
    stepped_at = time.monotonic()
    row.settle = wait_settled(keys, stepped_at, settle_timeout())
    retried = RequestEvent.objects.filter(request__uuid__in=keys, kind=EventKind.RETRY_SCHEDULED).count()
    # A 503 may have reached KSC: its retry also waits KSC_ADD_SETTLE (2 x KSC_READ_TIMEOUT by default).
    settle = float(os.environ.get("KSC_ADD_SETTLE", 2 * _setting("KSC_READ_TIMEOUT")))
    row.note = (
        f"{len(stepped)} retries moved an hour ahead in RQ's schedule ({retried} retries in the trails); "
        f"target: their wait (back-off {_setting('KSC_SUBMIT_BACKOFF')} s, settle {settle:g} s) + 1 s, not an hour"
    )
    return tally(row, stand, keys, known)


def _failed_note(keys) -> str:
    from responses.models import ResponseRequest, Status

    failed = ResponseRequest.objects.filter(uuid__in=keys, status=Status.FAILED)
    return f"FAILED: {failed.count()}, of them with an incident in KSC: {failed.exclude(ksc_incident_id=None).count()}"


def simulator_restart(stand: Stand, approve: Approver, requests: int = 60, downtime: float = 3.0) -> Row:
    """KSC (the simulator, keeping its incidents in a state file) is SIGKILLed mid-run and restarted."""
    state = stand.workdir / "simulator-state.json"  # the file every start of the stand's simulator keeps
    row, known = begin(stand, SIMULATOR_RESTART)
    stand.set_faults({"delay_ms": 30})
    keys = [approve(index) for index in range(requests)]
    wait_until(lambda: in_flight(keys) <= requests // 2, 60)
    stand.kill_simulator()
    time.sleep(downtime)
    stand.start_simulator(state=state)
    back = time.monotonic()
    row.settle = wait_settled(keys, back, settle_timeout())
    return tally(row, stand, keys, known)


@contextlib.contextmanager
def several_servers(stand: Stand, servers_file: str):
    """Workers (and this process) on KSC_SERVERS_FILE instead of KSC_*; the one server again afterwards."""
    from django.conf import settings

    from portal.ksc_servers import read_servers
    from responses import ksc_servers

    saved_env = dict(stand.env)
    saved = {name: getattr(settings, name) for name in ("KSC_SERVERS", "KSC_HOST")}
    stand.stop_workers()
    for name in ("KSC_HOST", "KSC_PORT", "KSC_USER", "KSC_PASSWORD", "KSC_CERT"):
        stand.env.pop(name, None)  # the file lists every server; KSC_HOST beside it is refused
    stand.env["KSC_SERVERS_FILE"] = servers_file
    settings.KSC_SERVERS, settings.KSC_HOST = read_servers(servers_file), None
    ksc_servers.reset_clients()
    try:
        yield
    finally:
        stand.stop_workers()
        stand.env.clear()
        stand.env.update(saved_env)
        for name, value in saved.items():
            setattr(settings, name, value)
        ksc_servers.reset_clients()


def secondary_approver(stand: Stand) -> Approver:
    """Files and approves isolations of the secondary's hosts, as two users who work on that server only."""
    from django.contrib.auth.models import Group, User

    from accounts import roles, tenants

    secondary = f"secondary:{SECONDARY_ID}"
    hosts = [host["KLHST_WKS_HOSTNAME"] for host in stand.simulator_call("GET", "hosts", server=secondary)]
    made = []
    for name, role in (("analyst", roles.ANALYSTS), ("approver", roles.APPROVERS)):
        user, _ = User.objects.get_or_create(username=f"fault-run-{SECONDARY_NAME}-{name}")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        tenants.set_scope(user, every_server=False, servers=[SECONDARY_NAME])
        made.append(user)
    file_and_approve = approver_for(*made, hosts, label="fault run on a secondary", server=SECONDARY_NAME)
    return lambda index: file_and_approve(index).uuid


def secondary_sigkill(stand: Stand, approve: Approver, rounds: int = 2) -> Row:
    """A worker SIGKILLed while KSC holds its AddIncident on a secondary reached through the primary's gateway.

    The simulator counts the call on the secondary the moment it arrives, then holds it 2 s before it
    stores the incident (``add_delay_ms``): the kill lands after KSC received the call. The restarted
    worker's keeper queues the request again; it must find that incident on the secondary, not add a
    second one, and nothing may reach another server. ``approve`` is not used: the requests are the
    secondary's, filed by users scoped to it.
    """
    servers_file = stand.with_secondary()
    secondary = f"secondary:{SECONDARY_ID}"
    with several_servers(stand, servers_file):
        file_and_approve = secondary_approver(stand)
        others = {server: known_incident_ids(stand, server) for server in stand.servers() if server != secondary}
        row, _known = begin(stand, SECONDARY_KILLED, workers=1)
        known = known_incident_ids(stand, secondary)
        keys, kills, last_fault = [], 0, time.monotonic()

        def adds() -> int:
            return stand.simulator_call("GET", "stats", server=secondary)["calls"].get("HostGroup.AddIncident", 0)

        for index in range(rounds):
            stand.set_faults({"add_delay_ms": 2000})  # faults are the primary's and hold every server's calls
            before = adds()
            key = file_and_approve(index)
            keys.append(key)
            received = wait_until(lambda before=before: adds() > before, 60)
            victim = stand.worker_by_pid(job_worker_pid(stand, key))
            if received and victim is not None:
                stand.kill_worker(victim)
                kills, last_fault = kills + 1, time.monotonic()
            stand.set_faults({})
            time.sleep(1)  # systemd's RestartSec
            if not stand.living_workers():
                stand.start_worker()
            wait_settled([key], last_fault, settle_timeout())
        row.settle = wait_settled(keys, last_fault, settle_timeout())
        tally(row, stand, keys, known, server=secondary)
        strays = sum(len(known_incident_ids(stand, server) - ids) for server, ids in others.items())
        row.duplicates += strays  # an incident on another server is one no request owns
        row.landed = kills
        row.note = f"{kills} kills during a held AddIncident; incidents on other servers: {strays}"
        return row


SCENARIOS: dict[str, Callable[..., Row]] = {
    "burst": sigkill_burst,
    "recovery": sigkill_recovery,
    "scheduler": scheduler_killed,
    "redis-killed": redis_killed,
    "redis-flushed": redis_flushed,
    "redis-misconf": lambda stand, approve, **sizes: redis_refuses_writes(stand, approve, how="misconf", **sizes),
    "redis-readonly": lambda stand, approve, **sizes: redis_refuses_writes(stand, approve, how="readonly", **sizes),
    "smtp-down": smtp_down,
    "overload": overload,
    "slow-ksc": slow_ksc,
    "late-add": late_add,
    "sessions-refused": sessions_refused,
    "update-html": update_html,
    "cert-change": cert_change,
    "clock-back": clock_back,
    "simulator-restart": simulator_restart,
    "secondary-sigkill": secondary_sigkill,
}


def run_scenario(name: str, stand: Stand, approve: Approver, **sizes) -> Row:
    """One scenario; a row that says "not run" when the simulator lacks what it needs."""
    function = SCENARIOS[name]
    try:
        return function(stand, approve, **sizes)
    except NotSupported as missing:
        title = {
            "slow-ksc": SLOW_KSC,
            "late-add": LATE_ADD,
            "sessions-refused": SESSIONS_REFUSED,
            "update-html": UPDATE_HTML,
            "cert-change": CERT_CHANGE,
            "clock-back": CLOCK_BACK,
            "simulator-restart": SIMULATOR_RESTART,
            "secondary-sigkill": SECONDARY_KILLED,
        }.get(name, name)
        if stand.simulator is None or stand.simulator.poll() is not None:
            stand.start_simulator()
        with contextlib.suppress(Exception):
            stand.set_faults({})
        return Row(title, not_run=f"not run: {missing}")


def table(rows: list[Row]) -> str:
    head = ("scenario", "requests", "incidents", "duplicates", "lost", "stuck", "time to settle")
    lines = [head]
    for row in rows:
        if row.not_run:
            lines.append((row.scenario, row.not_run, "", "", "", "", ""))
            continue
        settle = f"{row.settle:.1f} s" if row.settle is not None else "never"
        lines.append(
            (row.scenario, str(row.requests), str(row.incidents), str(row.duplicates), str(row.lost),
             str(row.stuck), settle)
        )  # fmt: skip
    widths = [max(len(line[i]) for line in lines if not (line[1].startswith("not run") and i == 1)) for i in range(7)]
    out = []
    for line in lines:
        if line[1].startswith("not run"):
            out.append(f"{line[0]:<{widths[0]}}  {line[1]}")
        else:
            out.append("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in
                                 enumerate(zip(line, widths, strict=True))))  # fmt: skip
    notes = [f"- {row.scenario}: {row.note}" for row in rows if row.note and not row.not_run]
    return "\n".join(out + ([""] + notes if notes else []))


# --- The command line ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests in the SIGKILL burst (default 200)")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="run only these scenarios")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be 1 or more")

    from portal.local_redis import free_port

    workdir = Path(tempfile.mkdtemp(prefix="edr-faults-"))
    for name, value in RUN_SETTINGS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("SECRET_KEY", "fault-run-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "fault-run-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'faults.sqlite3'}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    redis_port = free_port()
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"

    stand = Stand(dict(os.environ), redis_port, workdir)
    stand.start_redis()
    import django

    django.setup()
    from django.db import connection

    # A database of its own, made afresh: the simulator numbers incidents from 1 at each start,
    # and a real KSC never reuses an id that requests from an earlier run already hold.
    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test_settings["NAME"] = str(workdir / "faults.sqlite3")
    else:
        test_settings["NAME"] = f"{connection.settings_dict['NAME']}_faults"
    original_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    stand.env["DATABASE_URL"] = database_url(connection.settings_dict)
    approve = demo_approver()
    # This process's own approvals while Redis is killed fail to queue by design; one line each is noise.
    logging.getLogger("responses.jobs").setLevel(logging.ERROR)
    rows = []
    try:
        stand.start_simulator()
        for name in args.only or list(SCENARIOS):
            sizes = {"requests": args.requests} if name == "burst" else {}
            print(f"running: {name} ...", file=sys.stderr, flush=True)
            rows.append(run_scenario(name, stand, approve, **sizes))
            stand.stop_workers()
    finally:
        stand.stop()
        connection.creation.destroy_test_db(original_name, verbosity=0)
    print(
        f"fault run: {connection.vendor}, private redis-server, simulator on 127.0.0.1; "
        + ", ".join(f"{name}={os.environ[name]}" for name in ("WORKER_HEARTBEAT_TTL", "RECONCILE_INTERVAL",
                                                             "RECONCILE_GRACE", "KSC_SUBMIT_BACKOFF"))
    )  # fmt: skip
    print(table(rows))
    print(f"logs: {workdir}")
    return 0 if all(row.ok for row in rows) else 1


def database_url(settings_dict: dict) -> str:
    """DATABASE_URL for worker processes that must share this process's database."""
    from urllib.parse import quote

    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD")
    credentials = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host, port = settings_dict.get("HOST") or "127.0.0.1", settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def demo_approver() -> Approver:
    """Files and approves isolateHost requests as two users made for the run."""
    from django.contrib.auth.models import Group, User

    from accounts import roles
    from ksc_simulator.inventory import default_hosts

    analysts, approvers = (Group.objects.get_or_create(name=name)[0] for name in (roles.ANALYSTS, roles.APPROVERS))
    # With addresses: the SMTP scenario mails them (the approver is asked, the analyst told).
    analyst, _ = User.objects.get_or_create(username="fault-run-analyst", defaults={"email": "analyst@example.test"})
    approver, _ = User.objects.get_or_create(username="fault-run-approver", defaults={"email": "approver@example.test"})
    analyst.groups.add(analysts)
    approver.groups.add(approvers)
    file_and_approve = approver_for(analyst, approver, [host.id for host in default_hosts()])
    return lambda index: file_and_approve(index).uuid


def approver_for(
    analyst, approver, hosts: list[str], label: str = "fault run", task: str = "isolateHost", server: str | None = None
):
    """A function that files request number i (isolateHost, hosts in turn) and approves it; returns it.

    ``task="deleteFile"`` files file deletions instead: a run of more requests than hosts cannot file
    isolations, since a host takes one isolation change at a time (responses/isolation.py)."""
    from responses import filing, workflow

    def file_and_approve(index: int):
        request = filing.file_request(
            user=analyst,
            task=task,
            target_host=hosts[index % len(hosts)],
            params={"action": index % 2} if task == "isolateHost" else {"path": f"C:\\Temp\\bench-{index}.bin"},
            justification=f"{label} #{index}",
            server=server,
        ).request
        return workflow.approve(request, user=approver)

    return file_and_approve


if __name__ == "__main__":
    sys.exit(main())
