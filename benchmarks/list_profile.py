"""Where the list pages spend their Python: server time, template time and the top functions per page.

    .venv/bin/python benchmarks/list_profile.py [--database-suffix lists_quick] [--repeat 20] [--top 15]
                                                [--language en] [--no-profile] [--json]

Uses benchmarks/lists.py's database (``--database-suffix`` as there; run ``benchmarks/lists.py
--rows 20000 --database-suffix lists_quick`` first, or ``--database-suffix lists_bench`` for the
million rows). Each page is requested through Django's test client at 50 rows, ``--repeat``
times after a warm-up, with DEBUG off (the cached template loader, as in production):

- the auditors' list (``/requests/``), as an auditor; again with its filter fields rendered anew
  for every request ("filters new": a first visit, before responses/templatetags/list_tags.py
  keeps their HTML);
- the approval queue (``/approvals/``), as an approver (who gets a verdict per request);
- my requests (``/requests/mine/``), as an analyst with 25,000 requests;
- isolated now (``/isolated/``), as an auditor (lists.py's ISOLATED hosts, not paged).

For each page it prints the median server time, the median time spent rendering the page's
template (the outermost template render, SQL run during it left out), each also as CPU time of
this process (on a loaded machine, the part that is the portal's own work rather than waiting
for a core), the median SQL time and the number of queries; then, unless ``--no-profile``, the ``--top`` functions by own time
over the same requests (cProfile). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Clock:
    """Time spent in SQL, and in the page's template apart from the SQL run while it renders."""

    def __init__(self) -> None:
        self.sql = 0.0
        self.render = 0.0
        self.render_cpu = 0.0
        self.sql_in_render = 0.0
        self.depth = 0
        self.queries = 0

    def reset(self) -> None:
        self.sql = self.render = self.render_cpu = self.sql_in_render = 0.0
        self.queries = 0

    def execute(self, execute, sql, params, many, context):
        begin = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - begin
            self.sql += spent
            self.queries += 1
            if self.depth:
                self.sql_in_render += spent


@contextmanager
def timed_templates(clock: Clock):
    """Wrap the template backend's render (what ``render()`` calls once per page) with the clock."""
    from django.template.backends.django import Template

    original = Template.render

    def render(self, context=None, request=None):
        clock.depth += 1
        begin, begin_cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, context, request)
        finally:
            clock.depth -= 1
            if not clock.depth:
                clock.render += time.perf_counter() - begin
                clock.render_cpu += time.process_time() - begin_cpu

    Template.render = render
    try:
        yield
    finally:
        Template.render = original


def clients():
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from accounts import roles
    from benchmarks import lists

    auditor = User.objects.get_or_create(username="bench-auditor")[0]
    auditor.groups.add(Group.objects.get_or_create(name=roles.AUDITORS)[0])
    web, own = Client(), Client()
    web.force_login(auditor)
    own.force_login(User.objects.get(username="bench-analyst-7"))
    return {"auditor": web, "approver": lists.approver_client(), "analyst": own}


# (name, who, URL, whether the filter fields' HTML is forgotten before each request: a first visit's cost)
PAGES = [
    ("auditors' list", "auditor", "/requests/", False),
    ("  filters new", "auditor", "/requests/", True),
    ("approval queue", "approver", "/approvals/", False),
    ("my requests", "analyst", "/requests/mine/", False),
    ("isolated now", "auditor", "/isolated/", False),
]


def measure(repeat: int, top: int, language: str, profile: bool) -> list[dict]:
    from django.db import connection

    from responses.templatetags import list_tags

    by_role = clients()
    clock = Clock()
    results = []
    with connection.execute_wrapper(clock.execute), timed_templates(clock):
        for name, role, url, forget in PAGES:
            client = by_role[role]
            client.cookies["django_language"] = language
            params = {"per_page": 50} if url != "/isolated/" else {}
            response = client.get(url, params)  # warm-up
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            total, cpu, render, render_cpu, sql, queries = [], [], [], [], [], 0
            for _ in range(repeat):
                if forget:
                    getattr(list_tags, "forget_filter_fields", lambda: None)()
                clock.reset()
                begin, begin_cpu = time.perf_counter(), time.process_time()
                client.get(url, params)
                total.append((time.perf_counter() - begin) * 1000)
                cpu.append((time.process_time() - begin_cpu) * 1000)
                render.append((clock.render - clock.sql_in_render) * 1000)
                render_cpu.append(clock.render_cpu * 1000)
                sql.append(clock.sql * 1000)
                queries = clock.queries
            result = {
                "name": name,
                "url": url,
                "rows": response.content.count(b"<tr") - 1
                if url != "/approvals/"
                else response.content.count(b'class="queue-entry"'),
                "server_median_ms": statistics.median(total),
                "server_min_ms": min(total),
                "cpu_median_ms": statistics.median(cpu),
                "render_median_ms": statistics.median(render),
                "render_cpu_median_ms": statistics.median(render_cpu),
                "sql_median_ms": statistics.median(sql),
                "queries": queries,
            }
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(repeat):
                    if forget:
                        getattr(list_tags, "forget_filter_fields", lambda: None)()
                    client.get(url, params)
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats("tottime").print_stats(top)
                result["profile"] = out.getvalue()
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-suffix", default="lists_quick", help="benchmarks/lists.py's database suffix")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--top", type=int, default=15, help="functions printed per page, by own time")
    parser.add_argument("--language", default="en", help="en or ja")
    parser.add_argument("--no-profile", action="store_true", help="only the timings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from benchmarks import lists

    lists.configure(lists.bench_database_url(args.database_suffix))
    import django

    django.setup()
    from responses.models import ResponseRequest

    if not ResponseRequest.objects.exists():
        raise SystemExit(f"no requests: run benchmarks/lists.py --database-suffix {args.database_suffix} first")
    lists.fill_isolations()
    results = measure(args.repeat, args.top, args.language, not args.no_profile and not args.json)
    if args.json:
        print(json.dumps({"language": args.language, "pages": results}))
        return
    for item in results:
        print(
            f"{item['name']:<15} {item['rows']:>4} rows  server median {item['server_median_ms']:6.1f} ms "
            f"(best {item['server_min_ms']:6.1f}, CPU {item['cpu_median_ms']:6.1f})  "
            f"template {item['render_median_ms']:6.1f} ms (CPU {item['render_cpu_median_ms']:6.1f})  "
            f"SQL {item['sql_median_ms']:5.1f} ms in {item['queries']} queries"
        )
    for item in results:
        if "profile" in item:
            print(f"\n=== {item['name']} ({item['url']}), {args.repeat} requests, by own time")
            lines = item["profile"].strip().splitlines()
            start = next((n for n, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
            print("\n".join(lines[start:]))


if __name__ == "__main__":
    main()
