"""The portal under load: 50 simulated users for 60 s against gunicorn with the README's production settings.

    .venv/bin/python benchmarks/load.py [--users 50] [--seconds 60] [--web-workers 4] [--rq-workers 2] [--json]

Starts the KSC simulator (HTTPS on loopback), `gunicorn portal.wsgi:application --workers 4`
(README, "Production"; DEBUG off, static files collected, without the TLS proxy) and
`manage.py rqworker ksc` processes, then runs the users as threads, each with its own
HTTP session:

- analysts (web): log in, file an isolation through the form (preview, then file), look at
  "My requests";
- SIEM tokens (API): file isolations with POST /api/v1/requests/;
- approvers (API, with their tokens): approve what the analysts and SIEMs filed, one
  request each, no two approvers on the same request;
- auditors (web): log in, page through "All requests", search by host, export CSV and
  the audit trail's JSON lines.

Prints requests/s, p50/p99 per endpoint, errors (any answer other than the one the step
expects, or no answer; a run with any error exits with status 1), the most PostgreSQL connections seen at once, and each
process's resident memory after the run. Uses a fresh database beside DATABASE_URL's
(``<name>_load_bench``, made again each run; PostgreSQL for fair numbers) and REDIS_URL's server, database BENCH_REDIS_DB (default 14),
which it flushes. The blast-radius limits are off. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.submit_latency import resident_mb  # noqa: E402

PASSWORD = "load-" + secrets.token_urlsafe(12)
MIX = {"analyst": 0.3, "siem": 0.2, "approver": 0.2, "auditor": 0.3}


class Recorder:
    """Latencies per endpoint and errors, from every user thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def call(self, name: str, session, method: str, url: str, expect: tuple[int, ...] = (200,), **kwargs):
        begin = time.perf_counter()
        try:
            response = session.request(method, url, timeout=60, allow_redirects=False, **kwargs)
        except Exception as exc:  # no answer at all counts as an error too
            with self.lock:
                self.errors[name].append(exc.__class__.__name__)
            return None
        elapsed = time.perf_counter() - begin
        if method == "GET" and response.headers.get("Content-Type", "").startswith(
            ("text/csv", "application/x-ndjson")
        ):
            response.content  # noqa: B018 -- a streamed export counts until its last byte
            elapsed = time.perf_counter() - begin
        with self.lock:
            self.samples[name].append(elapsed)
            if response.status_code not in expect:
                self.errors[name].append(f"HTTP {response.status_code}")
        return response if response.status_code in expect else None


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return found.group(1) if found else ""


def web_session(base: str, username: str, recorder: Recorder):
    import requests

    session = requests.Session()
    page = recorder.call("GET /accounts/login/", session, "GET", base + "/accounts/login/")
    if page is None:
        return None
    answer = recorder.call(
        "POST /accounts/login/",
        session,
        "POST",
        base + "/accounts/login/",
        expect=(302,),
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf_of(page.text)},
        headers={"Referer": base + "/accounts/login/"},
    )
    return session if answer is not None else None


