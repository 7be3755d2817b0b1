"""A 1,000-host campaign against the simulator, side by side with a plain AddIncident + UpdateIncident loop.

    .venv/bin/python benchmarks/campaign.py [--hosts 1000] [--workers 2] [--json]

Issue 27, point 11. Prints, in one run on one machine:
- filing: the time to resolve and file a pasted list of N lines (batched FindHosts);
- the campaign's submission rate: N hosts approved as one campaign (canary off, one wave, the
  in-flight limit and the hourly cap off), submitted by ``--workers`` real `manage.py rqworker
  ksc` processes, from the approval to the last host's incident recorded;
- the plain loop: the same KSC calls made directly over one logged-in connection, run before
  and after the campaign, and the ratio of the two (target: at least 0.5);
- the campaign page and its API's server time with N hosts (and, with --campaigns, that many
  such campaigns in the database).

Uses a fresh database beside DATABASE_URL's (``<name>_campaign_bench``) on PostgreSQL, else a
temporary SQLite file; a throwaway redis-server unless REDIS_URL answers. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid as uuid_module
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def simulated_hosts(count: int):
    from ksc_simulator.inventory import SimulatedHost

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return [
        SimulatedHost(
            id=f"bench-{index:05d}-0000-4000-8000-000000000000",
            display_name=f"BENCH-WS-{index:05d}",
            fqdn=f"bench-ws-{index:05d}.corp.example",
            ip=f"10.{100 + index // 65536}.{index // 256 % 256}.{index % 256}",
            group=f"Bench {index % 10}",
            os="Microsoft Windows 11 Enterprise",
            last_seen=now,
        )
        for index in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--campaigns",
        type=int,
        default=99,
        help="more finished campaigns of --hosts hosts in the database for the page timing (default 99: 100 in all)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print where filing and the release spend their time")
    args = parser.parse_args()

    from benchmarks.submit_latency import configure_environment, plain_loop

    for name, value in {
        "CAMPAIGN_CANARY": "0",
        "CAMPAIGN_WAVE": str(args.hosts),
        "CAMPAIGN_MAX": str(max(args.hosts, 100)),
        "CAMPAIGN_HARD_MAX": str(max(args.hosts, 1000)),
        "CAMPAIGN_SMALL": str(max(args.hosts, 10)),
        "CAMPAIGN_GROUP_SHARE": "100",
        "KSC_INFLIGHT_TASKS_MAX": "0",
    }.items():
        os.environ[name] = value
    started = configure_environment("campaign_bench")

    import django

    django.setup()
    import django_rq
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Max, Q

    from accounts import roles
    from campaigns import filing
    from campaigns import workflow as campaigns
    from campaigns.models import Campaign
    from responses import jobs
    from responses.ksc_servers import build_client
    from responses.ksc_servers import reset_clients as reset_client
    from responses.models import ResponseRequest, Status

    call_command("migrate", verbosity=0)
    queue = django_rq.get_queue(jobs.QUEUE)
    queue.connection.flushdb()
    password = secrets.token_urlsafe(16)
    hosts = simulated_hosts(args.hosts)
    simulator = SimulatorProcess(args.hosts, password)
    os.environ.update(
        {
            "KSC_HOST": simulator.host,
            "KSC_PORT": str(simulator.port),
            "KSC_CERT": str(simulator.cert_path),
            "KSC_USER": "bench",
            "KSC_PASSWORD": password,
            "KSC_CLIENT": "builtin",
        }
    )
    settings.KSC_HOST, settings.KSC_PORT, settings.KSC_VERIFY = simulator.host, simulator.port, str(simulator.cert_path)
    settings.KSC_USER, settings.KSC_PASSWORD, settings.KSC_CLIENT = "bench", password, "builtin"
    reset_client()
    analysts, approvers = (Group.objects.get_or_create(name=name)[0] for name in (roles.ANALYSTS, roles.APPROVERS))
    alice, _ = User.objects.get_or_create(username="bench-alice")
    bob, _ = User.objects.get_or_create(username="bench-bob")
    alice.groups.add(analysts)
    bob.groups.add(approvers)
    figures: dict = {"hosts": args.hosts, "workers": args.workers}
    workers: list[subprocess.Popen] = []
    try:
        lines = "\n".join(host.display_name for host in hosts)
        begin = time.perf_counter()
        with profiled(args.profile, "filing"):
            campaign = filing.file_campaign(
                alice, task="isolateHost", params={"action": 1}, hosts=lines, justification="benchmark"
            )
        figures["filing_s"] = time.perf_counter() - begin
        figures["plain_before_per_s"] = plain_loop(args.hosts, [h.id for h in hosts], build_client)
        workers = [
            subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", jobs.QUEUE],
                cwd=ROOT,
                env=dict(os.environ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        wait_for_workers(queue, args.workers)  # the workers start (imports, Django) before the clock starts
        begin = time.perf_counter()
        with profiled(args.profile, "approval and release"):
            campaigns.approve(campaign, user=bob)
        figures["approve_and_release_s"] = time.perf_counter() - begin
        children = ResponseRequest.objects.filter(campaign_host__campaign=campaign)
        progress_at, done = time.perf_counter(), 0
        while done < args.hosts:
            time.sleep(0.2)
            counts = children.aggregate(
                submitted=Count("pk", filter=Q(status=Status.SUBMITTED)),
                failed=Count("pk", filter=Q(status=Status.FAILED)),
            )
            if counts["failed"]:
                raise SystemExit(f"{counts['failed']} hosts failed")
            if counts["submitted"] > done:
                done, progress_at = counts["submitted"], time.perf_counter()
            elif time.perf_counter() - progress_at > 120:
                raise SystemExit(f"stalled at {done} of {args.hosts}")
        last = children.aggregate(last=Max("submitted_at"))["last"]
        elapsed = (last - Campaign.objects.get(pk=campaign.pk).approved_at).total_seconds()
        figures["campaign_per_s"] = args.hosts / elapsed
        figures["campaign_s"] = elapsed
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        workers = []
        figures["plain_after_per_s"] = plain_loop(args.hosts, [h.id for h in hosts], build_client)
        plain = statistics.mean([figures["plain_before_per_s"], figures["plain_after_per_s"]])
        figures["plain_per_s"] = plain
        figures["ratio"] = figures["campaign_per_s"] / plain
        if args.campaigns:
            begin = time.perf_counter()
            fill_campaigns(campaign, args.campaigns)
            figures["fill_s"] = time.perf_counter() - begin
        figures["campaigns"] = 1 + args.campaigns
        figures.update(page_times(campaign, bob))
    finally:
        for worker in workers:
            worker.terminate()
        figures["incidents"] = simulator.stop()
        queue.connection.flushdb()
        for process in started:
            process.terminate()
    if args.json:
        print(json.dumps({"database": connection.vendor, **figures}))
        return
    print(
        f"database: {connection.vendor}; {args.hosts} hosts, {args.workers} workers; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    )
    print(f"filing a {args.hosts}-line pasted list: {figures['filing_s']:.2f} s (target ≤ 5 s)")
    print(f"approval and the release of one wave of {args.hosts}: {figures['approve_and_release_s']:.2f} s")
    print(
        f"campaign: {figures['campaign_s']:.1f} s, {figures['campaign_per_s']:.0f} hosts/s; plain loop: "
        f"{figures['plain_per_s']:.0f} pairs/s; ratio {figures['ratio']:.2f} (target ≥ 0.5)"
    )
    print(
        f"campaign page: {figures['page_ms']:.0f} ms; API: {figures['api_ms']:.0f} ms; hosts API page: "
        f"{figures['api_hosts_ms']:.0f} ms (target ≤ 100 ms)"
    )


def serve_simulator(count: int, password: str, pipe) -> None:
    """The simulator's own process (see SimulatorProcess): serve until told to stop, then report the incidents."""
    from ksc_simulator.server import KscSimulator

    simulator = KscSimulator(user="bench", password=password, port=0, hosts=simulated_hosts(count)).start()
    pipe.send((simulator.host, simulator.port, str(simulator.cert_path)))
    pipe.recv()
    incidents = len(simulator.state.incidents)
    simulator.stop()
    pipe.send(incidents)


