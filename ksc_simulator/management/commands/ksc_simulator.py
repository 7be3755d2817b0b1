"""Run the KSC simulator: a real HTTPS Open API server for demos, `make run` and manual testing."""

from __future__ import annotations

import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ksc_simulator.inventory import InventoryError, default_hosts, load_hosts
from ksc_simulator.server import KscSimulator


def _stop_on_sigterm(signum, frame):
    # SIGTERM (from `make run` or a supervisor) stops the server like Ctrl-C, closing it cleanly.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Serve a simulated KSC Open API over HTTPS. Prints its URL and certificate path, then a line "
        "'KSC simulator ready on <url>' once it accepts connections."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=13299, help="port (default 13299; 0 picks a free one)")
        parser.add_argument("--user", help="the account clients log in with (default: KSC_USER)")
        parser.add_argument("--password", help="its password (default: KSC_PASSWORD)")
        parser.add_argument("--domain", default="", help="the account's domain (default: none)")
        parser.add_argument("--cert", help="TLS certificate (PEM); default: a self-signed one generated at start")
        parser.add_argument("--key", help="the certificate's private key (PEM)")
        parser.add_argument("--cert-dir", help="where to write the generated certificate (default: a temp dir)")
        parser.add_argument(
            "--hosts", help="JSON file of hosts (see ksc_simulator/inventory.py); default: 53 demo hosts"
        )
        parser.add_argument("--session-ttl", type=float, default=1800, help="seconds an unused session lives")
        parser.add_argument("--idle-timeout", type=float, default=120, help="seconds an idle connection stays open")
        parser.add_argument("--verbose", action="store_true", help="log every request line (never headers)")
        parser.add_argument(
            "--state",
            metavar="FILE",
            help="keep the incidents in FILE: loaded at start if it exists, saved after every change",
        )

    def handle(self, *args, **options):
        user = options["user"] or settings.KSC_USER
        password = options["password"] or settings.KSC_PASSWORD
        if not user or not password:
            raise CommandError("Give --user and --password (or set KSC_USER and KSC_PASSWORD).")
        if bool(options["cert"]) != bool(options["key"]):
            raise CommandError("Give both --cert and --key, or neither.")
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be 0 to 65535.")
        try:
            hosts = load_hosts(options["hosts"]) if options["hosts"] else default_hosts()
        except InventoryError as error:
            raise CommandError(f"--hosts: {error}") from None
        try:
            simulator = KscSimulator(
                user=user,
                password=password,
                domain=options["domain"],
                hosts=hosts,
                bind=options["bind"],
                port=options["port"],
                cert_path=options["cert"],
                key_path=options["key"],
                cert_dir=options["cert_dir"],
                session_ttl=options["session_ttl"],
                idle_timeout=options["idle_timeout"],
                verbose=options["verbose"],
                state_file=options["state"],
            )
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot start the KSC simulator: {error}") from None

        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        out = self.stdout
        out.write(f"KSC simulator: {simulator.url} (user {user!r}, {len(hosts)} hosts)")
        generated = " (self-signed, generated now)" if simulator.generated_certificate else ""
        out.write(f"certificate: {simulator.cert_path}{generated}")
        out.write(f"incidents received: {simulator.url}/_simulator/incidents")
        if options["state"]:
            count = len(simulator.state.incidents)
            out.write(f"incidents kept in {options['state']} ({count} loaded)")
        out.write(f"KSC simulator ready on {simulator.url}")
        out.flush()
        sys.stdout.flush()
        try:
            simulator.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
            out.write("KSC simulator stopped")
