"""The host directory: every name the portal has known a KSC host by, searched where hosts are few.

At a million requests, a substring search over the requests' host columns reads trigram
indexes of a million rows (issue 24, point 4). Hosts number in the thousands: the search
looks for matching hosts here (trigram indexes of migration 0021 on PostgreSQL), then the
list reads their requests by host id through the btree index rr_target_host_idx.

Rows come from filing (``record_filed``, in the filing's transaction) and from KSC's
answers to look-ups (``record_seen``: the host search, the filing's host check, the host
page). Every request's (host id, name as filed) has a row, so the directory search finds
the requests the old search over the requests' own columns found (request_filter).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from ksc_client.hosts import Host
from responses import catalog
from responses.models import HostDirectoryEntry, ResponseRequest
from responses.states import PRIMARY_SERVER

NAME_LENGTH = HostDirectoryEntry._meta.get_field("display_name").max_length


def record_filed(host_id: str, display_name: str, server: str = PRIMARY_SERVER) -> None:
    """The host and name a request was filed with on ``server`` (kept if known already; last_seen moves on)."""
    now = timezone.now()
    HostDirectoryEntry.objects.bulk_create(
        [
            HostDirectoryEntry(
                server=server, host_id=host_id, display_name=display_name or "", first_seen=now, last_seen=now
            )
        ],
        update_conflicts=True,
        unique_fields=["server", "host_id", "display_name"],
        update_fields=["last_seen"],
    )


def record_seen(hosts: Iterable[Host], server: str = PRIMARY_SERVER) -> None:
    """Hosts as KSC server ``server`` (an entry's name) just described them: their names and FQDNs."""
    now = timezone.now()
    rows = {}
    for host in hosts:
        if host is None or not host.id or len(host.id) > catalog.MAX_HOST_ID:
            continue  # no id a request could be filed for
        # KSC's names are not ours to bound: a longer one is kept to the column's size, never a failed page.
        name = (host.display_name or "")[:NAME_LENGTH]
        rows[(host.id, name)] = HostDirectoryEntry(
            host_id=host.id,
            display_name=name,
            fqdn=(host.fqdn or "")[:NAME_LENGTH],
            server=server,
            first_seen=now,
            last_seen=now,
        )
    if rows:
        HostDirectoryEntry.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["server", "host_id", "display_name"],
            update_fields=["fqdn", "last_seen"],
        )
        fill_missing_names({host_id: name for host_id, name in rows if name}, server)


def fill_missing_names(names: dict[str, str], server: str = PRIMARY_SERVER) -> int:
    """Requests filed while KSC was unreachable carry no host name: KSC's name, once it answers (issue 30, point 3).

    ``names``: host id -> display name as KSC just gave it. Only requests without a name change (the
    name as filed is kept otherwise); the name is no part of a request's fingerprint or audit chain.
    Answers how many requests got their name.
    """
    if not names:
        return 0
    # One look for the few hosts that have such a request (usually none): a page that shows hosts
    # (the queue, a search) pays one query, not one per host.
    nameless = set(
        ResponseRequest.objects.filter(server=server, target_host__in=sorted(names), target_host_name="")
        .values_list("target_host", flat=True)
        .distinct()
    )
    filled = 0
    for host_id in sorted(nameless):
        filled += ResponseRequest.objects.filter(server=server, target_host=host_id, target_host_name="").update(
            target_host_name=names[host_id]
        )
    return filled


# Past this many matching directory rows the search is broad ("TKY-", "WS-"): the newest requests
# match often enough that the list's ordered scan over the requests' trigram indexes is fast.
MAX_MATCHES = 500


def request_filter(text: str) -> Q:
    """The requests whose host id or name as filed contains ``text``, or whose host's FQDN does.

    Searched in the directory first (thousands of rows, trigram): the matching host ids and
    names then select the requests through the btree indexes on target_host and
    target_host_name, as literal lists (an OR of subqueries would make PostgreSQL read every
    request). The same requests as comparing the requests' own columns (a name matches the
    requests filed under that name), plus every request of a host whose FQDN matches.
    """
    rows = list(matching(text).values_list("host_id", "display_name", "fqdn")[: MAX_MATCHES + 1])
    if len(rows) > MAX_MATCHES:
        return Q(target_host__icontains=text) | Q(target_host_name__icontains=text)
    wanted = text.upper()
    host_ids = {host_id for host_id, _name, fqdn in rows if wanted in host_id.upper() or wanted in fqdn.upper()}
    names = {name for _host_id, name, _fqdn in rows if name and wanted in name.upper()}
    if not host_ids and not names:
        return Q(pk__in=[])
    return Q(target_host__in=sorted(host_ids)) | Q(target_host_name__in=sorted(names))


def matching(text: str) -> QuerySet[HostDirectoryEntry]:
    """Directory rows whose host id, name or FQDN contains ``text`` (either case)."""
    return HostDirectoryEntry.objects.filter(
        Q(host_id__icontains=text) | Q(display_name__icontains=text) | Q(fqdn__icontains=text)
    )


def listed(scope: Q | None, text: str = "") -> QuerySet:
    """The host list (/hosts/): one row per (server, host id), newest seen first, as dicts.

    ``scope``: the servers the reader works on (responses.policy.server_filter; None: every
    server); ``text``: the search (host id, any name the host had, FQDN). Each row carries
    ``server``, ``host_id`` and ``last_seen`` (when KSC or a filing last named it to the portal);
    the names are read for one page only (``newest_names``): grouping stays cheap to count.
    """
    rows = HostDirectoryEntry.objects.all()
    if scope is not None:
        rows = rows.filter(scope)
    if text:
        rows = rows.filter(Q(host_id__icontains=text) | Q(display_name__icontains=text) | Q(fqdn__icontains=text))
    return rows.values("server", "host_id").annotate(last_seen=Max("last_seen")).order_by("-last_seen", "server", "host_id")


def newest_names(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """{(server, host id): the name it was last known by} for a page of hosts, in one query."""
    keys = set(keys)
    names: dict[tuple[str, str], str] = {}
    rows = (
        HostDirectoryEntry.objects.filter(host_id__in={host_id for _server, host_id in keys})
        .exclude(display_name="")
        .order_by("-last_seen", "-id")
        .values_list("server", "host_id", "display_name")
    )
    for server, host_id, name in rows:
        if (server, host_id) in keys:
            names.setdefault((server, host_id), name)
    return names
