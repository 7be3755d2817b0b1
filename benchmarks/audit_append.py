"""Appending audit events from parallel writers: one chain per request versus a shared head.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/audit_append.py [--events 200] [--hold-ms 5]

Each writer thread has its own PostgreSQL connection and appends events, one per
transaction, holding the transaction open for --hold-ms after the append (the rest of a
workflow transition's work: the status UPDATE, the attempt row, the commit's fsync).
It prints events per second with 1, 2 and 4 writers:
- "per request": each writer appends to its own request (the portal's design);
- "shared head": the same, but every transaction first locks one shared row, which is
  what the single AuditChainHead of the previous design did.
It migrates DATABASE_URL's database and adds its own requests there: use a scratch one.
Nothing here asserts anything: the numbers are for people.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events per writer (default 200)")
    parser.add_argument("--hold-ms", type=float, default=5.0, help="time each transaction stays open (default 5)")
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("needs DATABASE_URL=postgres://...: SQLite serialises every writer whatever the design")

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    from accounts import roles
    from ksc_client.hosts import Host
    from responses import filing, trail
    from responses.hosts import HostCheck
    from responses.models import ResponseRequest

    def known_host(host_id: str) -> HostCheck:
        return HostCheck(Host(id=host_id, display_name="", fqdn="", ip="", group_name="", last_seen=None))

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_shared_head (id int PRIMARY KEY)")
        cursor.execute("INSERT INTO bench_shared_head VALUES (1) ON CONFLICT DO NOTHING")
    analyst, _created = User.objects.get_or_create(username="bench-analyst")
    analyst.groups.add(Group.objects.get_or_create(name=roles.ANALYSTS)[0])

    def writer(request_pk: int, shared: bool, errors: list) -> None:
        try:
            request = ResponseRequest.objects.get(pk=request_pk)
            for _ in range(args.events):
                with transaction.atomic():
                    if shared:
                        with connection.cursor() as cursor:
                            cursor.execute("SELECT id FROM bench_shared_head WHERE id = 1 FOR UPDATE")
                    trail.append(request, "held", "system", request.status, "benchmark")
                    time.sleep(args.hold_ms / 1000)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    print(f"{args.events} events per writer, transactions held {args.hold_ms:g} ms")
    for shared in (False, True):
        for count in (1, 2, 4):
            requests = [
                filing.file_request(
                    user=analyst,
                    task="isolateHost",
                    target_host=f"bench-{n}",
                    params={"action": 1},
                    justification="b",
                    host_check=known_host,  # made-up hosts: this measures the trail, not KSC
                ).request.pk
                for n in range(count)
            ]
            errors: list = []
            threads = [threading.Thread(target=writer, args=(pk, shared, errors)) for pk in requests]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            if errors:
                raise errors[0]
            label = "shared head" if shared else "per request"
            print(f"{label:12} {count} writers: {count * args.events / elapsed:8.0f} events/s")


if __name__ == "__main__":
    main()
