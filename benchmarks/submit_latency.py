"""How fast approved requests reach KSC: latency and drain time, against the simulator on loopback.

    .venv/bin/python benchmarks/submit_latency.py [--latency N] [--drain N] [--workers 1,2,4] [--json]

Prints, with one real `manage.py rqworker ksc` process (the portal's PortalWorker):
- p50/p95/p99 from approval (the approving transaction committed) to the incident id
  recorded on the request, over N requests approved one after the other; and the same
  for a no-op RQ job (enqueue to finished) as the floor that RQ and Redis cost;
- the time to drain N approved isolateHost requests with 1, 2 and 4 workers (--workers),
  from the first claim to the last submission (the workers' start is left out),
  beside a plain loop making the same AddIncident + UpdateIncident calls directly, run
  before and after the drains so that both see the same machine;
- what each job costs beyond its two KSC calls (1 worker), beside what one PostgreSQL
  commit costs here: a job makes three transactions (claim, incident id, submitted),
  each committed durably, so three commits bound it from below;
- the workers' resident memory after the drains.

Uses a fresh database beside DATABASE_URL's when that is PostgreSQL (the fairest
multi-worker numbers; ``<name>_submit_bench``, dropped and made again each run), else a
temporary SQLite file; REDIS_URL when it answers, else a throwaway redis-server. It
flushes the Redis database it uses, so it takes database 14 of a shared server
(BENCH_REDIS_DB chooses another).
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
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh_postgres_database(url: str, suffix: str) -> str:
    """A new, empty database beside ``url``'s (named ``<name>_<suffix>``, dropped first when it exists).

    Each run starts a new KSC simulator, whose incident ids start again at 1: requests
    kept from an earlier run would already hold those ids (they are unique).
    """
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def configure_environment(suffix: str = "submit_bench") -> list:
    """Environment for this process and the workers; returns processes to stop at the end.

    On PostgreSQL the benchmark works in a fresh database beside DATABASE_URL's
    (``<name>_<suffix>``), never in the one it was given.
    """
    from portal import local_redis

    started = []
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The blast-radius limits would stop a benchmark that files 2,000 requests as one user.
    os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
    os.environ.setdefault("KSC_SUBMIT_HOURLY_CAP", "0")
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = fresh_postgres_database(os.environ["DATABASE_URL"], suffix)
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='edr-bench-')}/bench.sqlite3"
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if local_redis.reachable(url):
        os.environ["REDIS_URL"] = url.rsplit("/", 1)[0] + "/" + os.environ.get("BENCH_REDIS_DB", "14")
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
    parser.add_argument("--workers", default="1,2,4", help="worker counts of the drain runs (default 1,2,4)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (for make bench)")
    args = parser.parse_args()
    args.worker_counts = [int(count) for count in args.workers.split(",")]
    started = configure_environment()

    import django

    django.setup()
    import django_rq
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection

    from accounts import roles
    from benchmarks.faults import approver_for
    from ksc_simulator.inventory import default_hosts
    from ksc_simulator.server import KscSimulator
    from responses import jobs
    from responses.ksc_servers import build_client, reset_client

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

    file_and_approve = approver_for(alice, bob, hosts, "benchmark", task="deleteFile")

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
    figures: dict = {}
    running: list[subprocess.Popen] = []
    try:
        measure(args, rows, figures, running, start_workers, stop, file_and_approve, queue, hosts, build_client)
    finally:
        stop([worker for worker in running if worker.poll() is None])
        simulator.stop()
        queue.connection.flushdb()
        for process in started:
            process.terminate()
    if args.json:
        import json

        print(json.dumps({"database": connection.vendor, **figures}))
        return
    print(f"database: {connection.vendor}; KSC: simulator on {simulator.url}")
    for row in rows:
        print(row)


def resident_mb(pid: int) -> float:
    """A process's resident memory (VmRSS), in MB; 0 where /proc is not there."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def commit_ms(samples: int = 200) -> float:
    """Median time of one small durable transaction (an UPDATE and its COMMIT) on this database."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        # A one-row table of the benchmark's own (the audit chain has no single head row any more).
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (id integer PRIMARY KEY, n integer NOT NULL)")
        cursor.execute("DELETE FROM bench_commit_probe")
        cursor.execute("INSERT INTO bench_commit_probe (id, n) VALUES (1, 0)")
    timings = []
    for _ in range(samples):
        begin = time.perf_counter()
        with transaction.atomic():
            # A row-locking UPDATE that changes nothing, as a job's transitions lock and write rows.
            with connection.cursor() as cursor:
                cursor.execute("UPDATE bench_commit_probe SET n = n WHERE id = 1")
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings) * 1000


def plain_loop(count: int, hosts, build_client) -> float:
    """Requests/s of the same KSC calls made directly, one after the other."""
    from responses import payload

    client = build_client()
    begin = time.perf_counter()
    for index in range(count):
        host = hosts[index % len(hosts)]
        data = payload.add_incident_data("isolateHost", host, {"action": 1}, payload.incident_time())
        incident = client.add_incident(data)
        client.update_incident(incident, payload.update_incident_data(host))
    elapsed = time.perf_counter() - begin
    client.close()
    return count / elapsed


def measure(args, rows, figures, running, start_workers, stop, file_and_approve, queue, hosts, build_client) -> None:
    from django.db.models import Count, Max, Min, Q
    from rq.job import Job, JobStatus

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

    figures.update(
        latency_p50_ms=p[0] * 1000,
        latency_p99_ms=p[2] * 1000,
        noop_p50_ms=f[0] * 1000,
        noop_p99_ms=f[2] * 1000,
    )

    # 2. Drain N approved requests with 1, 2, 4 workers, between two runs of the plain loop.
    plain = [plain_loop(args.drain, hosts, build_client)]
    drains = {}
    memory = []
    for count in args.worker_counts:
        queue.connection.flushdb()
        keys = [file_and_approve(index).pk for index in range(args.drain)]
        workers = start_workers(count)
        running.extend(workers)
        progress_at = time.perf_counter()
        done = 0
        # One cheap query per poll (a key range, not 1,000 keys): the simulator shares this
        # process, and a busy poller would slow KSC down for the workers.
        batch = ResponseRequest.objects.filter(pk__gte=min(keys), pk__lte=max(keys))
        while done < len(keys):
            time.sleep(0.2)
            counts = batch.aggregate(
                submitted=Count("pk", filter=Q(status=Status.SUBMITTED)),
                failed=Count("pk", filter=Q(status=Status.FAILED)),
            )
            if counts["failed"]:
                raise SystemExit(f"{counts['failed']} requests failed; see the request timelines")
            if counts["submitted"] > done:
                done, progress_at = counts["submitted"], time.perf_counter()
            elif time.perf_counter() - progress_at > 120:
                raise SystemExit(f"the drain stalled at {done} of {len(keys)} (jobs lost from Redis?)")
        # From the first claim to the last submission, as the database recorded them: the
        # workers' start (Django, the KSC login) is not part of what a drain costs.
        span = ResponseRequest.objects.filter(pk__in=keys).aggregate(
            first=Min("submission_attempts__started_at"), last=Max("submitted_at")
        )
        elapsed = (span["last"] - span["first"]).total_seconds()
        memory.extend(resident_mb(worker.pid) for worker in workers)
        stop(workers)
        drains[count] = args.drain / elapsed
        rows.append(
            f"drain {args.drain} approved isolateHost, {count} worker(s): "
            f"{elapsed:.1f} s  ({args.drain / elapsed:.0f} requests/s)"
        )

    # 3. The same KSC calls in a plain loop: what the simulator and the client cost alone.
    plain.append(plain_loop(args.drain, hosts, build_client))
    loop = statistics.mean(plain)
    rows.append(
        f"plain loop, {args.drain} × AddIncident + UpdateIncident:          "
        f"{loop:.0f} requests/s (before the drains {plain[0]:.0f}, after {plain[1]:.0f})"
    )
    commit = commit_ms()
    beyond = 1000 / drains[args.worker_counts[0]] - 1000 / loop
    rows.append(
        f"per job beyond its two KSC calls ({args.worker_counts[0]} worker): {beyond:.1f} ms; "
        f"one PostgreSQL commit here: {commit:.1f} ms (a job makes three)"
    )
    rows.append(f"worker memory after the drains: up to {max(memory, default=0):.0f} MB resident")
    figures.update(
        drain_rps={str(count): rate for count, rate in drains.items()},
        plain_rps=loop,
        per_job_beyond_ms=beyond,
        commit_ms=commit,
        worker_rss_mb=max(memory, default=0.0),
    )


if __name__ == "__main__":
    main()
