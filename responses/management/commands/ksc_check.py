"""An operator's doctor for the KSC connection: each step OK, or what is wrong in plain words.

    manage.py ksc_check

Steps, in order (a failed step stops those that need it): the settings, a TCP
connection to KSC_HOST:KSC_PORT, the TLS certificate checked as the portal
checks it, the login (bad credentials and KSC's two-factor requirement told
apart), one managed host and its details, reading incidents, reading tasks
(the outcome tracking needs it) and a host's task list. Exit status 1 when any
step failed. Nothing is written to KSC.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ksc_client import filters
from ksc_client import tasks as ksc_tasks
from ksc_client.attributes import DISPLAY_NAME, GROUP_ID, HOST_ID, INCIDENT_ID, LAST_VISIBLE, OS_NAME
from ksc_client.client import KscConfig
from ksc_client.errors import KscAuthError, KscCallError, KscError, KscMfaRequired, KscTlsError
from ksc_client.transport import requests_verify
from responses.ksc_servers import build_client, default_config

HOST_DETAILS = (DISPLAY_NAME, OS_NAME, LAST_VISIBLE, GROUP_ID)


class StepFailed(Exception):
    """A check failed; the message says what is wrong and what to do."""


class Command(BaseCommand):
    help = "Check the connection to KSC step by step (TLS, login, hosts, incidents, tasks); exit 1 on any failure."

    def handle(self, *args: Any, **options: Any) -> None:
        self.failed = 0
        config = self.step("settings", self.check_settings)
        if config is None:
            raise CommandError("The KSC settings are incomplete; nothing else was checked.", returncode=1)
        reachable = self.step("connection", lambda: self.check_connection(config))
        certificate_ok = reachable is not None and self.step("TLS certificate", lambda: self.check_tls(config))
        if certificate_ok:
            client = build_client(config)
            try:
                if self.step("login", lambda: self.check_login(client)) is not None:
                    host = self.step("hosts", lambda: self.check_host(client))
                    self.step("incidents", lambda: self.check_incidents(client))
                    if self.step("tasks", lambda: self.check_tasks(client)) is not None and host:
                        self.step("host's tasks", lambda: self.check_host_tasks(client, host))
            finally:
                client.close()
        if self.failed:
            raise CommandError(f"{self.failed} check(s) failed; see above.", returncode=1)
        self.stdout.write(self.style.SUCCESS("All checks passed: the portal can submit to KSC and follow its tasks."))

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

    def check_settings(self) -> tuple[KscConfig, str]:
        config = default_config()
        if not config.user or not config.password:
            raise StepFailed("KSC_USER and KSC_PASSWORD (or KSC_PASSWORD_FILE) are required.")
        return config, f"{config.base_url} as {config.user!r} ({settings.KSC_CLIENT} client)"

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

    def check_login(self, client) -> str:
        try:
            client.login()
        except KscMfaRequired as error:
            raise StepFailed(str(error)) from None
        except KscAuthError as error:
            raise StepFailed(f"bad credentials: {error}") from None
        except KscTlsError as error:
            raise StepFailed(str(error)) from None
        return f"logged in as {client.config.user!r}"

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
        from responses.outcomes import parse_task_name

        response = sum(1 for task in walked if parse_task_name(task.name))
        return True, f"{len(walked)} tasks readable, {response} named as [Response] tasks (KSC_RESPONSE_TASK_PATTERN)"

    def check_host_tasks(self, client, host_id: str) -> str:
        try:
            ids = ksc_tasks.tasks_of_host(client, host_id)
        except KscCallError as error:
            raise StepFailed(f"KSC refused to list a host's tasks ({error}).") from None
        return f"{len(ids)} tasks include host {host_id}"
