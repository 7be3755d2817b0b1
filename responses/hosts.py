"""Host questions across KSC servers (issue 26, point 4): the search every server the user may act on.

``search(user, query, limit)`` asks each of the user's servers in parallel, each with
KSC_SEARCH_TIMEOUT seconds, and returns the hosts found with their server, plus the servers that
did not answer (and why). A page never shows fewer hosts silently: what did not answer is said
beside what did.

Each configured secondary (an entry with ``route``) is asked on its own, through the primary's
gateway, so its hosts carry its name and a secondary that does not answer is named as such
(``failed_secondaries``: its route below the primary). The primary's hierarchical search
(``find_hosts_async`` with ``pFailedSlavesInfo``) is not used here: its rows do not say which
secondary holds a host, so its hosts would be shown, and filed, as the primary's.

A server's search runs on that server's cached client (responses/ksc_servers.py). A search
that outlived its timeout may still be running on it: the next search of that server then uses
a fresh client of its own, so that one client is never used by two threads at once.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from ksc_client.errors import KscError
from ksc_client.hosts import Host
from responses import host_directory, ksc_servers, policy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundHost:
    server: str
    host: Host


@dataclass
class HostSearch:
    """What a search across servers found, and what it could not ask."""

    hosts: list[FoundHost] = field(default_factory=list)
    failed_servers: list[tuple[str, str]] = field(default_factory=list)  # (server, why)
    failed_secondaries: list[tuple[str, str]] = field(default_factory=list)  # (server, the secondary's name or id)
    servers: list[str] = field(default_factory=list)  # every server asked
    errors: dict[str, Exception] = field(default_factory=dict)  # a server's error, as its client raised it

    @property
    def complete(self) -> bool:
        return not self.failed_servers and not self.failed_secondaries


_busy_lock = threading.Lock()
_busy: set[str] = set()  # servers whose cached client a timed-out search may still be using


def _ask(server: str, query: str, limit: int) -> tuple[list[Host], list[str]]:
    """(hosts, failed secondaries) of one server; raises KscError and the configuration errors."""
    with _busy_lock:
        shared = server not in _busy
        if shared:
            _busy.add(server)
    client = ksc_servers.client_for(server) if shared else ksc_servers.build_client(ksc_servers.config_for(server))
    try:
        return client.find_hosts(query, limit=limit), []
    finally:
        if shared:
            with _busy_lock:
                _busy.discard(server)
        else:
            client.close()


def search(user, query: str, *, limit: int = 25, servers: list[str] | None = None) -> HostSearch:
    """Hosts matching ``query`` on every server ``user`` may act on (or on ``servers`` among those), in parallel."""
    mine = policy.acting_servers(user)
    names = [name for name in mine if servers is None or name in servers]
    result = HostSearch(servers=names)
    if not names:
        return result

    if not ksc_servers.server_names():
        # No KSC configured at all: the one error of the default server says so.
        raise ImproperlyConfigured(ksc_servers.NOT_CONFIGURED)
    timeout = settings.KSC_SEARCH_TIMEOUT
    pool = ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="host-search")
    try:
        futures = {pool.submit(_ask, name, query, limit): name for name in names}
        done, _pending = wait(futures, timeout=timeout, return_when=ALL_COMPLETED)
        for future, name in futures.items():
            if future not in done:
                result.failed_servers.append(
                    (name, _("did not answer within %(seconds)s s") % {"seconds": f"{timeout:g}"})
                )
                _name_secondary(result, name)
                continue
            try:
                hosts, failed = future.result()
            except (KscError, ImproperlyConfigured, ksc_servers.UnknownServer) as error:
                # Logged by the caller, with the query shortened for the log (throttle.for_log).
                result.failed_servers.append((name, str(error)))
                result.errors[name] = error
                _name_secondary(result, name)
                continue
            result.failed_secondaries += [(name, secondary) for secondary in failed]
            host_directory.record_seen(hosts, name)  # the auditors' host search knows them from now on
            result.hosts += [FoundHost(name, host) for host in hosts]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a slow server's thread ends on its own
    return result


def _name_secondary(result: HostSearch, name: str) -> None:
    """A configured secondary that did not answer is also named as a secondary (its route below the primary)."""
    entry = next((server for server in getattr(settings, "KSC_SERVERS", []) if server.name == name), None)
    if entry is not None and entry.route:
        result.failed_secondaries.append((name, " > ".join(str(step) for step in entry.route)))


def everything_failed(found: HostSearch) -> str:
    """The one server's error when a search asked one server and it failed (the pages and the API say it as before)."""
    if len(found.servers) == 1 and found.failed_servers and not found.hosts:
        return found.failed_servers[0][1]
    return ""
