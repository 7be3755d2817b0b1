"""Write the domain audit trail as JSON lines (to stdout or a file), for a SIEM."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from audit import dates
from audit.export import event_lines


class Command(BaseCommand):
    help = (
        "Write every audit record (request events, account events, anchors; or those between --since and --until, "
        "or one --request's events) as JSON "
        "lines for a SIEM. Keep them: verify_audit --against FILE compares them with the database later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            help="only records at or after this time, e.g. 2026-11-27T00:00:00Z (pull with an overlap of a few "
            "minutes; a record is unique by record, chain and seq)",
        )
        parser.add_argument(
            "--until", help="only records before this time; a date alone takes in that whole day (e.g. 2026-11-27)"
        )
        parser.add_argument("--request", help="only this request's events (its id, a UUID)")
        parser.add_argument("--output", help="a file to write (default: standard output)")

    def handle(self, *args, **options):
        bounds = {}
        for name, end in (("since", False), ("until", True)):
            if options[name]:
                try:
                    bounds[name] = dates.moment(options[name], end=end)
                except dates.BadDate as exc:
                    raise CommandError(f"--{name}: {exc}", returncode=2) from None
        chain = None
        if options["request"]:
            try:
                chain = str(uuid.UUID(options["request"]))
            except ValueError:
                raise CommandError("--request must be a request's id (a UUID)", returncode=2) from None
        lines = event_lines(bounds.get("since"), until=bounds.get("until"), chain=chain)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.writelines(lines)
        else:
            for line in lines:
                self.stdout.write(line, ending="")
