"""`make bench`: every benchmark, then one table of each figure beside its floor or target.

    .venv/bin/python benchmarks/run_all.py [--quick]

Runs, one after the other (each in its own process, so that none warms another):
benchmarks/submit_latency.py (latency beside the no-op job; drains with 1, 2 and 4 workers
beside the plain loop), benchmarks/lists.py (a million rows; PostgreSQL only),
benchmarks/list_render.py (the request table's rendering alone, in the same rows) and
benchmarks/list_profile.py (each list page's template and CPU time),
benchmarks/load.py (50 users, 60 s), and benchmarks/outcome_sweep.py when it exists.
--quick makes every run small (about a minute of CPU), to check that the pipeline works; its
figures mean little. CI runs it (.ci/run) so that the harness cannot rot. The exit status is
1 when a benchmark failed to run or the load run had errors; the figures are never asserted.

The targets are issues 19's and 24's (every list page ≤ 50 ms at a million rows; the
approver's list with 10,000 pending within 10% of the same with 10). "ratio" is measured / target for ceilings (at most 1 is met)
and target / measured for floors (at most 1 is met, too): above 1 is how far off it is.
The machine's load average is printed beside the table: the figures are only as quiet
as the machine was. Nothing here is a test: `make test` never runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# Scripts that exited with an error: make bench (and CI's --quick run) then exits with status 1.
FAILED: list[str] = []


def run_json(script: str, *args: str) -> dict | str:
    """The JSON a benchmark prints last, or why there is none."""
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args, "--json"], cwd=ROOT, capture_output=True, text=True
    )
    print(f"  {script} {' '.join(args)}: {time.perf_counter() - begin:.0f} s, exit {done.returncode}", flush=True)
    if done.returncode != 0:
        FAILED.append(script)
        print("\n".join("    " + line for line in done.stderr.strip().splitlines()[-5:]), flush=True)
    for line in reversed(done.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return (done.stderr.strip().splitlines() or ["no output"])[-1]


def row(name: str, measured: float | None, target: float | None, unit: str, *, ceiling: bool) -> list[str]:
    if measured is None or target is None:
        return [name, "n/a", "n/a", "", ""]
    if ceiling:
        ratio = measured / target if target else float("inf")
        bound = f"≤ {target:.1f} {unit}"
    else:
        ratio = target / measured if measured else float("inf")
        bound = f"≥ {target:.1f} {unit}"
    return [name, f"{measured:.1f} {unit}", bound, f"{ratio:.2f}", "met" if ratio <= 1 else "NOT MET"]


def table(submit: dict | str, lists: dict | str, load: dict | str) -> list[list[str]]:
    rows = []
    if isinstance(submit, dict):
        pair_ms = 1000 / submit["plain_rps"]
        drains = {int(count): rate for count, rate in submit["drain_rps"].items()}
        rows.append(
            row(
                "approval → incident id p99, 1 worker",
                submit["latency_p99_ms"],
                2 * (submit["noop_p99_ms"] + pair_ms),
                "ms",
                ceiling=True,
            )
        )
        rows.append(
            ["  (no-op RQ job p99; one KSC pair)", f"{submit['noop_p99_ms']:.1f} ms; {pair_ms:.1f} ms", "", "", ""]
        )
        rows.append(row("drain 1,000, 2 workers", drains.get(2), 0.5 * submit["plain_rps"], "req/s", ceiling=False))
        rows.append(["  (plain client loop)", f"{submit['plain_rps']:.0f} req/s", "", "", ""])
        for count in sorted(drains):
            rows.append([f"  drain with {count} worker(s)", f"{drains[count]:.0f} req/s", "", "", ""])
        counts = sorted(drains)
        for smaller, larger in zip(counts, counts[1:], strict=False):
            # Grows with workers, until KSC (the plain loop) is the limit.
            floor = min(drains[smaller], 0.9 * submit["plain_rps"])
            rows.append(row(f"drain grows {smaller} → {larger} workers", drains[larger], floor, "req/s", ceiling=False))
        rows.append(
            row("per-job cost beyond the KSC pair, 1 worker", submit["per_job_beyond_ms"], 5.0, "ms", ceiling=True)
        )
        rows.append(["  (one PostgreSQL commit here; a job makes 3)", f"{submit['commit_ms']:.1f} ms", "", "", ""])
    else:
        rows.append(["submission benchmarks", f"failed: {submit}", "", "", ""])
    if isinstance(lists, dict):
        scale = f"{lists['rows']:,}"
        # Issue 24: every list page within 50 ms of server time at a million requests.
        for item in lists["lists"]:
            rows.append(row(f"{item['name']} at {scale}", item["median_ms"], 50.0, "ms", ceiling=True))
        pending = {item["pending"]: item for item in lists.get("pending", [])}
        if pending:
            fewest, most = min(pending), max(pending)
            rows.append(
                row(
                    f"approver's list, {most:,} pending vs {fewest:,}",
                    pending[most]["median_ms"],
                    1.1 * pending[fewest]["median_ms"],
                    "ms",
                    ceiling=True,
                )
            )
        queries = sorted({item["queries"] for item in lists["lists"] if item["url"].startswith("/requests")})
        rows.append(["  (queries per web list page)", ", ".join(map(str, queries)), "constant", "", ""])
        if lists.get("generation_s"):
            rows.append([f"  (generating {scale} rows)", f"{lists['generation_s']:.0f} s", "", "", ""])
    else:
        rows.append(["lists at 1,000,000", f"skipped: {lists}", "", "", ""])
    if isinstance(load, dict):
        rows.append(row(f"load: {load['users']} users, errors", float(load["errors"]), 0.0, "", ceiling=True))
        rows[-1][3] = "" if load["errors"] == 0 else str(load["errors"])
        rows[-1][4] = "met" if load["errors"] == 0 else "NOT MET"
        rows.append(
            [
                "  (load: requests/s; DB connections at most)",
                f"{load['requests_per_s']:.1f}; {load['peak_db_connections']}",
                "",
                "",
                "",
            ]
        )
        rows.append(row("rq worker memory after the load", load["rq_worker_mb"], 120.0, "MB", ceiling=True))
        rows.append(
            row("web (gunicorn worker) memory after the load", load["web_worker_mb"], 150.0, "MB", ceiling=True)
        )
    else:
        rows.append(["load", f"failed: {load}", "", "", ""])
    return rows


def campaign_rows(campaign: dict | str) -> list[list[str]]:
    """Issue 27's targets: a campaign submits at half the plain loop's rate or better; filing and pages."""
    if not isinstance(campaign, dict):
        return [["campaign benchmark", f"failed: {campaign}", "", "", ""]]
    hosts = f"{campaign['hosts']:,}"
    return [
        row(
            f"campaign of {hosts}, {campaign['workers']} workers",
            campaign["campaign_per_s"],
            0.5 * campaign["plain_per_s"],
            "hosts/s",
            ceiling=False,
        ),
        ["  (plain AddIncident + UpdateIncident loop)", f"{campaign['plain_per_s']:.0f} pairs/s", "", "", ""],
        row(f"filing a {hosts}-line list", campaign["filing_s"], 5.0, "s", ceiling=True),
        row(f"campaign page, {hosts} hosts", campaign["page_ms"], 100.0, "ms", ceiling=True),
        row(f"campaign API, {hosts} hosts", campaign["api_ms"], 100.0, "ms", ceiling=True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small runs, to check the pipeline")
    args = parser.parse_args()
    print("running the benchmarks (several minutes; the first lists run generates a million rows)", flush=True)
    quick = args.quick
    submit = run_json(
        "submit_latency.py", *(["--latency", "30", "--drain", "100", "--workers", "1,2"] if quick else [])
    )
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) or os.environ.get(
        "BENCH_DATABASE_URL"
    ):
        # --quick in a database of its own: the million rows of a full run stay for the next one.
        lists = run_json(
            "lists.py", *(["--rows", "20000", "--repeat", "3", "--database-suffix", "lists_quick"] if quick else [])
        )
        # The list's own rendering, apart from its SQL, in the database lists.py just filled.
        render = run_json("list_render.py", "--database-suffix", "lists_quick" if quick else "lists_bench")
        # Each list page's template and CPU time through the whole view (issue 24, point 5).
        profile = run_json(
            "list_profile.py",
            "--database-suffix",
            "lists_quick" if quick else "lists_bench",
            "--repeat",
            "3" if quick else "15",
        )
    else:
        lists = render = profile = "needs PostgreSQL (DATABASE_URL=postgres://...)"
    load = run_json("load.py", *(["--users", "10", "--seconds", "10"] if quick else []))
    campaign = run_json("campaign.py", *(["--hosts", "100"] if quick else []))
    sweep = ROOT / "benchmarks" / "outcome_sweep.py"
    if sweep.exists():
        begin = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(sweep), *(["--outcomes", "500"] if quick else [])],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print(f"  outcome_sweep.py: {time.perf_counter() - begin:.0f} s, exit {done.returncode}")
        if done.returncode != 0:
            FAILED.append("outcome_sweep.py")
        print("\n".join("    " + line for line in done.stdout.strip().splitlines()[-15:]))
    rows = [["figure", "measured", "target", "ratio", ""], *table(submit, lists, load), *campaign_rows(campaign)]
    if isinstance(render, dict):
        rows.append(
            row(
                f"request table, {render['rows']} rows, render only",
                render["table_median_ms"],
                20.0,
                "ms",
                ceiling=True,
            )
        )
        rows.append(
            ["  (whole list page's template, menu and filters)", f"{render['page_median_ms']:.1f} ms", "", "", ""]
        )
    if isinstance(profile, dict):
        for page in profile["pages"]:
            rows.append(
                row(
                    f"{page['name'].strip()} ({page['rows']} rows): template",
                    page["render_median_ms"],
                    20.0 if page["rows"] <= 50 else None,
                    "ms",
                    ceiling=True,
                )
                if page["rows"] <= 50
                else [
                    f"  ({page['name'].strip()}, {page['rows']} rows: template)",
                    f"{page['render_median_ms']:.1f} ms",
                    "",
                    "",
                    "",
                ]
            )
            rows.append(
                [
                    "  (server time; CPU of it)",
                    f"{page['server_median_ms']:.1f} ms; {page['cpu_median_ms']:.1f} ms",
                    "",
                    "",
                    "",
                ]
            )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print()
    for index, cells in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(
        f"\nload average during the run (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}; cores: {os.cpu_count()}"
    )
    if isinstance(load, dict):
        print("\nload, per endpoint:")
        for name, item in load["endpoints"].items():
            print(
                f"  {name:<42} {item['count']:>6}  p50 {item['p50_ms']:8.1f} ms  p99 {item['p99_ms']:8.1f} ms  errors {item['errors']}"
            )
        if load["errors"]:
            print(f"load errors: {load['error_kinds']}")
    if FAILED:
        # The figures are never asserted, but a benchmark that cannot run (or a load run with errors) fails.
        print(f"\nFAILED: {', '.join(FAILED)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
