"""The one door for host questions: the pages, the filing path, the API and the outcome sweep ask here.

What KSC says about a host and what the portal calls it come from this module; nothing else calls
the KSC client about hosts (tests/test_hosts_door.py reads the code for it). Every function takes
``server``: the name of the KSC server to ask (responses/ksc_servers.py; ``None``: the default
server, today the only one).

- ``lookup(host_id)``: KSC's record of one host, or None; raises KSC's trouble (``KscError``,
  ``ImproperlyConfigured``);
- ``check(host_id)``: the same, never raising: a ``HostCheck`` says what KSC said or why it could
  not be asked (filing files the host unchecked then, and says so);
- ``search(query, limit=...)``: hosts by display name, FQDN, address or id (raises KSC's trouble:
  the search pages say why it failed); ``named(name)``: up to two hosts of one display name;
- ``state(host_id)``: KSC's facts about a host with the warnings an analyst needs before acting
  (``facts_of``: a host not seen for HOST_STALE_AFTER seconds, an OS KES EDR responses do not
  cover), cached briefly for pages, or why they cannot be shown;
- ``search_servers(user, query, limit=...)``: ``search`` on every server the user may act on, in
  parallel, each within KSC_SEARCH_TIMEOUT seconds: the hosts with their server, and the servers
  (and configured secondaries) that did not answer (issue 26, point 4). Each configured secondary
  (an entry with ``route``) is asked on its own through the primary's gateway, so its hosts carry
  its name; the primary's hierarchical search (``find_hosts_async``) is not used for it, since its
  rows do not say which secondary holds a host. A search that outlived its timeout may still run
  on a server's cached client: the next search of that server uses a fresh client of its own.
- ``display_name(host)``: how pages name a host KSC described; ``name_of(host_id, ...)``: the
  name a page shows for a host id (KSC's, else the name a request was filed with, else the id);
- ``task_ids(host_id, via=...)``: the ids of KSC's tasks that include the host (the outcome sweep);
- ``in_group(path, subgroups=..., limit=...)``: the hosts of a KSC administration group (and of the
  groups below it), found by its path ("Managed devices/Servers"); ``UnknownGroup`` when KSC has none
  (a campaign's host set, issue 27, point 1).

Every host KSC describes is recorded in the host directory (responses/host_directory.py), so the
auditors' host search knows it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _

from ksc_client import tasks as ksc_tasks
from ksc_client.errors import KscError
from ksc_client.hosts import Host
from ksc_client.tasks import Caller
from responses import host_directory, ksc_servers, policy
from responses.states import PRIMARY_SERVER

log = logging.getLogger(__name__)

# KSC's answer about a host is kept this long for pages (the request page refreshes itself).
HOST_CACHE_SECONDS = 60


def _client(server: str | None = None):
    """The KSC client for ``server`` (None: the default server); ImproperlyConfigured when none is configured,
    ksc_servers.UnknownServer for a name that is not configured."""
    return ksc_servers.client_for(server)


def _name(server: str | None) -> str:
    """The server's name as the host directory keeps it (None: the default server's)."""
    return server if server is not None else (ksc_servers.default_server() or PRIMARY_SERVER)


@dataclass(frozen=True)
class HostCheck:
    """What KSC said about a host id: its record, or why it could not be asked."""

    host: Host | None
    error: str = ""  # why KSC could not be asked; "" when it answered

    @property
    def unknown(self) -> bool:
        """KSC answered, and knows no host with this id."""
        return self.host is None and not self.error

    @property
    def display_name(self) -> str:
        return self.host.display_name if self.host is not None else ""


def not_known_text() -> str:
    """What ``state`` says when KSC answered and knows no host with the id (the card offers no Approve then)."""
    return _("KSC does not know this host id.")


def unknown_host_message() -> str:
    return _("KSC knows no host with this id. Find the host in KSC (host search) and use its id.")


@dataclass(frozen=True)
class HostFacts:
    """What KSC says about a host, with the warnings an analyst needs before acting."""

    host: Host
    warnings: list[str] = field(default_factory=list)

    @property
    def seen(self) -> dt.datetime | None:
        return self.host.last_visible or self.host.last_seen


def os_covered(os_name: str) -> bool:
    """KES EDR responses run on Kaspersky Endpoint Security for Windows (12.9+); other OSes get no task."""
    return "windows" in os_name.casefold()


def facts_of(host: Host, now: dt.datetime | None = None) -> HostFacts:
    now = now or timezone.now()
    warnings = []
    seen = host.last_visible or host.last_seen
    stale_after = dt.timedelta(seconds=settings.HOST_STALE_AFTER)
    if seen is None:
        warnings.append(_("KSC has never seen this host: the task will wait until the host connects."))
    elif now - seen > stale_after:
        warnings.append(
            _("KSC has not seen this host since %(when)s: the task will wait until the host connects.")
            % {"when": timezone.localtime(seen).strftime("%Y-%m-%d %H:%M %Z")}
        )
    if host.os_name and not os_covered(host.os_name):
        warnings.append(
            _(
                "This host runs %(os)s: KES EDR responses cover only Kaspersky Endpoint Security for Windows "
                "12.9 or later, so KSC will create no task for it."
            )
            % {"os": host.os_name}
        )
    return HostFacts(host=host, warnings=warnings)


def lookup(host_id: str, *, server: str | None = None) -> Host | None:
    """KSC's record of the host with this id, or None when KSC knows none; KscError / ImproperlyConfigured."""
    host = _client(server).get_host(host_id)
    if host is not None:
        host_directory.record_seen([host], _name(server))
    return host