def analyst(base, username, hosts, filed, recorder, stop) -> None:
    session = web_session(base, username, recorder)
    if session is None:
        return
    while not stop.is_set():
        form = recorder.call("GET /requests/new/?task=", session, "GET", base + "/requests/new/?task=deleteFile")
        if form is None:
            continue
        host = random.choice(hosts)
        preview = recorder.call(
            "POST /requests/new/ (preview)",
            session,
            "POST",
            base + "/requests/new/",
            data={
                "csrfmiddlewaretoken": csrf_of(form.text),
                "task": "deleteFile",
                "target_host": host,
                "params-path": "C:\\Users\\Public\\dropper.exe",
                "justification": f"load test {secrets.token_hex(4)}",
            },
            headers={"Referer": base + "/requests/new/"},
        )
        sealed = re.search(r'name="sealed" value="([^"]+)"', preview.text) if preview is not None else None
        if sealed is None:
            continue
        fields = {"csrfmiddlewaretoken": csrf_of(preview.text), "step": "file", "sealed": sealed.group(1)}
        if 'name="confirm_duplicate"' in preview.text:
            # The host has the same isolation open already (53 hosts, many filers): the analyst
            # ticks "File it anyway", as the preview asks.
            fields["confirm_duplicate"] = "1"
        done = recorder.call(
            "POST /requests/new/ (file)",
            session,
            "POST",
            base + "/requests/new/",
            expect=(302, 409),
            data=fields,
            headers={"Referer": base + "/requests/new/"},
        )
        if done is not None and done.status_code == 409:
            # Someone filed the same between the preview and the click: the analyst confirms.
            done = recorder.call(
                "POST /requests/new/ (file anyway)",
                session,
                "POST",
                base + "/requests/new/",
                expect=(302,),
                data={**fields, "csrfmiddlewaretoken": csrf_of(done.text), "confirm_duplicate": "1"},
                headers={"Referer": base + "/requests/new/"},
            )
        if done is not None:
            filed.put(done.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
        recorder.call("GET /requests/mine/", session, "GET", base + "/requests/mine/")


def siem(base, token, hosts, filed, recorder, stop) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    while not stop.is_set():
        answer = recorder.call(
            "POST /api/v1/requests/",
            session,
            "POST",
            base + "/api/v1/requests/",
            expect=(201,),
            json={
                "task": "deleteFile",
                "target_host": random.choice(hosts),
                "params": {"path": "C:\\Users\\Public\\dropper.exe"},
                "justification": "SIEM rule 4711 fired",
                "external_ref": f"SIEM-{secrets.token_hex(6)}",
            },
        )
        if answer is not None:
            filed.put(answer.json()["id"])
        time.sleep(0.2)  # a SIEM files in bursts of alerts, not in a tight loop


def approver(base, token, filed, recorder, stop) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    while not stop.is_set():
        try:
            key = filed.get(timeout=0.5)
        except queue.Empty:
            continue
        recorder.call(
            "POST /api/v1/requests/{id}/approve/",
            session,
            "POST",
            f"{base}/api/v1/requests/{key}/approve/",
            json={"comment": "confirmed with the SOC lead"},
        )


def auditor(base, username, host_names, recorder, stop) -> None:
    session = web_session(base, username, recorder)
    if session is None:
        return
    while not stop.is_set():
        recorder.call("GET /requests/", session, "GET", base + "/requests/")
        recorder.call("GET /requests/?page=2", session, "GET", base + "/requests/?page=2")
        recorder.call(
            "GET /requests/?host=", session, "GET", base + "/requests/", params={"host": random.choice(host_names)}
        )
        recorder.call("GET /approvals/", session, "GET", base + "/approvals/")
        if random.random() < 0.1:
            since = time.strftime("%Y-%m-%d")
            recorder.call(
                "GET /requests/export.csv (today)",
                session,
                "GET",
                base + "/requests/export.csv",
                params={"created_from": since},
            )
            recorder.call(
                "GET /audit/export.jsonl (last 500)",
                session,
                "GET",
                base + "/audit/export.jsonl",
                params={"after_seq": last_seq()},
            )


def last_seq() -> int:
    from responses.models import RequestEvent

    newest = RequestEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    return max(newest - 500, 0)


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def database_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def wait_for(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def run(users: int, seconds: int, web_workers: int, rq_workers: int) -> dict:
    from benchmarks.submit_latency import configure_environment

    started = configure_environment("load_bench")
    static = tempfile.mkdtemp(prefix="edr-load-static-")
    os.environ.update(
        STATIC_ROOT=static,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
    )
    import django

    django.setup()
    import django_rq
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from accounts import roles
    from accounts.tokens import issue_token
    from ksc_simulator.inventory import default_hosts
    from ksc_simulator.server import KscSimulator
    from portal import local_redis
    from responses import jobs
    from responses.states import TokenScope

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    django_rq.get_queue(jobs.QUEUE).connection.flushdb()
    ksc_password = secrets.token_urlsafe(16)
    simulator = KscSimulator(user="load", password=ksc_password, port=0).start()
    os.environ.update(
        KSC_HOST=simulator.host,
        KSC_PORT=str(simulator.port),
        KSC_CERT=str(simulator.cert_path),
        KSC_USER="load",
        KSC_PASSWORD=ksc_password,
        KSC_CLIENT="builtin",
    )
    counts = {role: max(1, round(users * share)) for role, share in MIX.items()}
    groups = {
        "analyst": roles.ANALYSTS,
        "siem": roles.ANALYSTS,
        "approver": roles.APPROVERS,
        "auditor": roles.AUDITORS,
    }
    accounts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for role, count in counts.items():
        group = Group.objects.get_or_create(name=groups[role])[0]
        for index in range(count):
            user, _ = User.objects.get_or_create(username=f"load-{role}-{index}")
            user.set_password(PASSWORD)
            user.save()
            user.groups.add(group)
            # Approvers decide through the API: only a token issued for decisions may (policy.DECISIONS).
            scope = TokenScope.DECISIONS if role == "approver" else TokenScope.FILE
            token = issue_token(user, name="load test", scope=scope)[1] if role in ("siem", "approver") else ""
            accounts[role].append((user.username, token))
    inventory = default_hosts()
    hosts = [host.id for host in inventory]
    host_names = [host.display_name[:6] for host in inventory if host.display_name]

    port = local_redis.free_port()
    base = f"http://127.0.0.1:{port}"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(web_workers),
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", jobs.QUEUE],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(rq_workers)
    ]
    recorder = Recorder()
    filed: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    peak_connections = 0
    try:
        wait_for(base + "/accounts/login/")
        threads = []
        for username, _token in accounts["analyst"]:
            threads.append(threading.Thread(target=analyst, args=(base, username, hosts, filed, recorder, stop)))
        for _username, token in accounts["siem"]:
            threads.append(threading.Thread(target=siem, args=(base, token, hosts, filed, recorder, stop)))
        for _username, token in accounts["approver"]:
            threads.append(threading.Thread(target=approver, args=(base, token, filed, recorder, stop)))
        for username, _token in accounts["auditor"]:
            threads.append(threading.Thread(target=auditor, args=(base, username, host_names, recorder, stop)))
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        while time.perf_counter() - begin < seconds:
            time.sleep(1)
            peak_connections = max(peak_connections, database_connections())
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.perf_counter() - begin
        master = processes[0]
        memory = {
            "web_master_mb": resident_mb(master.pid),
            "web_worker_mb": max((resident_mb(pid) for pid in children_of(master.pid)), default=0.0),
            "rq_worker_mb": max((resident_mb(worker.pid) for worker in workers), default=0.0),
        }
    finally:
        stop.set()
        for process in processes + workers:
            process.terminate()
        for process in processes + workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        simulator.stop()
        for process in started:
            process.terminate()
    total = sum(len(samples) for samples in recorder.samples.values())
    endpoints = {}
    for name, samples in sorted(recorder.samples.items()):
        ordered = sorted(samples)
        cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
        endpoints[name] = {
            "count": len(samples),
            "p50_ms": cuts[49] * 1000,
            "p99_ms": cuts[98] * 1000,
            "errors": len(recorder.errors.get(name, [])),
        }
    errors = {name: sorted(set(kinds)) for name, kinds in recorder.errors.items() if kinds}
    return {
        "users": sum(counts.values()),
        "mix": counts,
        "seconds": elapsed,
        "requests_per_s": total / elapsed,
        "errors": sum(len(kinds) for kinds in recorder.errors.values()),
        "error_kinds": errors,
        "endpoints": endpoints,
        "peak_db_connections": peak_connections,
        **memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn --workers (README: 4)")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the results as JSON (for make bench)")
    args = parser.parse_args()
    result = run(args.users, args.seconds, args.web_workers, args.rq_workers)
    if args.json:
        print(json.dumps(result))
    else:
        report(result)
    if result["errors"]:
        # A run with errors measured something else than the portal at work: it must not pass for one.
        print(f"load run FAILED: {result['errors']} errors {result['error_kinds']}", file=sys.stderr)
        sys.exit(1)


def report(result: dict) -> None:
    mix = ", ".join(f"{count} {role}s" for role, count in result["mix"].items())
    print(f"{result['users']} users ({mix}) for {result['seconds']:.0f} s: {result['requests_per_s']:.1f} requests/s")
    print(f"{'endpoint':<42} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, row in result["endpoints"].items():
        print(f"{name:<42} {row['count']:>6} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['errors']:>6}")
    print(f"errors: {result['errors']} {result['error_kinds'] or ''}")
    print(f"PostgreSQL connections at most: {result['peak_db_connections']}")
    print(
        f"memory: gunicorn master {result['web_master_mb']:.0f} MB, largest gunicorn worker "
        f"{result['web_worker_mb']:.0f} MB, largest rqworker {result['rq_worker_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
