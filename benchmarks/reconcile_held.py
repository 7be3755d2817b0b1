"""How long one reconciler run takes with thousands of requests held by the hourly cap.

    .venv/bin/python benchmarks/reconcile_held.py [--held 2000]

Sets up N QUEUED requests whose latest event is a hold by KSC_SUBMIT_HOURLY_CAP (their jobs ran
and returned "held"), and one submission in the last hour with the cap at 1: no room. Then times
three reconciler runs and prints, for each, the seconds, the SQL queries and the RQ job look-ups.
Before issue 24 a run asked four things per held request (its latest event, the cap, its RQ job,
RQ's intermediate list): 4.2 s for 2,000, near the 5 s RECONCILE_INTERVAL of the fault run.

Works in a fresh database beside DATABASE_URL's (`<name>_reconcile_bench`) or a temporary SQLite
file, and Redis database BENCH_REDIS_DB (default 14) of REDIS_URL's server. Nothing asserts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=2000, help="requests held by the hourly cap (default 2000)")
    args = parser.parse_args()
    if args.held < 1:
        parser.error("--held must be 1 or more")

    from benchmarks.submit_latency import configure_environment

    started = configure_environment("reconcile_bench")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rq.job import Job

    from responses import catalog, jobs, queueing
    from responses.models import ResponseRequest, Status, payload_fingerprint

    call_command("migrate", verbosity=0)
    try:
        settings.KSC_SUBMIT_HOURLY_CAP = 1
        now = timezone.now().replace(microsecond=0)
        host = "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"

        def row(index: int, status: str, **extra) -> ResponseRequest:
            params = {"action": index % 2}
            return ResponseRequest(
                task="isolateHost",
                target_host=f"{host[:-6]}{index:06d}",
                params=params,
                justification=f"benchmark {index}",
                fingerprint=payload_fingerprint("isolateHost", f"{host[:-6]}{index:06d}", params),
                requester_username="bench",
                status=status,
                approvals_required=catalog.approvals_required("isolateHost", params),
                approved_at=now,
                **extra,
            )

        ResponseRequest.objects.filter(requester_username="bench", status=Status.QUEUED).update(
            status=Status.CANCELLED
        )  # an earlier run's held requests
        ResponseRequest.objects.bulk_create([row(0, Status.SUBMITTED, submitted_at=now)])
        held = ResponseRequest.objects.bulk_create([row(index + 1, Status.QUEUED) for index in range(args.held)])
        started_setup = time.perf_counter()
        for rr in held:
            queueing.hold(rr.uuid, "Held back: benchmark (KSC_SUBMIT_HOURLY_CAP).")
        ResponseRequest.objects.filter(pk__in=[rr.pk for rr in held]).update(updated_at=now)
        print(
            f"database: {connection.vendor}; {args.held} requests held by the hourly cap (set up in "
            f"{time.perf_counter() - started_setup:.1f} s), cap 1 with 1 submitted in the last hour"
        )
        lookups = []
        real_fetch = Job.fetch.__func__
        Job.fetch = classmethod(lambda cls, *a, **k: lookups.append(a) or real_fetch(cls, *a, **k))
        for attempt in range(1, 4):
            lookups.clear()
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                counts = jobs.reconcile(grace_seconds=0)
                took = time.perf_counter() - began
            print(
                f"run {attempt}: {took * 1000:.0f} ms, {len(queries)} SQL queries, {len(lookups)} RQ job look-ups, "
                f"released {counts['released']}"
            )
    finally:
        for process in started:
            process.kill()


if __name__ == "__main__":
    main()
