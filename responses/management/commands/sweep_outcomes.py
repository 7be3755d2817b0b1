"""Run one outcome sweep now: follow every open request's [Response] task in KSC once."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from responses import outcomes


class Command(BaseCommand):
    help = (
        "Check every open outcome that is due against KSC's [Response] tasks once, and print what changed. "
        "The worker runs this every OUTCOME_SWEEP_INTERVAL seconds; this command is for operators and cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--schedule", action="store_true", help="also make sure the periodic sweep is scheduled")

    def handle(self, *args, **options):
        try:
            result = outcomes.sweep()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=2) from None
        if options["schedule"]:
            try:
                outcomes.schedule_outcome_sweep()
            except RedisError as exc:
                raise CommandError(f"Redis is not reachable ({exc}); the sweep ran but is not scheduled.") from None
        changes = ", ".join(f"{state} {count}" for state, count in sorted(result.changes.items())) or "none"
        self.stdout.write(
            f"due {result.due}, opened {result.created}, matched {result.matched}, changed {result.changed} "
            f"({changes}), closed {result.closed}; {result.tasks_walked} tasks walked, {result.calls} KSC calls, "
            f"{result.seconds:.2f} s" + (" (call budget spent)" if result.budget_spent else "")
        )
        if result.unreachable:
            raise CommandError(f"KSC could not be asked: {result.unreachable}", returncode=1)