class SimulatorProcess:
    """The KSC simulator in a process of its own, as KSC is a server of its own.

    In the benchmark's process it would share one interpreter lock with the benchmark's own
    work (the approval and the release of the wave, the progress queries), and every KSC call
    of the workers would wait for that work: a cost no real KSC adds. The plain loop calls the
    same process.
    """

    def __init__(self, count: int, password: str):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=serve_simulator, args=(count, password, child), daemon=True)
        self.process.start()
        if not self.pipe.poll(120):
            self.process.kill()
            raise SystemExit("the simulator did not start within 120 s")
        self.host, self.port, self.cert_path = self.pipe.recv()

    def stop(self) -> int | None:
        """Stop it; the number of incidents it holds (None when it did not answer)."""
        incidents = None
        with contextlib.suppress(OSError, EOFError):
            self.pipe.send("stop")
            if self.pipe.poll(30):
                incidents = self.pipe.recv()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
        return incidents


def wait_for_workers(queue, count: int, timeout: float = 180) -> None:
    """Until ``count`` workers listen on the queue (on a loaded machine they take a while to start)."""
    from rq import Worker

    deadline = time.perf_counter() + timeout
    while Worker.count(queue=queue) < count:
        if time.perf_counter() > deadline:
            raise SystemExit(f"the workers did not start within {timeout:.0f} s")
        time.sleep(0.2)


