"""Run the KSC simulator: a real HTTPS Open API server for demos, `make run` and manual testing."""

from __future__ import annotations

import signal
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ksc_simulator.hierarchy import KEY_TTL, TopologyError, parse_secondary
from ksc_simulator.inventory import InventoryError, default_hosts, load_hosts
from ksc_simulator.server import KscSimulator


def _stop_on_sigterm(signum, frame):
    # SIGTERM (from `make run` or a supervisor) stops the server like Ctrl-C, closing it cleanly.
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Serve a simulated KSC Open API over HTTPS. Prints its URL and certificate path, then a line "
        "'KSC simulator ready on <url>' once it accepts connections. By default one Administration "
        "Server; --vserver and --secondary add virtual servers (logged in to with X-KSC-VServer) and "
        "secondaries (reached through the primary's gateway: CgwHelper.GetSlaveServerLocation, "
        "GatewayConnection.PrepareGatewayConnection, a KSCGW login at this URL), each with six hosts of "
        "its own named after it. Example: --vserver tenant-a --vserver tenant-b --secondary 11:emea "
        "--secondary 21:emea-paris:11 --failing-secondary 21. See docs/ksc-wire.md, section 11."
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
            help="keep the incidents, tasks and topology (every server's) in FILE: loaded at start if it "
            "exists, saved after every change; without topology options the saved topology is served again",
        )
        parser.add_argument(
            "--vserver",
            action="append",
            default=[],
            metavar="NAME",
            help="a virtual Administration Server on the primary, chosen at login by X-KSC-VServer "
            "(base64 of NAME); repeat for more",
        )
        parser.add_argument(
            "--secondary",
            action="append",
            default=[],
            metavar="ID:NAME[:PARENT]",
            help="a secondary server: its KLSRVH_SRV_ID, its name (KLSRVH_SRV_DN) and, for a deeper level, "
            "the id of the secondary above it (none: below the primary); repeat for more",
        )
        parser.add_argument(
            "--failing-secondary",
            action="append",
            default=[],
            type=int,
            metavar="ID",
            help="a secondary that does not answer: gateway logins to it get 503, and FindHostsAsync "
            "names it in pFailedSlavesInfo; repeat for more",
        )
        parser.add_argument(
            "--gateway-key-ttl",
            type=float,
            default=KEY_TTL,
            metavar="SECONDS",
            help=f"how long a gateway key (wstrAuthKey) is good for its one login (default {KEY_TTL:g})",
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
            secondaries = [parse_secondary(text) for text in options["secondary"]]
        except TopologyError as error:
            raise CommandError(str(error)) from None
        if options["gateway_key_ttl"] <= 0:
            raise CommandError("--gateway-key-ttl must be a number of seconds above 0.")
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
                vservers=options["vserver"],
                secondaries=secondaries,
                failing_secondaries=options["failing_secondary"],
                gateway_key_ttl=options["gateway_key_ttl"],
            )
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot start the KSC simulator: {error}") from None

        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        out = self.stdout
        out.write(f"KSC simulator: {simulator.url} (user {user!r}, {len(hosts)} hosts)")
        generated = " (self-signed, generated now)" if simulator.generated_certificate else ""
        out.write(f"certificate: {simulator.cert_path}{generated}")
        out.write(f"incidents received: {simulator.url}/_simulator/incidents")
        topology = simulator.state.topology
        for name in topology.vservers:
            out.write(f"virtual server: {name!r} (X-KSC-VServer at login; ?server=vserver:{name})")
        for secondary in topology.secondaries.values():
            below = f"secondary {secondary.parent}" if secondary.parent is not None else "the primary"
            failing = ", failing" if secondary.failing else ""
            out.write(
                f"secondary: {secondary.id} {secondary.name!r} below {below}{failing} "
                f"(through the gateway; ?server=secondary:{secondary.id})"
            )
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
