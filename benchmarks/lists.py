"""The request lists at a million rows: server time and queries per page, on PostgreSQL.

    .venv/bin/python benchmarks/lists.py [--rows 1000000] [--repeat 15] [--json]

Works in its own database, never the tests' or the portal's: BENCH_DATABASE_URL, or
DATABASE_URL's server with the database name ``<name>_lists_bench`` (created when
missing; PostgreSQL only). The rows are made by PostgreSQL itself (INSERT ... SELECT
over generate_series: requests spread over a year, the newest 300 pending approval,
5,000 hosts, 40 requesters, one decision per decided request, 300 hosts isolated now) and kept
between runs: a second run with the same --rows reuses them. How long generation took is printed
(about 3 minutes for a million rows on a quiet 2-core machine).

Each list is requested through Django's test client as an auditor (the whole view:
queries, template or serializer), --repeat times after one warm-up; the median, the best
and the worst are printed, with the median time spent in SQL, the number of queries, and
the median CPU time of this process (the view, the template, the driver; not the time spent
waiting for a core, which on a shared machine is most of the difference between median and best).
Then the same list as an approver (whose menu counts the requests waiting for them)
with 10 and with 10,000 requests pending (the newest made pending for the run, then
put back). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = 5000
REQUESTERS = 40
# The newest requests wait for approval (a few hours' worth at a million rows), as in a live portal.
PENDING = 300
# The approval queue's sizes the list page is measured at (issue 24: within 10% of each other).
PENDING_SIZES = (10, 10_000)


def bench_database_url(suffix: str = "lists_bench") -> str:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit(
            "benchmarks/lists.py needs PostgreSQL: set DATABASE_URL or BENCH_DATABASE_URL to a postgres:// URL"
        )
    parts = urlsplit(base)
    name = (parts.path.lstrip("/") or "portal") + "_" + suffix
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def ensure_database(url: str) -> None:
    """Create the benchmark database when it does not exist (on the same server, as the same role)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def configure(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("AUDIT_CHAIN_KEY", "benchmark-only-" + secrets.token_urlsafe(40))
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"


GENERATE_REQUESTS = """
INSERT INTO responses_responserequest (
    uuid, task, target_host, target_host_name, params, justification, external_ref, fingerprint,
    archive_names, requester_id, requester_username, source, status, approvals_required, created_at, updated_at,
    expires_at, approved_at, decided_at, submitted_at, finished_at, ksc_added, ksc_incident_id, attempts, last_error,
    ksc_search_checks, wait_reason, server
)
SELECT
    gen_random_uuid(),
    'isolateHost',
    'host-' || lpad((i %% %(hosts)s)::text, 5, '0') || '-7f2c9a1e',
    'WS-' || lpad((i %% %(hosts)s)::text, 5, '0') || '.corp.example',
    jsonb_build_object('action', i %% 2),
    'Alert ' || i || ': beacon to ' || md5(i::text) || ' seen from this host',
    CASE WHEN i %% 3 = 0 THEN 'SIEM-' || i ELSE '' END,
    encode(sha256(i::text::bytea), 'hex'),
    '{}'::jsonb,
    %(first_user)s + (i %% %(requesters)s),
    'bench-analyst-' || (i %% %(requesters)s),
    CASE WHEN i %% 3 = 0 THEN 'api' ELSE 'web' END,
    CASE WHEN i > %(rows)s - %(pending)s THEN 'pending_approval' WHEN i %% 50 = 0 THEN 'rejected' ELSE 'submitted' END,
    1,
    at, at,
    CASE WHEN i > %(rows)s - %(pending)s THEN at + interval '1 day' ELSE NULL END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN NULL ELSE at + interval '2 minutes' END,
    CASE WHEN i > %(rows)s - %(pending)s THEN NULL ELSE at + interval '2 minutes' END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN NULL ELSE at + interval '3 minutes' END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN NULL ELSE at + interval '3 minutes' END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN NULL ELSE date_trunc('second', at + interval '3 minutes') END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN NULL ELSE i END,
    CASE WHEN i > %(rows)s - %(pending)s OR i %% 50 = 0 THEN 0 ELSE 1 END,
    '',
    0, '', 'primary'
FROM (
    SELECT i, now() - interval '365 days' + (i * interval '365 days' / %(rows)s) AS at
    FROM generate_series(1, %(rows)s) AS i
) AS series
"""

GENERATE_DECISIONS = """
INSERT INTO responses_approval (request_id, approver_id, approver_username, decision, comment, created_at, fingerprint)
SELECT id, NULL, 'bench-approver-' || (id % 7),
       CASE WHEN status = 'rejected' THEN 'reject' ELSE 'approve' END, '', decided_at, fingerprint
FROM responses_responserequest WHERE decided_at IS NOT NULL
"""


# The host directory as filing and KSC's look-ups fill it (responses/host_directory.py): a row per host and name.
GENERATE_DIRECTORY = """
INSERT INTO responses_hostdirectory (host_id, display_name, fqdn, server, first_seen, last_seen)
SELECT target_host, target_host_name, lower(target_host_name), 'primary', min(created_at), max(created_at)
FROM responses_responserequest GROUP BY target_host, target_host_name
ON CONFLICT (server, host_id, display_name) DO NOTHING
"""


# "Isolated now" (/isolated/): the hosts the portal keeps isolated, one schedule per isolating request.
# A few hundred at once is a large incident; the page lists them all (it is not paged).
ISOLATED = 300

GENERATE_ISOLATIONS = """
INSERT INTO responses_isolation (
    request_id, kind, state, host_id, host_name, since, release_at, until_released, until_released_reason,
    held_by, created_at
)
SELECT id, 'portal', 'active', target_host, target_host_name, submitted_at,
       CASE WHEN n %% 10 = 0 THEN NULL ELSE now() + (n * interval '7 minutes') END,
       n %% 10 = 0, CASE WHEN n %% 10 = 0 THEN 'Forensics' ELSE '' END,
       CASE WHEN n %% 20 = 0 THEN 'bench-approver-1' ELSE '' END, submitted_at
FROM (
    SELECT *, row_number() OVER (ORDER BY target_host) AS n
    FROM (
        SELECT DISTINCT ON (target_host) id, target_host, target_host_name, submitted_at
        FROM responses_responserequest
        WHERE status = 'submitted' AND task = 'isolateHost' AND params -> 'action' = '1'
        ORDER BY target_host, submitted_at DESC
    ) AS newest_per_host
) AS newest
WHERE n <= %(isolated)s
"""


def fill_isolations() -> None:
    """The active isolations of "Isolated now", made once (ISOLATED hosts, each by its newest isolation)."""
    from responses.models import Isolation

    if Isolation.objects.exists():
        return
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(GENERATE_ISOLATIONS, {"isolated": ISOLATED})
        cursor.execute("ANALYZE responses_isolation")


def fill_directory() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(GENERATE_DIRECTORY)
        cursor.execute("VACUUM ANALYZE responses_hostdirectory")


def generate(rows: int) -> float | None:
    """Make ``rows`` requests (and their decisions) unless the database already has them; seconds taken."""
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction

    from accounts import roles
    from responses.models import ResponseRequest

    if ResponseRequest.objects.count() == rows:
        fill_directory()  # rows made before the directory existed (migration 0021 fills it too)
        return None
    begin = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE responses_approval, responses_responserequest, responses_hostdirectory RESTART IDENTITY CASCADE"
            )
        users = [User.objects.get_or_create(username=f"bench-analyst-{n}")[0] for n in range(REQUESTERS)]
        analysts = Group.objects.get_or_create(name=roles.ANALYSTS)[0]
        for user in users:
            user.groups.add(analysts)
        first = min(user.pk for user in users)
        if [user.pk for user in users] != list(range(first, first + REQUESTERS)):
            raise SystemExit("the benchmark's analysts do not have consecutive ids; drop the benchmark database")
        with connection.cursor() as cursor:
            cursor.execute(
                GENERATE_REQUESTS,
                {"hosts": HOSTS, "requesters": REQUESTERS, "rows": rows, "first_user": first, "pending": PENDING},
            )
            cursor.execute(GENERATE_DECISIONS)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE responses_responserequest")
        cursor.execute("VACUUM ANALYZE responses_approval")
    fill_directory()
    return time.perf_counter() - begin