@contextlib.contextmanager
def profiled(on: bool, what: str):
    if not on:
        yield
        return
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        print(f"--- profile of {what} ---", file=sys.stderr)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(30)


def fill_campaigns(model, count: int) -> None:
    """``count`` finished campaigns like ``model``, each host with a submitted request, inserted in bulk.

    Only what the campaign page and its API read: the campaigns, their hosts and the hosts'
    requests (no trails); enough for the page's queries to pick one campaign among many.
    """
    from django.db import transaction

    from campaigns.models import Campaign, CampaignHost, CampaignStatus
    from responses.models import ResponseRequest, Status

    hosts = list(CampaignHost.objects.filter(campaign=model).select_related("request").order_by("position"))
    incident = 10**9
    for _ in range(count):
        with transaction.atomic():
            campaign = Campaign.objects.get(pk=model.pk)
            campaign.pk, campaign.uuid, campaign.status = None, uuid_module.uuid4(), CampaignStatus.COMPLETED
            campaign.save()
            requests = []
            for host in hosts:
                request = host.request
                request.pk, request.uuid, request.ksc_added = None, uuid_module.uuid4(), None
                request.status, request.ksc_incident_id = Status.SUBMITTED, incident
                incident += 1
                requests.append(request)
            ResponseRequest.objects.bulk_create(requests, batch_size=500)
            for host, request in zip(hosts, requests, strict=True):
                host.pk, host.campaign, host.request = None, campaign, request
            CampaignHost.objects.bulk_create(hosts, batch_size=500)


def page_times(campaign, user) -> dict:
    """Median server time of the campaign page and its API (Django's test client, in process)."""
    from django.test import Client
    from rest_framework.test import APIClient

    from accounts.tokens import issue_token

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    api = APIClient(HTTP_HOST="localhost")
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)[1]}")
    timings: dict[str, list[float]] = {"page_ms": [], "api_ms": [], "api_hosts_ms": []}
    for _ in range(10):
        for name, call in (
            ("page_ms", lambda: client.get(f"/campaigns/{campaign.uuid}/", secure=True)),
            ("api_ms", lambda: api.get(f"/api/v1/campaigns/{campaign.uuid}/", secure=True)),
            ("api_hosts_ms", lambda: api.get(f"/api/v1/campaigns/{campaign.uuid}/hosts/", secure=True)),
        ):
            begin = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - begin) * 1000)
    return {name: statistics.median(values) for name, values in timings.items()}


if __name__ == "__main__":
    main()
