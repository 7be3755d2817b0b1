"""How fast an approver hears of a waiting request, and what the menu's count costs.

    .venv/bin/python benchmarks/notify_latency.py [--requests 50] [--pending 100,1000]

Prints:
- p50/p95/p99 from filing (the transaction committed) to the mail arriving at a real SMTP
  server (aiosmtpd in this process), through one real `manage.py rqworker notify` process:
  the post_save receiver, the dispatch job, the delivery job and Django's SMTP backend;
- the time to compute an approver's count of waiting requests (notifications'
  context processor: the pending list, its decisions, policy.may on each) with
  N requests pending.

Uses DATABASE_URL when set (it must exist; it is migrated), else a temporary SQLite file;
REDIS_URL (only the `notify` queue is emptied), else a throwaway redis-server.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure_environment(smtp_port: int) -> list:
    from portal import local_redis

    started = []
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
    os.environ["NOTIFY_BURST_LIMIT"] = "1000000"  # one message per request, no digest
    os.environ["EMAIL_HOST"], os.environ["EMAIL_PORT"] = "127.0.0.1", str(smtp_port)
    os.environ["PORTAL_BASE_URL"] = "https://edr.example.test"
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='edr-bench-')}/bench.sqlite3"
    if not local_redis.reachable(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")):
        process, os.environ["REDIS_URL"] = local_redis.start()
        started.append(process)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return started


class Inbox:
    """aiosmtpd on loopback; remembers when each request's mail arrived (by the request id in its body)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        from portal.local_redis import free_port

        self.arrived: dict[str, float] = {}
        self.event = threading.Condition()
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                text = envelope.content.decode("utf-8", "replace")
                at = time.perf_counter()
                with inbox.event:
                    for line in text.splitlines():
                        if "/requests/" in line:
                            inbox.arrived[line.rsplit("/requests/", 1)[1].strip("/ \r\n")] = at
                    inbox.event.notify_all()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for(self, key: str, timeout: float = 60) -> float:
        with self.event:
            if not self.event.wait_for(lambda: key in self.arrived, timeout=timeout):
                raise SystemExit(f"no mail for request {key} within {timeout} s")
            return self.arrived[key]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--pending", default="100,1000")
    args = parser.parse_args()

    inbox = Inbox()
    started = configure_environment(inbox.port)
    import django

    django.setup()
    import django_rq
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from accounts import roles
    from ksc_client.hosts import Host
    from notifications.context_processors import waiting_count
    from responses import filing
    from responses.hosts import HostCheck
    from responses.models import ResponseRequest

    call_command("migrate", verbosity=0)
    django_rq.get_queue("notify").empty()
    suffix = secrets.token_hex(3)
    alice = User.objects.create_user(f"bench-alice-{suffix}", f"alice-{suffix}@example.test")
    alice.groups.add(Group.objects.get_or_create(name=roles.ANALYSTS)[0])
    bob = User.objects.create_user(f"bench-bob-{suffix}", f"bob-{suffix}@example.test")
    bob.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    # Older benchmark runs' approvers would get mail too: only this run's are active.
    User.objects.exclude(pk__in=[alice.pk, bob.pk]).filter(username__startswith="bench-").update(is_active=False)

    def file(n: int) -> ResponseRequest:
        return filing.file_request(
            user=alice,
            task="isolateHost",
            target_host="bench-host",
            params={"action": 1},
            justification=f"benchmark {n}",
            # a made-up host that KSC would call BENCH-01: this measures notifications, not KSC
            host_check=lambda host_id: HostCheck(
                Host(id=host_id, display_name="BENCH-01", fqdn="", ip="", group_name="", last_seen=None)
            ),
        ).request

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "notify"],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        file(-1)
        time.sleep(2)  # the worker is up and warm
        latencies = []
        for n in range(args.requests):
            start = time.perf_counter()
            rr = file(n)
            latencies.append(inbox.wait_for(str(rr.uuid)) - start)
        p50, p95, p99 = percentiles([1000 * value for value in latencies])
        print(f"filing -> approver's mail at the SMTP server, {args.requests} requests one after the other:")
        print(f"  p50 {p50:.0f} ms   p95 {p95:.0f} ms   p99 {p99:.0f} ms")
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    bob = User.objects.get(pk=bob.pk)
    for size in [int(value) for value in args.pending.split(",")]:
        while ResponseRequest.objects.filter(status="pending_approval").count() < size:
            file(0)
        runs = []
        for _ in range(20):
            bob = User.objects.get(pk=bob.pk)
            start = time.perf_counter()
            count = waiting_count(bob)
            runs.append(time.perf_counter() - start)
        print(
            f"menu count with {size} pending ({count} for the approver): median {1000 * statistics.median(runs):.1f} ms"
        )
    inbox.controller.stop()
    for process in started:
        process.terminate()


if __name__ == "__main__":
    main()