def check(host_id: str, *, server: str | None = None) -> HostCheck:
    """Ask KSC about ``host_id``; never raises for KSC's trouble (the error says what it was)."""
    try:
        host = lookup(host_id, server=server)
    except (ImproperlyConfigured, ksc_servers.UnknownServer):
        return HostCheck(None, _("KSC is not configured (KSC_HOST), so the host id could not be checked."))
    except KscError as exc:
        log.warning("checking host %r in KSC failed: %s", host_id, exc)
        return HostCheck(None, str(exc))
    return HostCheck(host)


def state(host_id: str, *, server: str | None = None) -> tuple[HostFacts | None, str]:
    """KSC's facts about a host (cached briefly), or None and why not; never raises for KSC's trouble."""
    key = f"portal:ksc-host:{_name(server)}:{host_id}"
    host = cache.get(key)
    if host is None:
        try:
            host = lookup(host_id, server=server)
        except (ImproperlyConfigured, ksc_servers.UnknownServer):
            return None, _("KSC is not configured (KSC_HOST), so the host's state cannot be shown.")
        except KscError as error:
            return None, _("KSC could not be asked about the host: %(error)s") % {"error": error}
        if host is None:
            return None, not_known_text()
        cache.set(key, host, HOST_CACHE_SECONDS)
    return facts_of(host), ""


def states(host_ids: list[tuple[str | None, str]]) -> dict[tuple[str | None, str], tuple[HostFacts | None, str]]:
    """``state`` of many hosts at once, by (server, host id): the cached ones, then ONE KSC look-up per
    server for the others (the approval queue's page asks for its hosts together); never raises."""
    keys = {(server, host_id): f"portal:ksc-host:{_name(server)}:{host_id}" for server, host_id in host_ids}
    cached = cache.get_many(list(keys.values())) if keys else {}
    found: dict[tuple[str | None, str], Host] = {
        pair: cached[key] for pair, key in keys.items() if cached.get(key) is not None
    }
    answer: dict[tuple[str | None, str], tuple[HostFacts | None, str]] = {}
    missing: dict[str | None, list[str]] = {}
    for server, host_id in keys:
        if (server, host_id) not in found:
            missing.setdefault(server, []).append(host_id)
    for server, ids in missing.items():
        try:
            hosts = _client(server).get_hosts(ids)
        except (ImproperlyConfigured, ksc_servers.UnknownServer):
            why = _("KSC is not configured (KSC_HOST), so the host's state cannot be shown.")
            answer.update({(server, host_id): (None, why) for host_id in ids})
            continue
        except KscError as error:
            why = _("KSC could not be asked about the host: %(error)s") % {"error": error}
            answer.update({(server, host_id): (None, why) for host_id in ids})
            continue
        host_directory.record_seen(hosts.values(), _name(server))
        cache.set_many({keys[(server, host.id)]: host for host in hosts.values()}, HOST_CACHE_SECONDS)
        for host_id in ids:
            if host_id in hosts:
                found[(server, host_id)] = hosts[host_id]
            else:
                answer[(server, host_id)] = (None, not_known_text())
    for pair, host in found.items():
        answer[pair] = (facts_of(host), "")
    return answer


