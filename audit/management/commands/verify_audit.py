"""Verify every keyed audit chain and the anchors; report what was changed, deleted or is missing."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit import chain, export, verification
from audit.models import VerificationSource


class Command(BaseCommand):
    help = (
        "Recompute the keyed hash chain of every request, of the accounts and of the anchors "
        "(AUDIT_CHAIN_KEY). Prints every chain's first changed, deleted or out-of-order event and exits 1; "
        "prints the counts and exits 0 when intact. --against FILE also compares an export_audit file kept "
        "elsewhere (a SIEM) with the database, which catches a rewrite even by someone holding the key. "
        "The result is kept for the audit chain page (its last verification and history)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--against", help="a JSON-lines file written earlier by export_audit")

    def handle(self, *args, **options):
        # The file first: one that cannot be read stops the command before anything is verified or kept.
        kept = self._read(options["against"]) if options["against"] else None
        started = timezone.now()
        report = chain.verify()
        problems = list(report.problems)
        if kept is not None:
            problems += export.compare_with_export(kept)
        verification.record(
            report,
            source=VerificationSource.COMMAND,
            started_at=started,
            problems=problems,
            against=options["against"] or "",
        )
        if problems:
            for problem in problems:
                self.stderr.write(f"broken chain at {problem}")
            raise CommandError(f"broken chain at {problems[0]}", returncode=1)
        latest = report.latest_anchor.isoformat() if report.latest_anchor else "never"
        self.stdout.write(
            f"audit chain intact: {report.events} events verified in {report.request_chains} request chains, "
            f"{report.account_events} account events, {report.anchors} anchors (latest {latest}; "
            f"{report.unanchored} chains with events newer than it)"
            + (
                f"; {report.anchors_recorded_outside} anchors recorded in AUDIT_ANCHOR_LOG match"
                if report.anchors_recorded_outside is not None
                else "; AUDIT_ANCHOR_LOG not set: the anchors were compared with no copy outside the database"
            )
        )

    def _read(self, path: str) -> list[dict]:
        try:
            with open(path, encoding="utf-8") as kept:
                return [json.loads(line) for line in kept if line.strip()]
        except (OSError, ValueError) as exc:
            raise CommandError(f"--against {path}: cannot read it as JSON lines: {exc}", returncode=2) from None
