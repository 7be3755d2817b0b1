"""The portal's KSC Open API client: the interface both backends implement, and its configuration.

The backends are ksc_client.builtin (the project's own client of the wire
protocol) and ksc_client.klakoapi (Kaspersky's KlAkOAPI); responses.ksc_servers
chooses one from the KSC_* settings and keeps one client per process, so this
module imports neither backend (they import it). Both log in lazily on the first call, keep that
login for every later call (the RQ worker reuses it across jobs), log in
again once when KSC refuses the session, and then give up with KscAuthError.

Values go out through ksc_client.wire and come back decoded by it:
datetimes are aware UTC, ``long`` values are ints.

The KSC password lives only in KscConfig (hidden from its repr) and in the
Authorization header of the login request; it is never logged or raised.
"""

from __future__ import annotations

import abc
import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ksc_client import filters, wire
from ksc_client.attributes import (
    CHUNK_ITEMS,
    CURRENT_VS_ONLY,
    DISPLAY_NAME,
    DNS_NAME,
    FAILED_SECONDARIES,
    FQDN,
    GATEWAY_KEY,
    GROUP_ID,
    GROUP_NAME,
    HOST_ID,
    INCIDENT_ADDED,
    INCIDENT_BODY,
    INCIDENT_HOST,
    INCIDENT_ID,
    IP_LONG,
    NETBIOS_NAME,
    SERVER_ID,
    SERVER_INSTANCE_ID,
    SERVER_NAME,
    SLAVE_DEPTH,
)
from ksc_client.errors import (
    KscCallError,
    KscError,
    KscGatewayRefused,
    KscProtocolError,
    KscSessionRefused,
    KscUnavailable,
)
from ksc_client.hosts import HOST_FIELDS, Host, group_parts, ip_to_long, parse_ipv4
from ksc_client.transport import SessionRefused

__all__ = [
    "Host",
    "KscClient",
    "KscConfig",
    "KscConfigError",
    "ChildServer",
    "FailedSecondary",
    "HostSearch",
]

logger = logging.getLogger("ksc_client")


class KscConfigError(ValueError):
    """A KscConfig that cannot work (responses/ksc_servers.py reports it as a configuration error)."""


@dataclass(frozen=True)
class KscConfig:
    """One KSC server and how to log in to it; handed in by the caller, never read from settings.

    ``url`` is ``https://host:port`` of the Administration Server (for a secondary reached
    through the gateway: the PRIMARY's URL); give it, or ``host`` and ``port``, and the other
    is filled in. ``verify``: True (system CA store), False, or a certificate file (``ca_file``).
    ``vserver``: a virtual Administration Server's name, sent at login only. ``route``: the
    secondary server ids (KLSRVH_SRV_ID) from the primary down to the server meant, for the
    gateway login; empty for the primary itself.
    """

    host: str = ""
    port: int = 13299
    user: str = ""
    password: str = field(default="", repr=False)
    domain: str = ""
    internal: bool = True
    vserver: str = ""
    verify: bool | str = True
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    name: str = "primary"
    url: str = ""
    route: tuple[int, ...] = ()

    def __post_init__(self):
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme != "https" or not parts.hostname:
                raise KscConfigError(f"KSC server {self.name!r}: the URL must be https://host:port, not {self.url!r}.")
            try:
                port = parts.port or 13299
            except ValueError:
                raise KscConfigError(f"KSC server {self.name!r}: the port in {self.url!r} is not a number.") from None
            object.__setattr__(self, "host", parts.hostname)
            object.__setattr__(self, "port", port)
        if not self.host:
            raise KscConfigError(f"KSC server {self.name!r}: no host (url) is given.")
        object.__setattr__(self, "url", self.base_url)
        object.__setattr__(self, "route", tuple(int(hop) for hop in self.route))
        # The domain travels as plain text inside a quoted header parameter.
        if any(ch == '"' or ord(ch) < 32 for ch in self.domain):
            raise KscConfigError(
                f"KSC server {self.name!r}: the domain (KSC_DOMAIN) must not contain double quotes or control characters."
            )
        if self.vserver and self.route:
            raise KscConfigError(f"KSC server {self.name!r}: a virtual server has no secondaries (vserver and route).")

    @property
    def ca_file(self) -> str:
        """The certificate file KSC is verified against, or "" (system store, or verification off)."""
        return self.verify if isinstance(self.verify, str) else ""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"https://{host}:{self.port}"

    @property
    def verification_off(self) -> bool:
        return self.verify is False

    def authorization_header(self) -> str:
        """``KSCBasic`` exactly as KlAkOAPI writes it. A secret: never log it."""
        user = base64.b64encode(self.user.encode("utf-8")).decode("ascii")
        password = base64.b64encode(self.password.encode("utf-8")).decode("ascii")
        return f'KSCBasic user="{user}", pass="{password}", domain="{self.domain}", internal="{int(self.internal)}"'

    def vserver_header(self) -> str:
        # KlAkOAPI sends the header empty when there is no virtual server.
        return base64.b64encode(self.vserver.encode("utf-8")).decode("ascii")


