"""Queue every approved request that has no live job; re-queue those whose job died."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from responses import jobs


class Command(BaseCommand):
    help = (
        "Enqueue every APPROVED or QUEUED request without a live job, re-queue SUBMITTING ones whose "
        "job died, expire requests past their approval window, look in KSC for requests that failed "
        "with an unknown outcome, and remove late duplicate incidents. The worker also runs this every "
        "RECONCILE_INTERVAL seconds; this command is for operators and cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="leave requests changed less than this many seconds ago to their job (default RECONCILE_GRACE)",
        )
        parser.add_argument("--schedule", action="store_true", help="also make sure the periodic run is scheduled")

    def handle(self, *args, **options):
        if options["grace"] is not None and options["grace"] < 0:
            raise CommandError("--grace must be 0 or more seconds", returncode=2)
        try:
            counts = jobs.reconcile(grace_seconds=options["grace"])
            if options["schedule"]:
                jobs.schedule_reconciler()
        except RedisError as exc:
            raise CommandError(f"Redis is not reachable ({exc}); nothing was queued.", returncode=1) from None
        self.stdout.write(
            f"expired {counts['expired']}, enqueued {counts['enqueued']}, re-queued {counts['requeued']}, "
            f"released {counts['released']}, found in KSC {counts['found']}, "
            f"duplicates removed {counts['duplicates_removed']}"
        )
