"""An operator's doctor for the KSC connection: each step OK, or what is wrong in plain words.

    manage.py ksc_check                              # every configured server, one after the other
    manage.py ksc_check --server eu                  # one server (a name of KSC_SERVERS_FILE)
    manage.py ksc_check --server eu --probe HOST_ID  # and a REAL harmless task on one host (below)

With several servers each is checked on its own: one failing says nothing of the others (the
exit status is 1 when any failed). ``--probe HOST_ID`` files a real onDemandScan of the host's
critical areas (system memory, startup objects, boot sectors) on that server and waits
(``--wait``, 120 s) for KES's ``[Response]`` task: a server that gets the incident but shows no
task within the wait has no working Web Console background connection, and the portal will
follow no outcome there (README, "Several KSC servers").

Steps, in order (a failed step stops those that need it): the settings, a TCP
connection to KSC_HOST:KSC_PORT, the TLS certificate checked as the portal
checks it, the login (bad credentials and KSC's two-factor requirement told
apart), one managed host and its details, reading incidents, reading tasks
(the outcome tracking needs it) and a host's task list. Exit status 1 when any
step failed. Nothing is written to KSC.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ksc_client import filters
from ksc_client import tasks as ksc_tasks
from ksc_client.attributes import DISPLAY_NAME, GROUP_ID, HOST_ID, INCIDENT_ID, LAST_VISIBLE, OS_NAME
from ksc_client.client import KscConfig
from ksc_client.errors import KscAuthError, KscCallError, KscError, KscMfaRequired, KscTlsError, KscUnavailable
from ksc_client.transport import requests_verify
from responses import catalog, ksc_servers, payload, server_state
from responses.ksc_servers import build_client, default_config
from responses.outcomes import parse_task_name

HOST_DETAILS = (DISPLAY_NAME, OS_NAME, LAST_VISIBLE, GROUP_ID)
# The probe's scan: the host's critical areas (catalog.SCAN_OBJECT_TYPES 14, 15, 16), nothing that changes it.
PROBE_AREAS = tuple({"enabled": True, "path": "", "recursive": False, "type": kind} for kind in (14, 15, 16))
log = logging.getLogger(__name__)


class StepFailed(Exception):
    """A check failed; the message says what is wrong and what to do."""


class Command(BaseCommand):
    help = (
        "Check the connection to each KSC server step by step (TLS, login, hosts, incidents, tasks); "
        "--probe files a real harmless scan and waits for its [Response] task; exit 1 on any failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("--server", help="check this server only (its name in KSC_SERVERS_FILE)")
        parser.add_argument(
            "--probe",
            metavar="HOST_ID",
            help="file a REAL onDemandScan of the host's critical areas on the server and wait for its [Response] task",
        )
        parser.add_argument("--wait", type=int, default=120, help="seconds to wait for the probe's task (default 120)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.failed = 0
        names = ksc_servers.server_names()
        chosen = options.get("server")
        probe = options.get("probe")
        if chosen is not None and chosen not in names:
            raise CommandError(
                f"--server: no KSC server named {chosen!r}; the configured servers are {', '.join(names) or 'none'}."
            )
        if probe is not None:
            try:
                probe = catalog.clean_target_host(probe)
            except ValueError as error:
                raise CommandError(f"--probe: {error}") from None
            if chosen is None and len(names) > 1:
                raise CommandError("--probe files a real task on one server: name it with --server.")
            if options["wait"] < 1:
                raise CommandError("--wait: at least 1 second.")
        if not names:
            self.check_one(None, None, 0)  # says why: no server is configured
        for name in [chosen] if chosen is not None else names:
            if len(names) > 1:
                self.stdout.write(self.style.MIGRATE_HEADING(f"KSC server {name}"))
            self.check_one(name, probe, options["wait"])
        if self.failed:
            raise CommandError(f"{self.failed} check(s) failed; see above.", returncode=1)
        self.stdout.write(self.style.SUCCESS("All checks passed: the portal can submit to KSC and follow its tasks."))

    def check_one(self, name: str | None, probe: str | None, wait: int) -> None:
        config = self.step("settings", lambda: self.check_settings(name))
        if config is None:
            if name is None:
                raise CommandError("The KSC settings are incomplete; nothing else was checked.", returncode=1)
            return
        reachable = self.step("connection", lambda: self.check_connection(config))
        certificate_ok = reachable is not None and self.step("TLS certificate", lambda: self.check_tls(config))
        if not certificate_ok:
            if name is not None:
                server_state.trouble(name, KscUnavailable("the connection or TLS check failed (manage.py ksc_check)"))
            return
        client = build_client(config)
        try:
            if self.step("login", lambda: self.check_login(client, name)) is not None:
                host = self.step("hosts", lambda: self.check_host(client))
                self.step("incidents", lambda: self.check_incidents(client))
                if self.step("tasks", lambda: self.check_tasks(client)) is not None and host:
                    self.step("host's tasks", lambda: self.check_host_tasks(client, host))
                if probe is not None:
                    self.step("probe", lambda: self.run_probe(client, name, probe, wait))
        finally:
            client.close()

    def step(self, name: str, check: Callable[[], Any]) -> Any:
        try:
            result = check()
        except (StepFailed, KscError, ImproperlyConfigured) as error:
            self.failed += 1
            self.stdout.write(self.style.ERROR(f"FAIL  {name}: {error}"))
            return None
        detail = result[1] if isinstance(result, tuple) else str(result)
        self.stdout.write(self.style.SUCCESS(f"OK    {name}: ") + detail)
        return result[0] if isinstance(result, tuple) else result

    # the steps

    def check_settings(self, name: str | None = None) -> tuple[KscConfig, str]:
        config = default_config() if name is None else ksc_servers.config_for(name)
        if not config.user or not config.password:
            raise StepFailed("KSC_USER and KSC_PASSWORD (or KSC_PASSWORD_FILE, or the entry's password_file) are required.")
        where = config.base_url
        if config.vserver:
            where += f", virtual server {config.vserver!r}"
        if config.route:
            where += f", secondary {' > '.join(map(str, config.route))} through the primary's gateway"
        return config, f"{where} as {config.user!r} ({settings.KSC_CLIENT} client)"

    def check_connection(self, config: KscConfig) -> str:
        try:
            with socket.create_connection((config.host, config.port), timeout=config.connect_timeout):
                pass
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise StepFailed(
                f"cannot open a connection to {config.host}:{config.port} ({reason.lower()}); check KSC_HOST, "
                "KSC_PORT (13299 by default) and the firewall between the portal and KSC."
            ) from None
        return f"{config.host}:{config.port} accepts connections"

    def check_tls(self, config: KscConfig) -> str:
        verify = requests_verify(config.verify)
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        elif verify is True:
            context = ssl.create_default_context()
        elif os.path.isdir(verify):
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify)
        try:
            with socket.create_connection((config.host, config.port), timeout=config.connect_timeout) as raw:
                with context.wrap_socket(raw, server_hostname=config.host) as tls:
                    version = tls.version()
        except ssl.SSLCertVerificationError as error:
            raise StepFailed(
                f"KSC's certificate was not accepted ({error.verify_message}); set KSC_CERT to KSC's own "
                "certificate file (klserver.cer on the Administration Server)."
            ) from None
        except (ssl.SSLError, OSError) as error:
            raise StepFailed(f"the TLS handshake with KSC failed: {error}") from None
        if verify is False:
            self.stdout.write(
                self.style.WARNING(
                    "WARN  TLS certificate: verification is OFF (KSC_CERT=false); anyone on the network path can "
                    "pose as KSC and capture its password."
                )
            )
            return f"{version}, not verified"
        return f"{version}, verified against {'the system CA store' if verify is True else config.verify}"

    def check_login(self, client, name: str | None = None) -> str:
        try:
            client.login()
        except KscMfaRequired as error:
            self._trouble(name, error)
            raise StepFailed(str(error)) from None
        except KscAuthError as error:
            self._trouble(name, error)
            raise StepFailed(f"bad credentials: {error}") from None
        except KscTlsError as error:
            self._trouble(name, error)
            raise StepFailed(str(error)) from None
        except KscError as error:
            self._trouble(name, error)
            raise
        if name is not None:
            server_state.contact(name, login=True)
        return f"logged in as {client.config.user!r}"

    @staticmethod
    def _trouble(name: str | None, error: Exception) -> None:
        if name is not None:
            server_state.trouble(name, error)

    def run_probe(self, client, name: str | None, host_id: str, wait: int) -> str:
        """A REAL task: AddIncident of an onDemandScan of critical areas, then wait for KES's [Response] task."""
        params = catalog.clean_params("onDemandScan", [dict(area) for area in PROBE_AREAS])
        where = name or ksc_servers.default_server() or "KSC"
        self.stdout.write(
            self.style.WARNING(
                f"REAL  probe: filing a real task on host {host_id} of server {where}: an onDemandScan of its critical "
                "areas (system memory, startup objects and running processes, boot sectors). The scan runs on the host."
            )
        )
        added = payload.incident_time()
        incident_id = client.add_incident(payload.add_incident_data("onDemandScan", host_id, params, added))
        client.update_incident(incident_id, payload.update_incident_data(host_id))
        log.warning("ksc_check --probe: incident %s filed on server %s for host %s (onDemandScan)", incident_id, where, host_id)
        deadline = time.monotonic() + wait
        while True:
            for task in ksc_tasks.iterate_tasks(client, limit=500):
                parsed = parse_task_name(task.name)
                if parsed is not None and parsed.incident_id == incident_id:
                    words = f"incident {incident_id}: [Response] task {task.name!r} (id {task.id}) appeared"
                    if name is not None:
                        server_state.probed(name, f"passed: {words}")
                    return f"{words}; this server's Web Console background connection works"
            if time.monotonic() >= deadline:
                break
            time.sleep(min(2.0, max(deadline - time.monotonic(), 0.1)))
        words = (
            f"incident {incident_id} was filed, but no [Response] task appeared within {wait} s: this server gets "
            "incidents but the portal will follow no outcome there (check the Web Console's background connection "
            "to this server, and KES 12.9+ on the host)"
        )
        if name is not None:
            server_state.probed(name, f"FAILED: {words}")
        raise StepFailed(words)

    def check_host(self, client) -> tuple[str, str]:
        # KSC's grammar has no empty filter: every host is (KLHST_WKS_DN = "*") (docs/ksc-wire.md, section 8).
        rows = client._find_hosts(filters.any_value(DISPLAY_NAME), limit=1)
        if not rows:
            raise StepFailed("KSC lists no managed host to this account: check the account's rights on the groups.")
        host_id = str(rows[0].get(HOST_ID) or "")
        info = client.get_host_info(host_id, list(HOST_DETAILS))
        seen = info.get(LAST_VISIBLE)
        seen_text = seen.strftime("%Y-%m-%d %H:%M UTC") if isinstance(seen, dt.datetime) else "never"
        return (
            host_id,
            f"{info.get('KLHST_WKS_DN') or host_id} ({info.get('KLHST_WKS_OS_NAME') or 'OS unknown'}, last seen {seen_text})",
        )

    def check_incidents(self, client) -> str:
        rows = client.find_incidents(filters.compare(INCIDENT_ID, ">", 0), [INCIDENT_ID], limit=1)
        return f"readable ({'at least one' if rows else 'none yet'})"

    def check_tasks(self, client) -> tuple[bool, str]:
        try:
            walked = list(ksc_tasks.iterate_tasks(client, limit=500))
        except KscCallError as error:
            raise StepFailed(
                f"KSC refused to list its tasks ({error}); the portal cannot follow the [Response] tasks. "
                "Give the KSC account the right to read tasks (Basic functionality > Tasks: Read)."
            ) from None
        response = sum(1 for task in walked if parse_task_name(task.name))
        return True, f"{len(walked)} tasks readable, {response} named as [Response] tasks (KSC_RESPONSE_TASK_PATTERN)"

    def check_host_tasks(self, client, host_id: str) -> str:
        try:
            ids = ksc_tasks.tasks_of_host(client, host_id)
        except KscCallError as error:
            raise StepFailed(f"KSC refused to list a host's tasks ({error}).") from None
        return f"{len(ids)} tasks include host {host_id}"