def measure(repeat: int) -> list[dict]:
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from rest_framework.test import APIClient

    from accounts import roles

    auditor = User.objects.get_or_create(username="bench-auditor")[0]
    auditor.groups.add(Group.objects.get_or_create(name=roles.AUDITORS)[0])
    analyst = User.objects.get(username="bench-analyst-7")
    web, own, api = Client(), Client(), APIClient()
    web.force_login(auditor)
    own.force_login(analyst)
    api.force_authenticate(auditor)
    approver = approver_client()
    cases = [
        ("auditors' list, newest first", web, "/requests/", {}),
        ("auditors' list, page 150", web, "/requests/", {"page": 150}),
        ("search by host name", web, "/requests/", {"host": "WS-04217"}),
        ("search by word (q)", web, "/requests/", {"q": "a1b2c"}),
        ("filter by requester", web, "/requests/", {"requester": "bench-analyst-3"}),
        ("filter by status (rejected)", web, "/requests/", {"status": "rejected"}),
        ("filter by approver", web, "/requests/", {"approver": "bench-approver-2"}),
        ("approval queue", web, "/approvals/", {}),
        ("approval queue, as an approver", approver, "/approvals/", {}),
        ("my requests (25,000 rows)", own, "/requests/mine/", {}),
        (f"isolated now ({ISOLATED} hosts)", web, "/isolated/", {}),
        ("API list", api, "/api/v1/requests/", {}),
        ("API list, host filter", api, "/api/v1/requests/", {"host": "WS-04217"}),
        # The host list (issue 30, point 2): the host directory grouped per host, its badges and open requests.
        ("host list", web, "/hosts/", {}),
        ("host list, page 50", web, "/hosts/", {"page": 50}),
        ("host list, search", web, "/hosts/", {"q": "WS-042"}),
    ]
    return [{"name": name, **time_page(client, url, params, repeat)} for name, client, url, params in cases]


