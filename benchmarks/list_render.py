"""The request list's own cost: rendering 50 rows of the auditors' list, apart from its SQL.

    .venv/bin/python benchmarks/list_render.py [--rows 50] [--repeat 30] [--language en] [--profile] [--json]

Uses benchmarks/lists.py's database (made there; ``--database-suffix`` as there, default
``lists_quick``: run ``benchmarks/lists.py --rows 20000 --database-suffix lists_quick``
first). Loads one page of the auditors' list (rows of every status, as the list's query
annotates them) once, then times rendering the request table alone and the whole page
(``responses/all_requests.html`` with the menu), ``--repeat`` times after a warm-up,
with DEBUG off (the cached template loader, as in production). ``--profile`` prints
where the table's rendering spends its time (cProfile, top 25 by own time). Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(rows: int, repeat: int, language: str, suffix: str, profile: bool) -> dict:
    from benchmarks import lists

    lists.configure(lists.bench_database_url(suffix))
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.template import engines
    from django.template.loader import render_to_string
    from django.test import RequestFactory
    from django.utils import translation

    from accounts import roles
    from responses.filtersets import RequestFilterSet
    from responses.models import ResponseRequest
    from responses.paging import BoundedPaginator
    from responses.views.lists import _list_rows

    if not ResponseRequest.objects.exists():
        raise SystemExit(f"no requests in {suffix}: run benchmarks/lists.py --database-suffix {suffix} first")
    auditor = User.objects.get_or_create(username="bench-auditor")[0]
    auditor.groups.add(Group.objects.get_or_create(name=roles.AUDITORS)[0])
    request = RequestFactory().get("/requests/")
    request.user = auditor
    filters = RequestFilterSet({}, queryset=ResponseRequest.objects.visible_to(auditor))
    page = BoundedPaginator(_list_rows(filters.rows()), rows).get_page(1)
    list(page.object_list)  # the SQL, once: only rendering is timed below
    loaders = [
        type(loader).__module__ + "." + type(loader).__name__ for loader in engines["django"].engine.template_loaders
    ]
    table = {"page": page, "caption": "All requests", "query": "", "page_sizes": [25, 50, 100]}
    whole = {**table, "filters": filters.form, "export_query": "", "chain": None}

    def time_it(render) -> list[float]:
        render()
        timings = []
        for _ in range(repeat):
            begin = time.perf_counter()
            render()
            timings.append((time.perf_counter() - begin) * 1000)
        return timings

    with translation.override(language):
        table_ms = time_it(lambda: render_to_string("responses/_request_table.html", table, request))
        page_ms = time_it(lambda: render_to_string("responses/all_requests.html", whole, request))
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(repeat):
                render_to_string("responses/_request_table.html", table, request)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "rows": len(page.object_list),
        "language": language,
        "loaders": loaders,
        "table_median_ms": statistics.median(table_ms),
        "table_min_ms": min(table_ms),
        "page_median_ms": statistics.median(page_ms),
        "page_min_ms": min(page_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--language", default="en", help="en or ja (translation look-ups differ)")
    parser.add_argument("--database-suffix", default="lists_quick", help="benchmarks/lists.py's database suffix")
    parser.add_argument("--profile", action="store_true", help="print the table's profile to stderr")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.rows, args.repeat, args.language, args.database_suffix, args.profile)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['rows']} rows, {result['language']}; template loaders: {', '.join(result['loaders'])}")
    print(f"request table alone: median {result['table_median_ms']:.1f} ms, best {result['table_min_ms']:.1f} ms")
    print(
        f"whole page (menu, filters, table): median {result['page_median_ms']:.1f} ms, best {result['page_min_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
