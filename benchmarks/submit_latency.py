"""How fast approved requests reach KSC: latency and drain time, against the simulator on loopback.

    .venv/bin/python benchmarks/submit_latency.py [--latency N] [--drain N]

Prints, with one real `manage.py rqworker ksc` process (the portal's PortalWorker):
- p50/p95/p99 from approval (the approving transaction committed) to the incident id
  recorded on the request, over N requests approved one after the other; and the same
  for a no-op RQ job (enqueue to finished) as the floor that RQ and Redis cost;
- the time to drain N approved isolateHost requests with 1 and with 2 workers, beside
  a plain loop making the same AddIncident + UpdateIncident calls directly.

Uses DATABASE_URL when set (PostgreSQL gives the fairest two-worker numbers), else a
temporary SQLite file; REDIS_URL when it answers, else a throwaway redis-server. It
flushes the Redis database it uses, so it takes database 14 of a shared server.
Nothing here asserts anything: the numbers are for people.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure_environment() -> list:
    """Environment for this process and the workers; returns processes to stop at the end."""
    from portal import local_redis

    started = []
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The blast-radius limits would stop a benchmark that files 2,000 requests as one user.
    os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
    os.environ.setdefault("KSC_SUBMIT_HOURLY_CAP", "0")
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='edr-bench-')}/bench.sqlite3"
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if local_redis.reachable(url):
        os.environ["REDIS_URL"] = url.rsplit("/", 1)[0] + "/14"
    else:
        process, os.environ["REDIS_URL"] = local_redis.start()
        started.append(process)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return started


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def noop() -> None:
    """The floor: an RQ job that does nothing."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=200, help="requests for the latency run (default 200)")
    parser.add_argument("--drain", type=int, default=1000, help="requests for each drain run (default 1000)")
    args = parser.parse_args()
    started = configure_environment()

    import django

    django.setup()
    import django_rq
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.faults import approver_for
    from responses import jobs, roles
    from responses.ksc.client import build_client, reset_client
    from responses.ksc.inventory import default_hosts
    from responses.ksc.simulator import KscSimulator

    call_command("migrate", verbosity=0)
    queue = django_rq.get_queue(jobs.QUEUE)
    queue.connection.flushdb()
    password = secrets.token_urlsafe(16)
    simulator = KscSimulator(user="bench", password=password, port=0).start()
    ksc_env = {
        "KSC_HOST": simulator.host,
        "KSC_PORT": str(simulator.port),
        "KSC_CERT": str(simulator.cert_path),
        "KSC_USER": "bench",
        "KSC_PASSWORD": password,
        "KSC_CLIENT": "builtin",
    }
    os.environ.update(ksc_env)
    from django.conf import settings

    settings.KSC_HOST, settings.KSC_PORT, settings.KSC_VERIFY = simulator.host, simulator.port, str(simulator.cert_path)
    settings.KSC_USER, settings.KSC_PASSWORD, settings.KSC_CLIENT = "bench", password, "builtin"
    reset_client()

    analysts, approvers = (Group.objects.get_or_create(name=name)[0] for name in (roles.ANALYSTS, roles.APPROVERS))
    alice, _ = User.objects.get_or_create(username="bench-alice")
    bob, _ = User.objects.get_or_create(username="bench-bob")
    alice.groups.add(analysts)
    bob.groups.add(approvers)
    hosts = [host.id for host in default_hosts()]

    file_and_approve = approver_for(alice, bob, hosts, "benchmark")

    def start_workers(count: int) -> list[subprocess.Popen]:
        env = {**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]}
        return [
            subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", jobs.QUEUE],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]

    def stop(workers: list[subprocess.Popen]) -> None:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)

    rows = []
    running: list[subprocess.Popen] = []
    try:
        measure(args, rows, running, start_workers, stop, file_and_approve, queue, hosts, build_client)
    finally:
        stop([worker for worker in running if worker.poll() is None])
        simulator.stop()
        queue.connection.flushdb()
        for process in started:
            process.terminate()
    print(f"database: {connection.vendor}; KSC: simulator on {simulator.url}")
    for row in rows:
        print(row)


def measure(args, rows, running, start_workers, stop, file_and_approve, queue, hosts, build_client) -> None:
    from rq.job import Job, JobStatus

    from responses.ksc import payload
    from responses.models import ResponseRequest, Status

    # 1. Latency, one request at a time, one worker.
    workers = start_workers(1)
    running.extend(workers)
    time.sleep(2)  # let the worker start and log in before timing
    samples = []
    for index in range(args.latency):
        request = file_and_approve(index)
        begin = time.perf_counter()
        while True:
            if ResponseRequest.objects.filter(pk=request.pk, ksc_incident_id__isnull=False).exists():
                break
            time.sleep(0.001)
        samples.append(time.perf_counter() - begin)
    floor = []
    for _ in range(args.latency):
        begin = time.perf_counter()
        job = queue.enqueue("benchmarks.submit_latency.noop")
        while Job.fetch(job.id, connection=queue.connection).get_status() != JobStatus.FINISHED:
            time.sleep(0.001)
        floor.append(time.perf_counter() - begin)
    stop(workers)
    p = percentiles(samples)
    f = percentiles(floor)
    rows.append(
        f"approval → incident id recorded ({args.latency} requests, 1 worker): "
        f"p50 {p[0] * 1000:.1f} ms  p95 {p[1] * 1000:.1f} ms  p99 {p[2] * 1000:.1f} ms"
    )
    rows.append(
        f"no-op RQ job, enqueue → finished (floor):             "
        f"p50 {f[0] * 1000:.1f} ms  p95 {f[1] * 1000:.1f} ms  p99 {f[2] * 1000:.1f} ms"
    )

    # 2. Drain N approved requests with 1 and 2 workers.
    for count in (1, 2):
        queue.connection.flushdb()
        keys = [file_and_approve(index).pk for index in range(args.drain)]
        workers = start_workers(count)
        running.extend(workers)
        begin = time.perf_counter()
        while ResponseRequest.objects.filter(pk__in=keys, status=Status.SUBMITTED).count() < len(keys):
            failed = ResponseRequest.objects.filter(pk__in=keys, status=Status.FAILED).count()
            if failed:
                raise SystemExit(f"{failed} requests failed; see the request timelines")
            time.sleep(0.05)
        elapsed = time.perf_counter() - begin
        stop(workers)
        rows.append(
            f"drain {args.drain} approved isolateHost, {count} worker(s): "
            f"{elapsed:.1f} s  ({args.drain / elapsed:.0f} requests/s)"
        )

    # 3. The same KSC calls in a plain loop: what the simulator and the client cost alone.
    client = build_client()
    begin = time.perf_counter()
    for index in range(args.drain):
        host = hosts[index % len(hosts)]
        data = payload.add_incident_data("isolateHost", host, {"action": 1}, payload.incident_time())
        incident = client.add_incident(data)
        client.update_incident(incident, payload.update_incident_data(host))
    elapsed = time.perf_counter() - begin
    client.close()
    rows.append(
        f"plain loop, {args.drain} × AddIncident + UpdateIncident:          "
        f"{elapsed:.1f} s  ({args.drain / elapsed:.0f} requests/s)"
    )


if __name__ == "__main__":
    main()
