"""How long one outcome sweep takes with thousands of open outcomes, against the simulator on loopback.

    .venv/bin/python benchmarks/outcome_sweep.py [--outcomes 5000]

Sets up N SUBMITTED requests spread over the last 10 minutes on the simulator's
53 hosts (rows written in bulk, and the matching incidents put straight into
the simulator's state: setting up is not what is measured). KES keeps at most
100 response tasks, so the simulator holds the newest 100 tasks; a tenth of
the hosts fail with a reason. Then it times three sweeps and prints, for each,
the KSC calls made (per method), the outcomes looked at and changed, and the
time:

1. cold: opens N outcomes, walks KSC's tasks once, matches and follows 100;
2. warm: every outcome is due again (all younger than an hour);
3. after KSC_TASK_APPEAR_TIMEOUT: every unmatched outcome turns "no task
   appeared", each with its event in the trail.

Uses DATABASE_URL when set, else a temporary SQLite file. Nothing asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=5000, help="open outcomes to sweep (default 5000)")
    args = parser.parse_args()

    from benchmarks.submit_latency import configure_environment

    started = configure_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, models
    from django.utils import timezone

    from ksc_simulator import tasks as simulator_tasks
    from ksc_simulator.server import Incident, KscSimulator
    from responses import catalog, outcomes, payload
    from responses.ksc_servers import build_client
    from responses.models import ResponseRequest, Status, payload_fingerprint

    call_command("migrate", verbosity=0)
    password = secrets.token_urlsafe(16)
    simulator = KscSimulator(user="bench", password=password, port=0).start()
    settings.KSC_HOST, settings.KSC_PORT, settings.KSC_VERIFY = simulator.host, simulator.port, str(simulator.cert_path)
    settings.KSC_USER, settings.KSC_PASSWORD, settings.KSC_CLIENT = "bench", password, "builtin"
    try:
        state = simulator.state
        hosts = sorted(state.hosts)
        book = simulator_tasks.task_book(state)
        # A KSC never reuses a task id: continue after the ids this database already holds (an
        # earlier run), and close the outcomes an earlier run left open, so that only this run's count.
        from django.db.models import Max
        from django.db.models.functions import Cast

        from responses.models import ResponseOutcome

        numeric = ResponseOutcome.objects.filter(ksc_task_id__regex=r"^[0-9]+$").annotate(
            number=Cast("ksc_task_id", models.BigIntegerField())
        )
        book.next_id = max(book.next_id, (numeric.aggregate(top=Max("number"))["top"] or 0) + 1)
        ResponseOutcome.objects.filter(closed_at__isnull=True, request__requester_username="bench").update(
            closed_at=timezone.now()
        )
        failing = {
            host: simulator_tasks.Plan(outcome="fail", reason="Access denied to the file") for host in hosts[::10]
        }
        book.config.hosts.update(failing)
        now = timezone.now().replace(microsecond=0)
        base = (
            ResponseRequest.objects.order_by("-ksc_incident_id").values_list("ksc_incident_id", flat=True).first() or 0
        ) + 1
        state.next_incident_id = base + args.outcomes
        rows, incidents = [], []
        for index in range(args.outcomes):
            host = hosts[index % len(hosts)]
            added = now - dt.timedelta(seconds=600) + dt.timedelta(milliseconds=index * 600_000 // args.outcomes)
            added = added.replace(microsecond=0)
            params = {"action": 1}
            rows.append(
                ResponseRequest(
                    task="isolateHost",
                    target_host=host,
                    params=params,
                    justification=f"benchmark {index}",
                    fingerprint=payload_fingerprint("isolateHost", host, params),
                    requester_username="bench",
                    status=Status.SUBMITTED,
                    approvals_required=catalog.approvals_required("isolateHost", params),
                    ksc_added=added,
                    ksc_incident_id=base + index,
                    submitted_at=added,
                    finished_at=added,
                )
            )
            body = payload.build_body("isolateHost", host, params)
            attrs = {
                "KLINCDT_ID": base + index,
                "KLHST_WKS_HOSTNAME": host,
                "KLINCDT_BODY": body,
                "KLINCDT_ADDED": added,
            }
            incidents.append(Incident(id=base + index, pdata={}, received=added, attrs=attrs))
        # (fingerprint, ksc_added) is unique: spread identical payloads over distinct seconds per host.
        seen = set()
        for row in rows:
            while (row.fingerprint, row.ksc_added) in seen:
                row.ksc_added += dt.timedelta(seconds=1)
            seen.add((row.fingerprint, row.ksc_added))
        ResponseRequest.objects.bulk_create(rows, batch_size=1000)
        for incident in incidents:
            state.incidents[incident.id] = incident
            simulator_tasks.incident_added(state, incident)
        with book.lock:
            book.materialize(state.now())
        print(
            f"database: {connection.vendor}; KSC: simulator on {simulator.url}; {args.outcomes} submitted requests, "
            f"{sum(1 for t in book.tasks.values() if t.host_id)} response tasks in KSC"
        )

        client = build_client(backend="builtin")
        client.call("Session.Ping", {})  # log in before timing
        timeout = dt.timedelta(seconds=settings.KSC_TASK_APPEAR_TIMEOUT + 1)
        for label, when in (("cold", None), ("warm", None), ("after the appear timeout", timezone.now() + timeout)):
            before = dict(simulator.state.stats["calls"])
            begin = time.perf_counter()
            result = outcomes.sweep(client, now=when)
            seconds = time.perf_counter() - begin
            after = simulator.state.stats["calls"]
            per_method = {m: after[m] - before.get(m, 0) for m in after if after[m] != before.get(m, 0)}
            print(
                f"sweep {label}: {seconds:.2f} s; {result.due} due, {result.created} opened, {result.matched} matched, "
                f"{result.changed} changed {json.dumps(result.changes)}; {result.calls} KSC calls "
                f"(budget {settings.OUTCOME_SWEEP_MAX_CALLS}): {json.dumps(per_method)}"
            )
        client.close()
    finally:
        simulator.stop()
        for process in started:
            process.terminate()


if __name__ == "__main__":
    main()
