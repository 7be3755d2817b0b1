"""Write the domain audit trail as JSON lines (to stdout or a file), for a SIEM."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from audit.export import event_lines


class Command(BaseCommand):
    help = (
        "Write every audit record (request events, account events, anchors; or those since --since) as JSON "
        "lines for a SIEM. Keep them: verify_audit --against FILE compares them with the database later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help="only records at or after this time, e.g. 2026-11-27T00:00:00Z (pull with an overlap of a few "
            "minutes; a record is unique by record, chain and seq)",
        )
        parser.add_argument("--output", help="a file to write (default: standard output)")

    def handle(self, *args, **options):
        since = None
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                raise CommandError("--since must be a date and time such as 2026-11-27T08:00:00Z", returncode=2)
        lines = event_lines(since)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.writelines(lines)
        else:
            for line in lines:
                self.stdout.write(line, ending="")
