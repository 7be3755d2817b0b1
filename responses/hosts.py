"""The one door for host questions: every page, the filing path, the API and the outcome sweep ask here.

What KSC says about a host (by id, by a search, by display name) and what the portal shows of it
(its facts, its name) come from this module; nothing else calls the KSC client about hosts
(tests/test_hosts_door.py greps for it). Each function takes ``server``: the name of the KSC
server to ask (``None``: the default one, today the only one).

Looking up never raises for KSC's trouble where a page must still render (``check``, ``facts``,
``named``): the answer says what went wrong. ``search`` raises (``KscError``,
``ImproperlyConfigured``): the search pages say why it failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from ksc_client.errors import KscError
from ksc_client.hosts import Host
from responses import host_directory, ksc_servers

log = logging.getLogger(__name__)


def _client(server: str | None = None):
    """The KSC client for ``server`` (None: the default server); ImproperlyConfigured when none is configured."""
    return ksc_servers.client_for(server)


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


def unknown_host_message() -> str:
    return _("KSC knows no host with this id. Find the host in KSC (host search) and use its id.")


def check(host_id: str, *, server: str | None = None) -> HostCheck:
    """Ask KSC about ``host_id``; never raises for KSC's trouble (the error says what it was)."""
    try:
        host = _client(server).get_host(host_id)
    except ImproperlyConfigured:
        return HostCheck(None, _("KSC is not configured (KSC_HOST), so the host id could not be checked."))
    except KscError as exc:
        log.warning("checking host %r in KSC failed: %s", host_id, exc)
        return HostCheck(None, str(exc))
    if host is not None:
        host_directory.record_seen([host])
    return HostCheck(host)


def search(query: str, *, limit: int, server: str | None = None) -> list[Host]:
    """Hosts whose display name, FQDN or address matches ``query``; KscError / ImproperlyConfigured as KSC fails.

    The auditors' host search knows the hosts found from now on (the host directory).
    """
    hosts = _client(server).find_hosts(query, limit=limit)
    host_directory.record_seen(hosts)
    return hosts


def named(name: str, *, server: str | None = None) -> list[Host]:
    """Up to two hosts with this display name; none when KSC cannot be asked."""
    try:
        return _client(server).hosts_named(name)
    except (ImproperlyConfigured, KscError):
        return []


def display_name(host: Host) -> str:
    """How a page names a host KSC described: its display name, else its FQDN, else its id."""
    return host.display_name or host.fqdn or host.id
