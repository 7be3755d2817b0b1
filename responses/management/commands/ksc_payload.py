"""Print exactly what the portal would send to KSC's HostGroup.AddIncident for a request."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from ksc_client import wire
from responses import catalog, payload


class Command(BaseCommand):
    help = (
        "Validate a response and print the AddIncident pData as the KSC Open API encodes it. "
        "Exits 2 and prints the validation errors when the input is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--task", required=True, help="task type: " + ", ".join(catalog.TASK_NAMES))
        parser.add_argument("--host", required=True, help="KSC internal host id (KLHST_WKS_HOSTNAME)")
        parser.add_argument("--params", required=True, help="the task's params as JSON")
        parser.add_argument(
            "--added",
            help="KLINCDT_ADDED as YYYY-MM-DDTHH:MM:SSZ (default: now, UTC)",
        )
        parser.add_argument("--update", action="store_true", help="also print the UpdateIncident pData")

    def handle(self, *args, **options):
        errors: list[str] = []
        try:
            raw_params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc}", returncode=2) from None
        try:
            host = catalog.clean_target_host(options["host"])
        except ValueError as exc:
            errors.append(f"--host: {exc}")
            host = None
        try:
            params = catalog.clean_params(options["task"], raw_params)
        except catalog.ParamErrors as exc:
            for key, messages in exc.errors.items():
                where = "--task" if key == "task" else f"params{'.' + key if key and not key.startswith('[') else key}"
                errors.extend(f"{where}: {message}" for message in messages)
        added = None
        if options["added"]:
            try:
                added = wire.parse_datetime(options["added"])
            except ValueError:
                errors.append("--added: expected YYYY-MM-DDTHH:MM:SSZ")
        if errors:
            raise CommandError("refused:\n  " + "\n  ".join(errors), returncode=2)
        calls = payload.calls_json(options["task"], host, params, payload.incident_time(added))
        output = calls if options["update"] else calls["AddIncident"]["pData"]
        self.stdout.write(json.dumps(output, indent=2, ensure_ascii=False))