def time_page(client, url: str, params: dict, repeat: int) -> dict:
    """One page through the whole view, ``repeat`` times after a warm-up: median, worst, SQL time, queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, params)  # warm-up
    if response.status_code != 200:
        raise SystemExit(f"{url} {params}: HTTP {response.status_code}")
    timings, sql, cpu = [], [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            begin, begin_cpu = time.perf_counter(), time.process_time()
            client.get(url, params)
            timings.append(time.perf_counter() - begin)
            cpu.append(time.process_time() - begin_cpu)
        sql.append(sum(float(query["time"]) for query in captured.captured_queries))
    return {
        "url": url,
        "params": params,
        "median_ms": statistics.median(timings) * 1000,
        "max_ms": max(timings) * 1000,
        "min_ms": min(timings) * 1000,  # the quietest moment: on a shared machine, the closest to the portal's own cost
        "sql_ms": statistics.median(sql) * 1000,
        # The portal's own CPU (this process: view, template, driver), without the time it waited for a core
        # or for PostgreSQL: on a shared machine, with sql_ms, the closest to what a quiet one would show.
        "cpu_ms": statistics.median(cpu) * 1000,
        "queries": len(captured),
    }


def set_pending(count: int) -> None:
    """Make the newest ``count`` requests pending approval (the others as generated): a flood in the queue."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM responses_responserequest")
        newest = cursor.fetchone()[0]
        reach = max(count, PENDING, PENDING_SIZES[-1])
        # Ids are the generator's i (RESTART IDENTITY): the same statuses as GENERATE_REQUESTS outside the flood.
        cursor.execute(
            """
            UPDATE responses_responserequest SET
                status = CASE WHEN id > %(newest)s - %(count)s THEN 'pending_approval'
                              WHEN id > %(newest)s - %(pending)s THEN 'pending_approval'
                              WHEN id %% 50 = 0 THEN 'rejected' ELSE 'submitted' END,
                expires_at = CASE WHEN id > %(newest)s - greatest(%(count)s, %(pending)s)
                                  THEN now() + interval '1 day' ELSE NULL END
            WHERE id > %(newest)s - %(reach)s
            """,
            {"newest": newest, "count": count, "pending": PENDING, "reach": reach},
        )
        cursor.execute("ANALYZE responses_responserequest")


def approver_client():
    """An approver's client past the second factor and the step-up, as after typing the code."""
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts import roles, stepup

    approver = User.objects.get_or_create(username="bench-approver")[0]
    approver.groups.add(Group.objects.get_or_create(name=roles.APPROVERS)[0])
    device = TOTPDevice.objects.filter(user=approver, confirmed=True).first() or TOTPDevice.objects.create(
        user=approver, name="benchmark", confirmed=True
    )
    client = Client()
    client.force_login(approver)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    stepup.mark_fresh_session(session)
    session.save()
    return client


def measure_pending(repeat: int) -> list[dict]:
    """The auditors' list as an approver (whose menu counts what waits for them), with 10 and 10,000 pending."""
    client = approver_client()
    results = []
    try:
        for count in PENDING_SIZES:
            set_pending(count)
            results.append({**time_page(client, "/requests/", {}, repeat), "pending": count})
    finally:
        set_pending(PENDING)
    return results


def run(rows: int, repeat: int, suffix: str = "lists_bench") -> dict:
    url = bench_database_url(suffix)
    ensure_database(url)
    configure(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    generated = generate(rows)
    fill_isolations()
    return {"rows": rows, "generation_s": generated, "lists": measure(repeat), "pending": measure_pending(repeat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="requests in the benchmark database")
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per list (after one warm-up)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON (for make bench)")
    parser.add_argument(
        "--database-suffix",
        default="lists_bench",
        help="the benchmark database is <DATABASE_URL's name>_<this> (--quick uses its own, keeping the million rows)",
    )
    args = parser.parse_args()
    result = run(args.rows, args.repeat, args.database_suffix)
    if args.json:
        print(json.dumps(result))
        return
    made = "reused" if result["generation_s"] is None else f"generated in {result['generation_s']:.0f} s"
    print(f"{result['rows']:,} requests ({made})")
    for row in result["lists"]:
        print(
            f"{row['name']:<32} median {row['median_ms']:7.1f} ms  best {row['min_ms']:7.1f} ms  worst {row['max_ms']:7.1f} ms  "
            f"SQL {row['sql_ms']:6.1f} ms in {row['queries']} queries  CPU {row['cpu_ms']:6.1f} ms"
        )
    for row in result["pending"]:
        print(
            f"approver's list, {row['pending']:>6,} pending  median {row['median_ms']:7.1f} ms  best {row['min_ms']:7.1f} ms  "
            f"worst {row['max_ms']:7.1f} ms  SQL {row['sql_ms']:6.1f} ms in {row['queries']} queries  CPU {row['cpu_ms']:6.1f} ms"
        )


if __name__ == "__main__":
    main()