class KscClient(abc.ABC):
    """The calls the portal makes. Backends implement _login, _send and _logout.

    Thread-safe: calls are serialised, since KSC binds a login to one connection.
    """

    backend: ClassVar[str]
    # Seconds KSC keeps a search result (accessor) alive; the portal pages through it at once.
    ACCESSOR_LIFETIME: ClassVar[int] = 300

    def __init__(self, config: KscConfig):
        self.config = config
        self._lock = threading.RLock()
        self._authenticated = False
        # A secondary (config.route): the clients one level up and of the primary, and the gateway
        # locations of the current login (a fresh list per login; the primary's is empty).
        self._gateway_parent: KscClient | None = None
        self._gateway_primary: KscClient | None = None
        self.gateway_locations: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        where = f" route={'/'.join(map(str, self.config.route))}" if self.config.route else ""
        where += f" vserver={self.config.vserver!r}" if self.config.vserver else ""
        return f"<{type(self).__name__} {self.config.name} {self.config.base_url}{where} user={self.config.user!r}>"

    def __enter__(self) -> KscClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- what a backend provides ---

    @abc.abstractmethod
    def _login(self) -> None:
        """Authenticate; KscAuthError when KSC refuses the account."""

    @abc.abstractmethod
    def _send(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """One call; the answer's JSON object. SessionRefused on 401/403, KscError otherwise."""

    @abc.abstractmethod
    def _logout(self) -> None:
        """End the session and drop the connection; never raises."""

    # --- the call discipline shared by both backends ---

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Call ``Class.Method`` with wire-encoded arguments; the raw answer object.

        Logs in first when needed; when KSC refuses the session, logs in again
        once and repeats the call (it was refused, so it did not run).
        """
        try:
            return self._call(method, args)
        except KscError as error:
            error.name_server(self.config.name)
            raise

    def _call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if not self._authenticated:
                self._authenticate()
            try:
                return self._timed(method, args)
            except SessionRefused as refused:
                logger.info(
                    "KSC server %r refused the session during %s (HTTP %s); logging in again",
                    self.config.name,
                    method,
                    refused.status,
                )
            self._authenticated = False
            self._authenticate()  # a secondary's: through a new gateway key (never a used one)
            try:
                return self._timed(method, args)
            except SessionRefused as refused:
                self._authenticated = False
                raise KscSessionRefused(
                    f"KSC refused {method} (HTTP {refused.status}) right after a fresh login of user "
                    f"{self.config.user!r}; the account may lack the rights for it.",
                    method=method,
                    status=refused.status,
                ) from None

    def _authenticate(self) -> None:
        started = time.monotonic()
        try:
            self._login()
        except KscError as error:
            logger.warning("Login to KSC server %r at %s failed: %s", self.config.name, self.config.base_url, error)
            raise
        self._authenticated = True
        logger.info(
            "Logged in to KSC server %r at %s%s as %r (%s client, %.0f ms)",
            self.config.name,
            self.config.base_url,
            f" through the gateway to secondary {'/'.join(map(str, self.config.route))}" if self.config.route else "",
            self.config.user,
            self.backend,
            (time.monotonic() - started) * 1000,
        )

    def _timed(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        try:
            return self._send(method, args)
        except KscError as error:
            logger.warning("KSC %s failed: %s", method, error)
            raise
        finally:
            logger.debug("KSC %s took %.0f ms", method, (time.monotonic() - started) * 1000)

    def login(self) -> None:
        """Log in now (``manage.py ksc_check``); calls log in by themselves when needed."""
        with self._lock:
            self._authenticated = False
            try:
                self._authenticate()
            except KscError as error:
                error.name_server(self.config.name)
                raise

    def close(self) -> None:
        """End the session (best effort) and close the connection. The client may be used again."""
        with self._lock:
            if self._authenticated:
                self._logout()
            self._authenticated = False
            helpers = {id(c): c for c in (self._gateway_parent, self._gateway_primary) if c is not None}
            self._gateway_parent = self._gateway_primary = None
        for helper in helpers.values():
            helper.close()

    # --- secondaries, through the primary's gateway (docs/ksc-wire.md, section 11) ---

    def _helper(self, route: tuple[int, ...]) -> KscClient:
        # The same server name: an error on the way (the primary refusing the login, a hop down) is this server's.
        return type(self)(replace(self.config, route=route))

    def gateway_key(self) -> str:
        """A new one-time key for a ``KSCGW`` login to this client's secondary (config.route).

        Kaspersky's sequence: the server one level up names the secondary's location
        (``CgwHelper.GetSlaveServerLocation``); the locations from the primary down, in order, in a
        list built afresh, go to ``GatewayConnection.PrepareGatewayConnection`` on the PRIMARY, which
        answers the key (``wstrAuthKey``, valid 60 s, good for one login). Every login asks anew.
        """
        route = self.config.route
        if not route:
            raise KscProtocolError("The primary itself is not reached through a gateway.", method="gateway")
        if self._gateway_primary is None:
            self._gateway_primary = self._helper(())
        if self._gateway_parent is None:
            self._gateway_parent = self._gateway_primary if len(route) == 1 else self._helper(route[:-1])
        parent, primary = self._gateway_parent, self._gateway_primary
        method = "CgwHelper.GetSlaveServerLocation"
        answer = parent.call(method, {"nSlaveServerId": int(route[-1])})
        location = answer.get("PxgRetVal")
        if not isinstance(location, dict) or not location:
            raise KscProtocolError(
                f"KSC's answer to {method} for secondary {route[-1]} holds no location.", method=method
            )
        if not (set(location) == {"type", "value"} and location.get("type") == "params"):
            location = {"type": "params", "value": location}  # an element of an array: wrapped params
        locations = [*parent.gateway_locations, location]  # a new list: never one shared between calls
        method = "GatewayConnection.PrepareGatewayConnection"
        key = primary.call(method, {"pLocations": locations}).get(GATEWAY_KEY)
        if not isinstance(key, str) or not key:
            raise KscProtocolError(f"KSC's answer to {method} holds no {GATEWAY_KEY}.", method=method)
        self.gateway_locations = locations
        return key

    def gateway_refused(self, status: int | None, method: str = "login") -> KscError:
        """The error for a refused ``KSCGW`` login (KlAkOAPI says only ``connected == False``)."""
        route = "/".join(map(str, self.config.route))
        if status is not None and status >= 500:
            return KscUnavailable(
                f"The primary at {self.config.base_url} could not reach secondary {route} through its gateway "
                f"(HTTP {status}); the secondary may be down.",
                method=method,
                status=status,
            )
        said = f" (HTTP {status})" if status is not None else ""
        return KscGatewayRefused(
            f"The primary at {self.config.base_url} refused the gateway login to secondary {route}{said}: "
            "the one-time key was refused; the next try prepares a new one.",
            method=method,
            status=status,
        )

    # --- the hierarchy ---

    def child_servers(self) -> list[ChildServer]:
        """``ServerHierarchy.GetChildServers(-1)``: this server's secondaries, in every group."""
        method = "ServerHierarchy.GetChildServers"
        value = wire.decode_value(self.call(method, {"nGroupId": -1}).get("PxgRetVal"))
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise KscProtocolError(f"KSC's answer to {method} is not an array of servers.", method=method)
        children = []
        for item in value:
            server_id = item.get(SERVER_ID)
            if not isinstance(server_id, int) or isinstance(server_id, bool):
                raise KscProtocolError(f"KSC's answer to {method} has a server without {SERVER_ID}.", method=method)
            children.append(
                ChildServer(
                    id=int(server_id),
                    display_name=str(item.get(SERVER_NAME) or ""),
                    instance_id=str(item.get(SERVER_INSTANCE_ID) or ""),
                    attributes=item,
                )
            )
        return children

    # --- incidents ---

    def add_incident(self, pdata: Mapping[str, Any]) -> int:
        """``HostGroup.AddIncident``: the new incident's id. pdata holds Python values (payload.add_incident_data)."""
        method = "HostGroup.AddIncident"
        answer = self.call(method, {"pData": wire.encode_params(dict(pdata))})
        return _integer(answer, "PxgRetVal", method)

    def update_incident(self, incident_id: int, pdata: Mapping[str, Any]) -> None:
        """``HostGroup.UpdateIncident``; pdata must name the host (payload.update_incident_data)."""
        self.call("HostGroup.UpdateIncident", {"nId": int(incident_id), "pData": wire.encode_params(dict(pdata))})

    def find_incidents(
        self,
        filter: str,
        fields: Sequence[str],
        order: Sequence[tuple[str, bool]] | None = None,
        *,
        chunk_size: int = 100,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``HostGroup.FindIncidents``, paged through its accessor, which is then released.

        ``filter`` must be built with ksc_client.filters; ``order`` is
        ``[(attribute, ascending)]`` over KLINCDT_ID/SEVERITY/ADDED/IS_HANDLED.
        """
        method = "HostGroup.FindIncidents"
        answer = self.call(
            method,
            {
                "strFilter": filters.require(filter),
                "pFieldsToReturn": list(fields),
                "pFieldsToOrder": _order(order),
                "lMaxLifeTime": self.ACCESSOR_LIFETIME,
            },
        )
        return self._read_accessor(answer, method, chunk_size=chunk_size, limit=limit)

    def delete_incident(self, incident_id: int) -> None:
        """``HostGroup.DeleteIncident``: remove an incident (a duplicate a slow KSC created late)."""
        self.call("HostGroup.DeleteIncident", {"nId": int(incident_id)})

    def matching_incidents(self, host_id: str, added: dt.datetime, body: str | None = None) -> list[int]:
        """Ids of every incident for ``host_id`` added at ``added`` (with ``body``), oldest first.

        The portal fixes KLINCDT_ADDED per request before its first attempt, so
        more than one id means KSC carried out more than one AddIncident of the
        same request. KSC is asked for the host's incidents within a second of
        ``added``; the exact time and body are compared here, so no full-text
        query is involved.
        """
        if added.tzinfo is None:
            added = added.replace(tzinfo=dt.UTC)  # naive means UTC, as in wire.format_datetime
        added = added.astimezone(dt.UTC).replace(microsecond=0)
        second = dt.timedelta(seconds=1)
        rows = self.find_incidents(
            filters.all_of(
                filters.equals(INCIDENT_HOST, host_id),
                filters.compare(INCIDENT_ADDED, ">", added - second),
                filters.compare(INCIDENT_ADDED, "<", added + second),
            ),
            [INCIDENT_ID, INCIDENT_ADDED, INCIDENT_BODY, INCIDENT_HOST],
            order=[(INCIDENT_ID, True)],
        )
        return [
            int(row[INCIDENT_ID])
            for row in rows
            if row.get(INCIDENT_ADDED) == added
            and row.get(INCIDENT_HOST) == host_id
            and (body is None or _same_body(row.get(INCIDENT_BODY), body))
            and isinstance(row.get(INCIDENT_ID), int)
        ]

    def find_incident(self, host_id: str, added: dt.datetime, body: str | None = None) -> int | None:
        """The id of the incident this portal added for ``host_id`` at ``added`` (with ``body``), or None.

        The submission job's exactly-once recovery: after a lost answer it asks
        whether its AddIncident went through before adding again. When several
        match (KSC carried out a late AddIncident too), the oldest wins; the late
        duplicate check (responses.duplicates) removes the others.
        """
        found = self.matching_incidents(host_id, added, body)
        if len(found) > 1:
            logger.warning(
                "KSC holds %d identical incidents for host %s at %s: ids %s",
                len(found),
                host_id,
                wire.format_datetime(added if added.tzinfo else added.replace(tzinfo=dt.UTC)),
                ", ".join(str(incident_id) for incident_id in found),
            )
        return found[0] if found else None

    # --- hosts ---

    def find_hosts(self, query: str, *, limit: int = 50) -> list[Host]:
        """Hosts whose display name, FQDN, DNS or NetBIOS name contains ``query`` (any part, any
        case), whose IPv4 address is ``query`` (a whole address only: KSC keeps it as a number, so
        a partial IP cannot be matched), or whose KSC id is ``query``; ordered by display name.

        The text is matched literally: quotes, parentheses and wildcards in it are escaped.
        """
        text = query.strip()
        if not text:
            return []
        clauses = [filters.contains(name, text) for name in (DISPLAY_NAME, FQDN, DNS_NAME, NETBIOS_NAME)]
        if not filters.has_wildcards(text):
            clauses.append(filters.equals(HOST_ID, text))
        ip = parse_ipv4(text)
        if ip is not None:
            clauses.append(filters.compare(IP_LONG, "=", ip_to_long(ip)))
        rows = self._find_hosts(filters.any_of(*clauses), limit=limit)
        return [Host.from_attributes(row) for row in rows]

    def hosts_named(self, name: str, *, limit: int = 2) -> list[Host]:
        """Hosts whose display name is ``name`` (whole, any case, taken literally), for "did you mean"."""
        text = name.strip()
        if not text:
            return []
        return [Host.from_attributes(row) for row in self._find_hosts(filters.same_text(DISPLAY_NAME, text), limit=limit)]

    def hosts_for_lines(self, texts: Sequence[str], *, limit: int = 1000) -> list[Host]:
        """Hosts whose KSC id, display name, FQDN is one of ``texts`` (whole, any case,
        taken literally), or whose IPv4 address is one: ONE FindHosts for the lot (a campaign's pasted
        list goes in chunks, not a call per line). The caller matches each line to its hosts."""
        clauses = []
        for text in (t.strip() for t in texts):
            if not text:
                continue
            clauses += [filters.same_text(name, text) for name in (DISPLAY_NAME, FQDN)]
            if not filters.has_wildcards(text):
                clauses.append(filters.equals(HOST_ID, text))
            ip = parse_ipv4(text)
            if ip is not None:
                clauses.append(filters.compare(IP_LONG, "=", ip_to_long(ip)))
        if not clauses:
            return []
        return [Host.from_attributes(row) for row in self._find_hosts(filters.any_of(*clauses), limit=limit)]

    def count_hosts_in_group(self, group_name: str) -> int:
        """How many hosts KSC has in the administration group of this name (FindHosts' count, no rows read)."""
        method = "HostGroup.FindHosts"
        answer = self.call(
            method,
            {
                "wstrFilter": filters.same_text(GROUP_NAME, group_name),
                "vecFieldsToReturn": [HOST_ID],
                "vecFieldsToOrder": [],
                "pParams": {"KLGRP_FIND_FROM_CUR_VS_ONLY": True},
                "lMaxLifeTime": self.ACCESSOR_LIFETIME,
            },
        )
        count = _integer(answer, "PxgRetVal", method)
        accessor = answer.get("strAccessor")
        if isinstance(accessor, str) and accessor:
            self._release(accessor)
        return count

    # --- administration groups (docs/ksc-wire.md, section 7) ---

    GROUP_CHUNK = 50  # group ids per FindHosts when reading the hosts of a group and its subgroups

    def group_id(self, path: str) -> int | None:
        """The id of the administration group at ``path`` ("Managed devices/Servers/DC", or "Servers/DC" below
        the root), None when KSC has none: the root's id (``GroupIdGroups``), then ``GetGroupId`` per level,
        Kaspersky's own way to find a group by its full name."""
        method = "HostGroup.GroupIdGroups"
        current = _integer(self.call(method, {}), "PxgRetVal", method)
        for name in group_parts(path):
            method = "HostGroup.GetGroupId"
            current = _integer(self.call(method, {"nParent": current, "strName": name}), "PxgRetVal", method)
            if current < 0:
                return None
        return current

    def subgroup_ids(self, group_id: int) -> list[int]:
        """The ids of every group below ``group_id``, at any depth (``GetSubgroups`` with depth 0: the whole tree)."""
        method = "HostGroup.GetSubgroups"
        tree = wire.decode_value(self.call(method, {"nGroupId": group_id, "nDepth": 0}).get("PxgRetVal"))
        if not isinstance(tree, list):
            raise KscProtocolError(f"KSC's answer to {method} holds no list of groups.", method=method)
        ids: list[int] = []
        pending = list(tree)
        while pending:
            node = pending.pop(0)
            number = node.get("id") if isinstance(node, dict) else None
            if not isinstance(number, int) or isinstance(number, bool):
                raise KscProtocolError(f"KSC's answer to {method} holds a group without an id.", method=method)
            ids.append(number)
            children = node.get("groups") or []
            if not isinstance(children, list):
                raise KscProtocolError(f"KSC's answer to {method} holds a malformed subtree.", method=method)
            pending.extend(children)
        return ids

    def hosts_in_groups(self, group_ids: Sequence[int], *, limit: int) -> tuple[list[Host], int]:
        """(up to ``limit`` hosts, how many there are) directly in any of these groups: one FindHosts per
        GROUP_CHUNK groups, ``(KLHST_WKS_GROUPID = id)`` clauses; ordered by display name within a chunk."""
        method = "HostGroup.FindHosts"
        hosts: list[Host] = []
        total = 0
        ids = list(dict.fromkeys(group_ids))
        for start in range(0, len(ids), self.GROUP_CHUNK):
            clauses = [filters.equals(GROUP_ID, number) for number in ids[start : start + self.GROUP_CHUNK]]
            answer = self.call(
                method,
                {
                    "wstrFilter": filters.any_of(*clauses),
                    "vecFieldsToReturn": list(HOST_FIELDS),
                    "vecFieldsToOrder": _order([(DISPLAY_NAME, True)]),
                    "pParams": {CURRENT_VS_ONLY: True},
                    "lMaxLifeTime": self.ACCESSOR_LIFETIME,
                },
            )
            total += _integer(answer, "PxgRetVal", method)
            room = max(limit - len(hosts), 0)
            rows = self._read_accessor(answer, method, chunk_size=100, limit=room)
            hosts += [Host.from_attributes(row) for row in rows]
        return hosts, total

    def get_host(self, host_id: str) -> Host | None:
        """The host with this KSC id, or None when KSC does not know it."""
        rows = self._find_hosts(filters.equals(HOST_ID, host_id), limit=2)
        return Host.from_attributes(rows[0]) if rows else None

    def get_hosts(self, host_ids: Sequence[str]) -> dict[str, Host]:
        """The hosts with these KSC ids, by id, in ONE FindHosts (an approval queue's page); ids KSC
        does not know are left out."""
        ids = list(dict.fromkeys(host_id for host_id in host_ids if host_id))
        if not ids:
            return {}
        rows = self._find_hosts(filters.any_of(*(filters.equals(HOST_ID, host_id) for host_id in ids)), limit=len(ids) * 2)
        found = {}
        for row in rows:
            host = Host.from_attributes(row)
            if host.id in ids:
                found.setdefault(host.id, host)
        return found

    def get_host_info(self, host_id: str, fields: Sequence[str]) -> dict[str, Any]:
        """``HostGroup.GetHostInfo``: the host's attributes, decoded. KscCallError for an unknown host."""
        method = "HostGroup.GetHostInfo"
        answer = self.call(method, {"strHostName": host_id, "pFields2Return": list(fields)})
        info = wire.decode_value(answer.get("PxgRetVal"))
        if not isinstance(info, dict):
            raise KscProtocolError(f"KSC's answer to {method} holds no host attributes.", method=method)
        return info

    def _find_hosts(self, filter: str, *, limit: int) -> list[dict[str, Any]]:
        method = "HostGroup.FindHosts"
        answer = self.call(
            method,
            {
                "wstrFilter": filters.require(filter),
                "vecFieldsToReturn": list(HOST_FIELDS),
                "vecFieldsToOrder": _order([(DISPLAY_NAME, True)]),
                "pParams": {"KLGRP_FIND_FROM_CUR_VS_ONLY": True},
                "lMaxLifeTime": self.ACCESSOR_LIFETIME,
            },
        )
        return self._read_accessor(answer, method, chunk_size=min(limit, 100), limit=limit)

    def find_hosts_async(
        self,
        filter: str,
        fields: Sequence[str],
        *,
        depth: int = 0,
        current_vs_only: bool = True,
        order: Sequence[tuple[str, bool]] | None = None,
        limit: int | None = 1000,
        timeout: float | None = None,
    ) -> HostSearch:
        """``HostGroup.FindHostsAsync`` over this server and ``depth`` levels of secondaries below it.

        Waits for the search (``AsyncActionStateChecker.CheckActionState``, at most ``timeout``
        seconds: the read timeout by default), then reads its accessor: the rows (at most
        ``limit``) and the secondaries that did not answer (``pFailedSlavesInfo``), which the
        caller must show: fewer hosts are never silently fewer.
        """
        method = "HostGroup.FindHostsAsync"
        answer = self.call(
            method,
            {
                "wstrFilter": filters.require(filter),
                "vecFieldsToReturn": list(fields),
                "vecFieldsToOrder": _order(order),
                "pParams": {SLAVE_DEPTH: int(depth), CURRENT_VS_ONLY: bool(current_vs_only)},
                "lMaxLifeTime": self.ACCESSOR_LIFETIME,
            },
        )
        request_id = answer.get("strRequestId")
        if not isinstance(request_id, str) or not request_id:
            raise KscProtocolError(f"KSC's answer to {method} holds no strRequestId.", method=method)
        self._wait_for_action(request_id, timeout if timeout is not None else self.config.read_timeout)
        method = "HostGroup.FindHostsAsyncGetAccessor"
        answer = self.call(method, {"strRequestId": request_id})
        failed = _failed_secondaries(answer.get("pFailedSlavesInfo"), method)
        rows = self._read_accessor(answer, method, chunk_size=100 if limit is None else min(limit, 100), limit=limit)
        return HostSearch(rows=rows, failed_secondaries=failed)

    def _wait_for_action(self, action: str, timeout: float) -> None:
        method = "AsyncActionStateChecker.CheckActionState"
        deadline = time.monotonic() + timeout
        while True:
            state = self.call(method, {"wstrActionGuid": action})
            if state.get("bFinalized") is True:
                if state.get("bSuccededFinalized") is not True:
                    detail = wire.decode_value(state.get("pStateData"))
                    raise KscCallError.from_pxg_error(method, detail if isinstance(detail, dict) else str(detail))
                return
            if time.monotonic() >= deadline:
                raise KscUnavailable(f"KSC's search {action} did not finish within {timeout:g} s.", method=method)
            delay = state.get("lNextCheckDelay")
            pause = delay / 1000 if isinstance(delay, int) and not isinstance(delay, bool) and delay > 0 else 0.1
            time.sleep(min(pause, 1.0, max(deadline - time.monotonic(), 0.0)))

    # --- accessors ---

    def _read_accessor(
        self, answer: dict[str, Any], method: str, *, chunk_size: int, limit: int | None
    ) -> list[dict[str, Any]]:
        count = _integer(answer, "PxgRetVal", method)
        accessor = answer.get("strAccessor")
        if not isinstance(accessor, str) or not accessor:
            raise KscProtocolError(f"KSC's answer to {method} holds no result accessor.", method=method)
        wanted = count if limit is None else min(count, limit)
        rows: list[dict[str, Any]] = []
        try:
            while len(rows) < wanted:
                chunk_method = "ChunkAccessor.GetItemsChunk"
                chunk = self.call(
                    chunk_method,
                    {"strAccessor": accessor, "nStart": len(rows), "nCount": min(chunk_size, wanted - len(rows))},
                )
                items = _chunk_items(chunk, chunk_method)
                if not items:
                    break  # fewer than announced: the result changed under us
                rows.extend(items)
        finally:
            self._release(accessor)
        return rows[:wanted]

    def _release(self, accessor: str) -> None:
        # KSC frees an accessor after its lifetime anyway: a failed release must not mask the result.
        try:
            self.call("ChunkAccessor.Release", {"strAccessor": accessor})
        except KscError as error:
            logger.info("Could not release a KSC result accessor: %s", error)


def _order(order: Sequence[tuple[str, bool]] | None) -> list[Any]:
    return [wire.encode_value({"Name": name, "Asc": bool(ascending)}) for name, ascending in (order or [])]


def _integer(answer: dict[str, Any], key: str, method: str) -> int:
    value = wire.decode_value(answer.get(key))
    if not isinstance(value, int) or isinstance(value, bool):
        raise KscProtocolError(f"KSC's answer to {method} has no integer {key}.", method=method)
    return int(value)


def _chunk_items(answer: dict[str, Any], method: str) -> list[dict[str, Any]]:
    chunk = wire.decode_value(answer.get("pChunk"))
    items = chunk.get(CHUNK_ITEMS) if isinstance(chunk, dict) else None
    if items is None and isinstance(chunk, dict) and not chunk:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise KscProtocolError(f"KSC's answer to {method} holds no {CHUNK_ITEMS} of records.", method=method)
    return items


def _same_body(found: Any, body: str) -> bool:
    if found == body:
        return True
    # KSC may store the JSON re-serialised; the same envelope is the same request.
    try:
        return isinstance(found, str) and json.loads(found) == json.loads(body)
    except ValueError:
        return False


@dataclass(frozen=True)
class ChildServer:
    """A secondary server as ``ServerHierarchy.GetChildServers`` lists it."""

    id: int
    display_name: str
    instance_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FailedSecondary:
    """A secondary that did not answer a search across the hierarchy (``pFailedSlavesInfo``)."""

    id: int | None
    display_name: str


@dataclass(frozen=True)
class HostSearch:
    """What ``find_hosts_async`` found: the rows (attributes, decoded) and the secondaries that did not answer."""

    rows: list[dict[str, Any]]
    failed_secondaries: list[FailedSecondary]


def _failed_secondaries(value: Any, method: str) -> list[FailedSecondary]:
    decoded = wire.decode_value(value)
    if decoded is None:
        return []
    items = decoded.get(FAILED_SECONDARIES) if isinstance(decoded, dict) else decoded
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise KscProtocolError(f"KSC's answer to {method} has a pFailedSlavesInfo that is not a list.", method=method)
    failed = []
    for item in items:
        server_id = item.get(SERVER_ID)
        failed.append(
            FailedSecondary(
                id=int(server_id) if isinstance(server_id, int) and not isinstance(server_id, bool) else None,
                display_name=str(item.get(SERVER_NAME) or ""),
            )
        )
    return failed
