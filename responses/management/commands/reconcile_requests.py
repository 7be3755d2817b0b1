"""Queue every approved request that has no live job; re-queue those whose job died.

Once, for operators and cron; or with --loop, as the dedicated keeper process
(reconciler every RECONCILE_INTERVAL, retries moved out of the schedule) that a
systemd unit runs beside the workers.
"""

from __future__ import annotations

import argparse
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from responses import jobs
from worker.keeper import Keeper


class Command(BaseCommand):
    help = (
        "Enqueue every APPROVED or QUEUED request without a live job, re-queue SUBMITTING ones whose "
        "job died, expire requests past their approval window, look in KSC for requests that failed "
        "with an unknown outcome, and remove late duplicate incidents. Every worker also does this every "
        "RECONCILE_INTERVAL seconds; --loop runs it as its own process (for systemd)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="leave requests changed less than this many seconds ago to their job (default RECONCILE_GRACE)",
        )
        parser.add_argument(
            "--loop",
            action="store_true",
            help="keep running: reconcile every RECONCILE_INTERVAL and move due retries to the queue, "
            "surviving Redis outages, until SIGTERM or Ctrl-C",
        )

        # Earlier versions scheduled the periodic run with --schedule; the keeper needs no scheduling
        # now, and a cron line that still passes it keeps working.
        parser.add_argument("--schedule", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["schedule"]:
            self.stderr.write("--schedule is no longer needed: every worker's keeper runs the reconciler")
        if options["grace"] is not None and options["grace"] < 0:
            raise CommandError("--grace must be 0 or more seconds", returncode=2)
        if options["loop"]:
            if options["grace"] is not None:
                raise CommandError("--grace applies to a single run; the loop uses RECONCILE_GRACE", returncode=2)
            return self.loop()
        try:
            counts = jobs.reconcile(grace_seconds=options["grace"])
        except RedisError as exc:
            raise CommandError(f"Redis is not reachable ({exc}); nothing was queued.", returncode=1) from None
        self.stdout.write(
            f"expired {counts['expired']}, enqueued {counts['enqueued']}, re-queued {counts['requeued']}, "
            f"released {counts['released']}, found in KSC {counts['found']}, "
            f"duplicates removed {counts['duplicates_removed']}"
        )

    def loop(self) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        keeper = Keeper()
        self.stdout.write(f"keeper {keeper.name}: reconciling every RECONCILE_INTERVAL; SIGTERM stops", ending="\n")
        self.stdout.flush()
        keeper.run(stop)
        self.stdout.write("keeper stopped")