def search(query: str, *, limit: int, server: str | None = None) -> list[Host]:
    """Hosts whose display name, FQDN or address matches ``query``; KscError / ImproperlyConfigured as KSC fails.

    The auditors' host search knows the hosts found from now on (the host directory).
    """
    hosts = _client(server).find_hosts(query, limit=limit)
    host_directory.record_seen(hosts, _name(server))
    return hosts


def named(name: str, *, server: str | None = None) -> list[Host]:
    """Up to two hosts with this display name; none when KSC cannot be asked."""
    try:
        return _client(server).hosts_named(name)
    except (ImproperlyConfigured, ksc_servers.UnknownServer, KscError):
        return []


def display_name(host: Host) -> str:
    """How a page names a host KSC described: its display name, else its FQDN, else its id."""
    return host.display_name or host.fqdn or host.id


def name_of(host_id: str, facts: HostFacts | None = None, filed_as: str | Callable[[], str] = "") -> str:
    """The name a page shows for a host id: KSC's display name (from ``facts``), else ``filed_as``, else the id.

    ``filed_as``: the name a request was filed with, or a function that reads it (asked only when KSC gave none).
    """
    name = facts.host.display_name if facts is not None else ""
    if not name:
        name = filed_as() if callable(filed_as) else filed_as
    return name or host_id


def task_ids(host_id: str, *, server: str | None = None, via: Caller | None = None) -> set[str]:
    """The ids of KSC's tasks that include the host (Tasks.GetAllTasksOfHost); KscError as KSC fails.

    ``via``: the caller to ask through (the outcome sweep's budgeted calls) instead of the server's client.
    """
    return ksc_tasks.tasks_of_host(via if via is not None else _client(server), host_id)


class UnknownGroup(LookupError):
    """KSC has no administration group at this path."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class GroupHosts:
    group_id: int
    hosts: list[Host]  # at most the limit asked for
    total: int  # how many hosts the group (with its subgroups, if asked) holds
    groups: int  # how many groups were read: 1, or 1 + the subgroups


def in_group(path: str, *, subgroups: bool, limit: int, server: str | None = None) -> GroupHosts:
    """The hosts of the administration group at ``path`` (and of every group below it with ``subgroups``).

    A handful of calls whatever the size: the group's id level by level, its subtree in one call, and
    one FindHosts per chunk of groups. UnknownGroup when KSC has no such group; KscError as KSC fails.
    """
    client = _client(server)
    group = client.group_id(path)
    if group is None:
        raise UnknownGroup(path)
    ids = [group, *client.subgroup_ids(group)] if subgroups else [group]
    found, total = client.hosts_in_groups(ids, limit=limit)
    host_directory.record_seen(found, _name(server))
    return GroupHosts(group, found, total, len(ids))


# --- several servers (issue 26, point 4) -------------------------------------------------------


@dataclass(frozen=True)
class FoundHost:
    server: str
    host: Host


@dataclass
class HostSearch:
    """What a search across servers (``search_servers``) found, and what it could not ask."""

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
    client = _client(server) if shared else ksc_servers.build_client(ksc_servers.config_for(server))
    try:
        return client.find_hosts(query, limit=limit), []
    finally:
        if shared:
            with _busy_lock:
                _busy.discard(server)
        else:
            client.close()


def search_servers(user, query: str, *, limit: int = 25, servers: list[str] | None = None) -> HostSearch:
    """Hosts matching ``query`` on every server ``user`` may act on (or on ``servers`` among those), in parallel.

    Each server within KSC_SEARCH_TIMEOUT seconds; what did not answer is in the result, never left
    out silently. The threads only ask KSC; the host directory learns the hosts here, afterwards.
    """
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
