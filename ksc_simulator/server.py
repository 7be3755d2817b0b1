"""A KSC Administration Server stand-in speaking the Open API over HTTPS (docs/ksc-wire.md).

Both of the portal's clients, and Kaspersky's KlAkOAPI unchanged, work against
it: ``login`` bound to the connection (HTTP/1.1 keep-alive), Session tokens,
HostGroup incident and host calls, ChunkAccessor paging, PxgError answers,
401 for a refused or missing login, 403 for a dead session token.

It is strict where a real KSC would be and the portal could be wrong: every
AddIncident is validated (required pData fields with their wire types, a
KLINCDT_BODY envelope with a known task and params KES can carry out
(ksc_simulator/envelope.py), a host that exists), and filters are parsed by
ksc_simulator/filters.py, a malformed one refused. It imports nothing of the
portal (the ``responses`` package): it stands in for KSC, and it must not share
the portal's mistakes.

Choices where KSC's behaviour is not documented (the spec marks them unknown):

- PxgError codes: 1183 for "not found" (the spec's example), 1170 for a bad
  parameter or filter, 1172 for an unknown method; module "KLSTD".
- A session token expires after ``session_ttl`` seconds without use
  (default 1800); a kept-alive connection closes after ``idle_timeout``
  seconds without a request (default 120), taking its login with it.
- An accessor lives ``lMaxLifeTime`` seconds from its creation (default 100,
  at most 7200), however often it is read.
- A ``delay_ms`` fault delays before the call is carried out: an AddIncident
  whose client gave up still creates its incident, as a slow KSC would.
  ``add_delay_ms`` does the same to AddIncident alone (a KSC slow to create
  incidents while its other calls answer at once).
- With ``state_file`` (``manage.py ksc_simulator --state FILE``) the incidents
  and the id counter are loaded from the file at start and written to it
  (atomically: a temporary file renamed over it) after every change, so a
  simulator killed and started again keeps them. Sessions, accessors, faults
  and the clock are not kept: a restarted KSC loses those too.

Several servers (ksc_simulator/hierarchy.py, docs/ksc-wire.md section 11): virtual servers chosen
by ``X-KSC-VServer`` at login, secondaries reached through ``CgwHelper.GetSlaveServerLocation``,
``GatewayConnection.PrepareGatewayConnection`` and a ``KSCGW`` login, ``ServerHierarchy`` and
``HostGroup.FindHostsAsync``; each server with its own hosts, incidents and tasks. Without
``vservers``/``secondaries`` it is one server, as before.

Outside the Open API, for tests and demos (no authentication: bind it to loopback):

- ``GET /_simulator/topology`` (the servers and their keys), ``POST /_simulator/topology``
  ``{"failing": [secondary ids]}``; the endpoints below take ``?server=vserver:NAME`` or
  ``?server=secondary:ID`` (default: the primary). Faults, the clock and expire-sessions are the
  primary's and act on every server.

- ``GET /_simulator/incidents``: every incident, ``{id, pData (as received),
  updates: [{pData, received}], received, deleted}``.
- ``GET /_simulator/hosts``: the inventory; ``GET /_simulator/stats``: logins,
  sessions, calls per method, open accessors, calls being carried out now
  (``in_progress``, per method: a slow AddIncident shows there until it is stored).
- ``POST /_simulator/faults`` with a JSON object, merged into the current faults
  (``{}`` clears them all): ``{"fail_next": N, "status": 503}`` the next N calls
  answer that status; ``{"delay_ms": D}`` every call waits D ms;
  ``{"add_delay_ms": D}`` every AddIncident waits D ms, then stores its
  incident even when the client has given up by then;
  ``{"late_adds": N, "late_add_ms": D}`` the next N AddIncident calls alone
  wait D ms, then store their incident (one call KSC completes long after
  the client gave up, while later calls are quick);
  ``{"drop_after_add": N}`` the next N AddIncident calls store the incident,
  then close the connection unanswered; ``{"reject_login": true}`` every login
  gets 401; ``{"malformed_next": N}`` the next N calls answer 200 with HTML;
  ``{"methods": [...]}`` limits fail_next and malformed_next to those methods.
  Faults apply to every Open API request, ``login`` included.
- ``POST /_simulator/expire-sessions``: ends every session and connection login.
- ``POST /_simulator/clock`` ``{"advance_seconds": N}``: moves the clock used for expiry.
- ``POST /_simulator/move-host`` ``{"host": id, "group": name}``: moves a host into another
  administration group (made when new), as an administrator's drag in the console would. A group
  is a path below "Managed devices" ("Servers/Domain Controllers"); its hosts' ``name`` is the last
  part, and ``HostGroup.GroupIdGroups``, ``GetGroupId`` and ``GetSubgroups`` walk the tree.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import gzip
import json
import logging
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ksc_simulator import filters, tasks, wire
from ksc_simulator.calls import (  # noqa: F401 (also read here by the tests as server.ERR_*)
    ERR_BAD_PARAM,
    ERR_NO_METHOD,
    ERR_NOT_FOUND,
    PxgError,
    _int,
    _only,
    _str,
    bad_param,
)
from ksc_simulator.certificates import certificate_names, generate_certificate
from ksc_simulator.envelope import EnvelopeError, check_envelope
from ksc_simulator.hierarchy import KEY_TTL, Topology, TopologyError
from ksc_simulator.inventory import ROOT_GROUP, SimulatedHost, default_hosts
from ksc_simulator.state import Accessor, Incident, Session, SimulatorState

logger = logging.getLogger("ksc_simulator")

MAX_BODY_BYTES = 32 * 1024 * 1024  # an iocScan body carries up to 10 MiB of base64
MAX_ACCESSOR_LIFETIME = 7200
DEFAULT_ACCESSOR_LIFETIME = 100

HOST_SCHEMA = {
    "KLHST_WKS_HOSTNAME": filters.STRING,
    "KLHST_WKS_DN": filters.STRING,
    "KLHST_WKS_FQDN": filters.STRING,
    "KLHST_WKS_DNSNAME": filters.STRING,
    "KLHST_WKS_DNSDOMAIN": filters.STRING,
    "KLHST_WKS_WINHOSTNAME": filters.STRING,
    "KLHST_WKS_WINDOMAIN": filters.STRING,
    "KLHST_WKS_IP_LONG": filters.NUMBER,
    "KLHST_WKS_GROUPID": filters.NUMBER,
    "KLHST_WKS_STATUS": filters.NUMBER,
    "KLHST_WKS_OS_NAME": filters.STRING,
    "KLHST_WKS_LAST_NAGENT_CONNECTED": filters.TIME,
    "KLHST_WKS_LAST_VISIBLE": filters.TIME,
    "name": filters.STRING,
}
INCIDENT_SCHEMA = {
    "KLINCDT_ID": filters.NUMBER,
    "KLINCDT_SEVERITY": filters.NUMBER,
    "KLINCDT_ADDED": filters.TIME,
    "KLINCDT_IS_HANDLED": filters.BOOL,
    "KLINCDT_BODY": filters.FULLTEXT,
    "KLHST_WKS_HOSTNAME": filters.STRING,
}
# Returnable but not filterable.
INCIDENT_FIELDS = {*INCIDENT_SCHEMA, "KLHSTUSER_ID", "GNRL_EXTRA_PARAMS"}
INCIDENT_ORDERABLE = {"KLINCDT_ID", "KLINCDT_SEVERITY", "KLINCDT_ADDED", "KLINCDT_IS_HANDLED"}


class _HttpRefusal(Exception):
    """Answer with this status (401/403 and the simulator's own errors)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _LoginRefusal(_HttpRefusal):
    """A refused login as KSC answers it: 401 with a plain-text body, not JSON (docs/ksc-wire.md, section 3).

    503 for a gateway login to a secondary the primary cannot reach.
    """

    def __init__(self, message: str, *, scheme: str = "KSCBasic", status: int = 401):
        super().__init__(status, message)
        self.scheme = scheme


class _DropConnection(Exception):
    """Close the connection without answering (the drop_after_add fault)."""


# --- value checks ------------------------------------------------------------------------------


def _params(value: Any, name: str) -> dict[str, Any]:
    """A top-level params argument: a plain JSON object (never the wrapped form)."""
    if not isinstance(value, dict):
        raise bad_param(f"{name} must be a params object")
    if set(value) == {"type", "value"} and value.get("type") == "params":
        raise bad_param(f"{name} is a top-level params argument: send it as a plain object, not wrapped")
    return value


def _fields(value: Any, name: str, known: set[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_param(f"{name} must be an array of attribute names")
    unknown = [item for item in value if item not in known]
    if unknown:
        raise bad_param(f"{name}: unknown attributes {', '.join(unknown)}")
    return value


def _order(value: Any, name: str, orderable: set[str]) -> list[tuple[str, bool]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_param(f"{name} must be an array")
    order = []
    for index, item in enumerate(value):
        if not (isinstance(item, dict) and item.get("type") == "params" and isinstance(item.get("value"), dict)):
            raise bad_param(f"{name}[{index}] must be a params value {{Name, Asc}}")
        inner = item["value"]
        if set(inner) - {"Name", "Asc"} or not isinstance(inner.get("Name"), str):
            raise bad_param(f"{name}[{index}] must hold Name (string) and Asc (boolean)")
        if type(inner.get("Asc", True)) is not bool:
            raise bad_param(f"{name}[{index}].Asc must be a boolean")
        if inner["Name"] not in orderable:
            raise bad_param(f"{name}[{index}]: cannot order by {inner['Name']}")
        order.append((inner["Name"], inner.get("Asc", True)))
    return order


def _datetime(value: Any, name: str) -> dt.datetime:
    if not (isinstance(value, dict) and value.get("type") == "datetime" and set(value) == {"type", "value"}):
        raise bad_param(f'{name} must be a datetime value {{"type": "datetime", "value": ...}}')
    try:
        return wire.parse_datetime(value["value"])
    except (TypeError, ValueError):
        raise bad_param(f"{name} must be YYYY-MM-DDTHH:MM:SSZ, not {value['value']!r}") from None


def _lifetime(args: dict[str, Any]) -> int:
    if "lMaxLifeTime" not in args:
        return DEFAULT_ACCESSOR_LIFETIME
    lifetime = _int(args["lMaxLifeTime"], "lMaxLifeTime")
    if not 1 <= lifetime <= MAX_ACCESSOR_LIFETIME:
        raise bad_param(f"lMaxLifeTime must be 1 to {MAX_ACCESSOR_LIFETIME} seconds")
    return lifetime


def _filter(text: Any, name: str, schema: dict[str, str]) -> Any:
    text = _str(text, name)
    # KSC's grammar is filter = "(" filtercomp ")": there is no empty filter, and a strict
    # server refuses one (filters.parse says so); select everything with (KLHST_WKS_DN = "*").
    try:
        node = filters.parse(text)
        filters.check(node, schema)
    except filters.FilterSyntaxError as error:
        raise bad_param(f"{name}: {error}") from None
    return node


def _sorted(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for name, ascending in reversed(order):
        present = [row for row in rows if row.get(name) is not None]
        absent = [row for row in rows if row.get(name) is None]
        present.sort(key=lambda row: _sort_key(row[name]), reverse=not ascending)
        rows = present + absent
    return rows


def _sort_key(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


# --- the Open API --------------------------------------------------------------------------------


class OpenApi:
    """The HostGroup, ChunkAccessor and Session calls, on a SimulatorState."""

    def __init__(self, state: SimulatorState):
        self.state = state

    def dispatch(self, method: str, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        handler = self.METHODS.get(method)
        if handler is None and tasks.handles(method):
            return tasks.dispatch(self.state, method, args)
        if handler is None:
            raise PxgError(ERR_NO_METHOD, f"Method {method} is not implemented")
        return handler(self, args, connection)

    # Session

    def start_session(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ())
        token = "nst" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.sessions[token] = Session(
                user=self.state.user, last_used=self.state.time(), server=self.state.name
            )
            self.state.stats["sessions_started"] += 1
        return {"PxgRetVal": token}

    def ping(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ())
        return {}

    def end_session(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ())
        token = connection.headers.get("X-KSC-Session")
        if token:
            with self.state.lock:
                self.state.sessions.pop(token, None)
        return {}

    # Incidents

    def add_incident(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("pData",))
        pdata = _params(args["pData"], "pData")
        allowed = {"KLINCDT_SEVERITY", "KLINCDT_ADDED", "KLINCDT_BODY", "KLHST_WKS_HOSTNAME"}
        optional = {"KLHSTUSER_ID", "KLINCDT_IS_HANDLED"}
        missing = sorted(allowed - set(pdata))
        if missing:
            raise bad_param(f"pData: missing {', '.join(missing)}")
        unknown = sorted(set(pdata) - allowed - optional)
        if unknown:
            raise bad_param(f"pData: unexpected {', '.join(unknown)}")
        host_id = _str(pdata["KLHST_WKS_HOSTNAME"], "pData.KLHST_WKS_HOSTNAME")
        attrs = self._incident_values(pdata, host_id)
        with self.state.lock:
            if host_id not in self.state.hosts:
                raise PxgError(ERR_NOT_FOUND, f"Host {host_id} not found")
            incident_id = self.state.next_incident_id
            self.state.next_incident_id += 1
            attrs.setdefault("KLINCDT_IS_HANDLED", False)
            attrs.update(KLINCDT_ID=incident_id, KLHST_WKS_HOSTNAME=host_id)
            self.state.incidents[incident_id] = Incident(
                id=incident_id, pdata=pdata, received=self.state.now(), attrs=attrs
            )
            tasks.incident_added(self.state, self.state.incidents[incident_id])
            self.state.save()
        if self.state.take_fault("drop_after_add"):
            raise _DropConnection()
        return {"PxgRetVal": incident_id}

    def update_incident(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("nId", "pData"))
        incident_id = _int(args["nId"], "nId")
        pdata = _params(args["pData"], "pData")
        if "KLHST_WKS_HOSTNAME" not in pdata:
            raise bad_param("pData: KLHST_WKS_HOSTNAME must be present in every update")
        host_id = _str(pdata["KLHST_WKS_HOSTNAME"], "pData.KLHST_WKS_HOSTNAME")
        updatable = {"KLINCDT_BODY", "KLINCDT_SEVERITY", "KLINCDT_ADDED", "KLINCDT_IS_HANDLED", "KLHST_WKS_HOSTNAME"}
        unknown = sorted(set(pdata) - updatable)
        if unknown:
            raise bad_param(f"pData: cannot update {', '.join(unknown)}")
        values = self._incident_values(pdata, host_id)
        with self.state.lock:
            incident = self.state.incidents.get(incident_id)
            if incident is None or incident.deleted:
                raise PxgError(ERR_NOT_FOUND, f"Incident {incident_id} not found")
            if host_id != incident.attrs["KLHST_WKS_HOSTNAME"]:
                raise bad_param(f"pData.KLHST_WKS_HOSTNAME: incident {incident_id} belongs to another host")
            incident.attrs.update(values)
            incident.updates.append({"pData": pdata, "received": wire.format_datetime(self.state.now())})
            self.state.save()
        return {}

    def delete_incident(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("nId",))
        incident_id = _int(args["nId"], "nId")
        with self.state.lock:
            incident = self.state.incidents.get(incident_id)
            if incident is None or incident.deleted:
                raise PxgError(ERR_NOT_FOUND, f"Incident {incident_id} not found")
            incident.deleted = True
            self.state.save()
        return {}

    def _incident_values(self, pdata: dict[str, Any], host_id: str) -> dict[str, Any]:
        """pData's values decoded, each checked for its wire type; the body checked as an envelope."""
        values: dict[str, Any] = {}
        if "KLINCDT_SEVERITY" in pdata:
            severity = _int(pdata["KLINCDT_SEVERITY"], "pData.KLINCDT_SEVERITY", long_ok=False)
            if not 0 <= severity <= 3:
                raise bad_param("pData.KLINCDT_SEVERITY must be 0 to 3")
            values["KLINCDT_SEVERITY"] = severity
        if "KLINCDT_ADDED" in pdata:
            values["KLINCDT_ADDED"] = _datetime(pdata["KLINCDT_ADDED"], "pData.KLINCDT_ADDED")
        if "KLINCDT_IS_HANDLED" in pdata:
            if type(pdata["KLINCDT_IS_HANDLED"]) is not bool:
                raise bad_param("pData.KLINCDT_IS_HANDLED must be a boolean")
            values["KLINCDT_IS_HANDLED"] = pdata["KLINCDT_IS_HANDLED"]
        if "KLHSTUSER_ID" in pdata:
            values["KLHSTUSER_ID"] = _int(pdata["KLHSTUSER_ID"], "pData.KLHSTUSER_ID", long_ok=False)
        if "KLINCDT_BODY" in pdata:
            body = _str(pdata["KLINCDT_BODY"], "pData.KLINCDT_BODY")
            try:
                check_envelope(body, host_id)
            except EnvelopeError as error:
                raise bad_param(str(error)) from None
            values["KLINCDT_BODY"] = body
        return values

    def find_incidents(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strFilter", "pFieldsToReturn"), ("pFieldsToOrder", "lMaxLifeTime"))
        node = _filter(args["strFilter"], "strFilter", INCIDENT_SCHEMA)
        fields = _fields(args["pFieldsToReturn"], "pFieldsToReturn", INCIDENT_FIELDS)
        order = _order(args.get("pFieldsToOrder"), "pFieldsToOrder", INCIDENT_ORDERABLE)
        lifetime = _lifetime(args)
        with self.state.lock:
            now = self.state.now()
            rows = [
                dict(incident.attrs)
                for incident in sorted(self.state.incidents.values(), key=lambda item: item.id)
                if not incident.deleted
                and (node is None or filters.matches(node, incident.attrs, INCIDENT_SCHEMA, now))
            ]
        return self._accessor(_sorted(rows, order), fields, lifetime)

    # Hosts

    def find_hosts(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("wstrFilter", "vecFieldsToReturn"), ("vecFieldsToOrder", "pParams", "lMaxLifeTime"))
        node = _filter(args["wstrFilter"], "wstrFilter", HOST_SCHEMA)
        fields = _fields(args["vecFieldsToReturn"], "vecFieldsToReturn", set(HOST_SCHEMA))
        order = _order(args.get("vecFieldsToOrder"), "vecFieldsToOrder", set(HOST_SCHEMA))
        if "pParams" in args:
            options = _params(args["pParams"], "pParams")
            for name in ("KLGRP_FIND_FROM_CUR_VS_ONLY",):
                if name in options and type(options[name]) is not bool:
                    raise bad_param(f"pParams.{name} must be a boolean")
        lifetime = _lifetime(args)
        now = self.state.now()
        wanted = filters.predicate(node, HOST_SCHEMA, now) if node is not None else None
        rows = []
        for host in self.state.hosts.values():
            attrs = self.state.host_attributes(host)
            if wanted is None or wanted(attrs):
                rows.append(attrs)
        return self._accessor(_sorted(rows, order), fields, lifetime)

    # Administration groups (docs/ksc-wire.md, section 7): the root's id, a child's id by name, the tree below.

    def group_id_groups(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ())
        return {"PxgRetVal": self.state.group_ids[ROOT_GROUP]}

    def get_group_id(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("nParent", "strName"))
        parent = _int(args["nParent"], "nParent", long_ok=False)
        name = _str(args["strName"], "strName")
        paths = {number: path for path, number in self.state.group_ids.items()}
        if parent not in paths:
            return {"PxgRetVal": -1}
        return {"PxgRetVal": self.state.group_ids.get(f"{paths[parent]}/{name}", -1)}

    def get_subgroups(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("nGroupId", "nDepth"))
        group = _int(args["nGroupId"], "nGroupId", long_ok=False)
        depth = _int(args["nDepth"], "nDepth", long_ok=False)
        if depth < 0:
            raise bad_param("nDepth must be 0 (every level) or more")
        if group not in self.state.group_ids.values():
            raise PxgError(ERR_NOT_FOUND, f"Group {group} not found")
        return {"PxgRetVal": [wire.encode_value(node) for node in self.state.subgroups(group, depth)]}

    def get_host_info(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strHostName", "pFields2Return"))
        host_id = _str(args["strHostName"], "strHostName")
        fields = _fields(args["pFields2Return"], "pFields2Return", set(HOST_SCHEMA))
        host = self.state.hosts.get(host_id)
        if host is None:
            raise PxgError(ERR_NOT_FOUND, f"Host {host_id} not found")
        attrs = self.state.host_attributes(host)
        return {"PxgRetVal": wire.encode_params({name: attrs[name] for name in fields if name in attrs})}

    # Accessors

    def _accessor(self, rows: list[dict[str, Any]], fields: list[str], lifetime: int) -> dict[str, Any]:
        projected = [{name: row[name] for name in fields if row.get(name) is not None} for row in rows]
        accessor_id = secrets.token_hex(16)
        with self.state.lock:
            self.state.accessors[accessor_id] = Accessor(rows=projected, expires=self.state.time() + lifetime)
        return {"PxgRetVal": len(projected), "strAccessor": accessor_id}

    def _live_accessor(self, args: dict[str, Any]) -> Accessor:
        accessor_id = _str(args["strAccessor"], "strAccessor")
        with self.state.lock:
            accessor = self.state.accessors.get(accessor_id)
            if accessor is not None and accessor.expires <= self.state.time():
                del self.state.accessors[accessor_id]
                accessor = None
        if accessor is None:
            raise PxgError(ERR_NOT_FOUND, f"Accessor {accessor_id} not found or expired")
        return accessor

    def items_count(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strAccessor",))
        return {"PxgRetVal": len(self._live_accessor(args).rows)}

    def items_chunk(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strAccessor", "nStart", "nCount"))
        start, count = _int(args["nStart"], "nStart"), _int(args["nCount"], "nCount")
        if start < 0 or count < 0:
            raise bad_param("nStart and nCount must not be negative")
        rows = self._live_accessor(args).rows[start : start + count]
        # As real servers do, PxgRetVal counts the items in this chunk (docs/ksc-wire.md, section 10).
        return {"PxgRetVal": len(rows), "pChunk": {"KLCSP_ITERATOR_ARRAY": [wire.encode_value(row) for row in rows]}}

    def release(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strAccessor",))
        accessor_id = _str(args["strAccessor"], "strAccessor")
        with self.state.lock:
            self.state.accessors.pop(accessor_id, None)
        return {}

    # The hierarchy (ksc_simulator/hierarchy.py)

    @property
    def topology(self) -> Topology:
        return self.state.root.topology

    def get_child_servers(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        return self.topology.get_child_servers(self.state, args)

    def get_slave_server_location(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        return self.topology.get_slave_server_location(self.state, args)

    def prepare_gateway_connection(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        return self.topology.prepare_gateway_connection(self.state, args)

    def prepare_to_secondary(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        return self.topology.prepare_to_secondary(self.state, args)

    def find_hosts_async(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("wstrFilter", "vecFieldsToReturn"), ("vecFieldsToOrder", "pParams", "lMaxLifeTime"))
        node = _filter(args["wstrFilter"], "wstrFilter", HOST_SCHEMA)
        fields = _fields(args["vecFieldsToReturn"], "vecFieldsToReturn", {*HOST_SCHEMA, "KLSRVH_SRV_ID", "KLSRVH_SRV_DN"})
        order = _order(args.get("vecFieldsToOrder"), "vecFieldsToOrder", set(HOST_SCHEMA))
        options = _params(args.get("pParams", {}), "pParams")
        unknown = sorted(set(options) - {"KLSRVH_SLAVE_REC_DEPTH", "KLGRP_FIND_FROM_CUR_VS_ONLY"})
        if unknown:
            raise bad_param(f"pParams: unexpected {', '.join(unknown)}")
        depth = options.get("KLSRVH_SLAVE_REC_DEPTH", 0)
        if type(depth) is not int or depth < 0:
            raise bad_param("pParams.KLSRVH_SLAVE_REC_DEPTH must be a whole number of levels")
        current_only = options.get("KLGRP_FIND_FROM_CUR_VS_ONLY", False)
        if type(current_only) is not bool:
            raise bad_param("pParams.KLGRP_FIND_FROM_CUR_VS_ONLY must be a boolean")
        lifetime = _lifetime(args)
        now = self.state.now()
        rows, failed = self.topology.hosts_below(
            self.state,
            lambda attrs: filters.matches(node, attrs, HOST_SCHEMA, now),
            depth=depth,
            current_only=current_only,
        )
        return {"strRequestId": self.topology.start_search(_sorted(rows, order), failed, fields, lifetime)}

    def check_action_state(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        return self.topology.check_action_state(self.state, args)

    def find_hosts_async_get_accessor(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        search = self.topology.finished_search(args)
        answer = self._accessor(search.rows, search.fields, search.lifetime)
        answer["pFailedSlavesInfo"] = {
            "KLGRP_FAILED_SLAVES_PARAMS": [wire.encode_value(failed) for failed in search.failed]
        }
        return answer

    METHODS = {
        "ServerHierarchy.GetChildServers": get_child_servers,
        "CgwHelper.GetSlaveServerLocation": get_slave_server_location,
        "GatewayConnection.PrepareGatewayConnection": prepare_gateway_connection,
        "GatewayConnection.PrepareGatewayConnectionToSecondaryServer": prepare_to_secondary,
        "HostGroup.FindHostsAsync": find_hosts_async,
        "HostGroup.FindHostsAsyncGetAccessor": find_hosts_async_get_accessor,
        "AsyncActionStateChecker.CheckActionState": check_action_state,
        "Session.StartSession": start_session,
        "Session.Ping": ping,
        "Session.EndSession": end_session,
        "HostGroup.AddIncident": add_incident,
        "HostGroup.UpdateIncident": update_incident,
        "HostGroup.DeleteIncident": delete_incident,
        "HostGroup.FindIncidents": find_incidents,
        "HostGroup.FindHosts": find_hosts,
        "HostGroup.GetHostInfo": get_host_info,
        "HostGroup.GroupIdGroups": group_id_groups,
        "HostGroup.GetGroupId": get_group_id,
        "HostGroup.GetSubgroups": get_subgroups,
        "ChunkAccessor.GetItemsCount": items_count,
        "ChunkAccessor.GetItemsChunk": items_chunk,
        "ChunkAccessor.Release": release,
    }


# --- HTTP ------------------------------------------------------------------------------------------

_KSCBASIC_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]*))')


def parse_kscbasic(header: str) -> dict[str, str] | None:
    """The parameters of ``KSCBasic user="..", pass="..", domain="..", internal="1"`` (internal=true unquoted too)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != "KSCBasic":
        return None
    return {
        match.group(1): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _KSCBASIC_PARAM.finditer(rest)
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: KSC binds a login to the connection
    # Headers and body leave in separate TLS records; with Nagle on, the client's
    # delayed ACK would add 40 ms to every call.
    disable_nagle_algorithm = True
    server_version = "KSC-Simulator"
    sys_version = ""
    server: _SimulatorHttpServer

    @property
    def timeout(self) -> float:  # read by StreamRequestHandler.setup: idle keep-alive limit
        return self.server.simulator.idle_timeout

    def setup(self) -> None:
        super().setup()
        self.login_generation: int | None = None
        self.login_state: SimulatorState | None = None  # the server this connection's login is bound to
        self.selected: SimulatorState | None = None  # /_simulator/...?server=KEY

    @property
    def root(self) -> SimulatorState:
        return self.server.simulator.state

    @property
    def state(self) -> SimulatorState:
        """The server a /_simulator/ request is about (``?server=``), else the primary."""
        return self.selected or self.root

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only; headers (credentials, tokens) are never logged.
        if self.server.simulator.verbose:
            logger.info("%s %s", self.address_string(), format % args)

    # -- plumbing --

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _HttpRefusal(400, "bad Content-Length") from None
        if size < 0 or size > MAX_BODY_BYTES:
            raise _HttpRefusal(413, "request body too large")
        return self.rfile.read(size)

    def _send(self, status: int, payload: Any, *, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode("utf-8")
        content_type = "text/html" if raw is not None else "application/json; charset=utf-8"
        encoding = None
        if len(body) > 1024 and "gzip" in self.headers.get("Accept-Encoding", ""):
            body, encoding = gzip.compress(body, compresslevel=1), "gzip"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if status == 401:
            self.send_header("WWW-Authenticate", "KSCBasic")
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing --

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, verb: str) -> None:
        path, _, query = self.path.partition("?")
        self.selected = None
        try:
            if path.startswith("/_simulator/"):
                server = urllib.parse.parse_qs(query).get("server", [""])[0]
                self.selected = self.root.topology.state_named(server)
                if self.selected is None:
                    raise _HttpRefusal(404, f"no server {server!r}; GET /_simulator/topology lists them")
                self._control(verb, path.removeprefix("/_simulator/"))
            elif verb == "POST" and path.startswith("/api/v1.0/"):
                self._open_api(path.removeprefix("/api/v1.0/"))
            else:
                self._send(404, {"error": f"no such endpoint: {verb} {path}"})
        except _LoginRefusal as refusal:
            body = refusal.message.encode("utf-8")
            self.send_response(refusal.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if refusal.status == 401:
                self.send_header("WWW-Authenticate", refusal.scheme)
            self.send_header("X-KSC-ErrorMsg", refusal.message)
            self.end_headers()
            self.wfile.write(body)
        except _HttpRefusal as refusal:
            self._send(refusal.status, {"error": refusal.message})
        except _DropConnection:
            self._drop()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception:
            # A bug in the simulator must show as such, not as a dropped connection.
            logger.exception("the KSC simulator failed on %s %s", verb, path)
            self._send(500, {"error": "the simulator failed; see its log"})

    def _control(self, verb: str, name: str) -> None:
        state = self.state
        if verb == "GET" and name == "incidents":
            with state.lock:
                self._send(
                    200, [incident.as_json() for incident in sorted(state.incidents.values(), key=lambda i: i.id)]
                )
        elif verb == "GET" and name == "hosts":
            self._send(200, [wire.encode_params(state.host_attributes(host)) for host in state.hosts.values()])
        elif verb == "GET" and name == "stats":
            self._send(200, state.stats_json())
        elif verb == "POST" and name == "faults":
            try:
                faults = state.set_faults(json.loads(self._body() or b"{}"))
            except ValueError as error:
                raise _HttpRefusal(400, str(error)) from None
            self._send(200, faults.as_json())
        elif verb == "GET" and name == "topology":
            self._send(200, self.root.topology.describe())
        elif verb == "POST" and name == "topology":
            try:
                spec = json.loads(self._body() or b"{}")
                if not isinstance(spec, dict) or set(spec) != {"failing"}:
                    raise TopologyError('send {"failing": [secondary ids]}')
                with self.root.lock:
                    self.root.topology.set_failing(spec["failing"])
                self.root.save()
            except (ValueError, TopologyError) as error:
                raise _HttpRefusal(400, str(error)) from None
            self._send(200, self.root.topology.describe())
        elif verb == "POST" and name == "expire-sessions":
            self._body()
            state.expire_sessions()
            self._send(200, {})
        elif verb == "POST" and name == "clock":
            try:
                spec = json.loads(self._body() or b"{}")
                seconds = spec["advance_seconds"]
                if type(seconds) not in (int, float) or seconds < 0:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise _HttpRefusal(400, 'send {"advance_seconds": N} with N >= 0') from None
            with state.lock:
                state.clock_offset += seconds
            self._send(200, {"clock_offset": state.clock_offset})
        elif verb == "POST" and name == "move-host":
            try:
                spec = json.loads(self._body() or b"{}")
                host, group = spec["host"], spec["group"]
                if not isinstance(group, str) or not group.strip() or host not in state.hosts:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise _HttpRefusal(400, 'send {"host": <a known host id>, "group": <a group name>}') from None
            with state.lock:
                state.add_group(group)
                state.hosts[host] = dataclasses.replace(state.hosts[host], group=group)
            self._send(200, {"host": host, "group": group})
        elif not tasks.control(self, verb, name):
            self._send(404, {"error": f"no such simulator endpoint: {verb} /_simulator/{name}"})

    def _open_api(self, call: str) -> None:
        state = self.state
        body = self._body()
        # "<Instance>.<Class>.<Method>" addresses an instance; this KSC has only the default one.
        method = call if call == "login" else ".".join(call.split(".")[-2:])
        state.count_call(method)
        delay = state.faults.delay_ms
        if delay:
            time.sleep(delay / 1000)
        if state.take_fault("fail_next", method):
            self._send(state.faults.status, None, raw=b"<html><body>Simulated failure</body></html>")
            return
        if state.take_fault("malformed_next", method):
            self._send(200, None, raw=b"<html><body>Not the Open API</body></html>")
            return
        if method == "login":
            self.login_state = None
            self.login_state = self._authenticate(gateway=True)
            self.login_generation = state.generation
            self._send(200, {})
            return
        try:
            args = json.loads(body) if body else None
        except ValueError:
            args = None
        if method == "Session.StartSession" and "Authorization" in self.headers:
            target = self._authenticate()
        else:
            target = self._require_login()
        if target is not state:
            target.count_call(method)
        if "X-KSC-VServer" in self.headers and method != "Session.StartSession":
            # KSC binds the virtual server at login; a client that repeats the header on calls is counted.
            with state.lock:
                state.stats["vserver_header_on_calls"] = state.stats.get("vserver_header_on_calls", 0) + 1
        if not isinstance(args, dict):
            self._send(200, bad_param("the request body must be a JSON object of the method's parameters").answer())
            return
        try:
            with state.working(method):
                if method == "HostGroup.AddIncident" and state.faults.add_delay_ms:
                    # Slow at the work itself, after the login was checked (a refused call answers at once).
                    time.sleep(state.faults.add_delay_ms / 1000)
                if method == "HostGroup.AddIncident" and state.take_fault("late_adds"):
                    # One call KSC carries out long after its client gave up (a lock, a busy server).
                    time.sleep(state.faults.late_add_ms / 1000)
                answer = OpenApi(target).dispatch(method, args, self)
        except PxgError as error:
            answer = error.answer()
        self._send(200, answer)

    def _authenticate(self, *, gateway: bool = False) -> SimulatorState:
        """Check a login: the server it binds to, or 401 unless it is the simulator's account.

        ``X-KSC-VServer`` names a virtual server (empty: the primary); with ``gateway`` (the
        ``login`` call) ``Authorization: KSCGW <key>`` logs in to a secondary instead.
        """
        state = self.root
        topology = state.topology
        authorization = self.headers.get("Authorization", "")
        if gateway and authorization.startswith("KSCGW "):
            target, status = (None, 401) if state.faults.reject_login else topology.gateway_login(authorization[6:].strip())
            with state.lock:
                state.stats["refused_gateway_logins" if target is None else "gateway_logins"] += 1
                if target is not None:
                    target.stats["logins"] += 1
            if target is None:
                if status == 503:
                    raise _LoginRefusal("The secondary Administration Server does not answer", status=503)
                raise _LoginRefusal("Authentication failure", scheme="KSCGW")
            return target
        refused = state.faults.reject_login
        target = state
        fields = parse_kscbasic(authorization)
        vserver = self.headers.get("X-KSC-VServer", "")
        if not refused and fields is not None:
            try:
                user = base64.b64decode(fields.get("user", ""), validate=True).decode("utf-8")
                password = base64.b64decode(fields.get("pass", ""), validate=True).decode("utf-8")
                virtual = base64.b64decode(vserver, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                refused = True
            else:
                internal_ok = fields.get("internal", "0") in ("0", "1", "true", "false")
                # A name no virtual server has cannot be logged in to.
                if virtual:
                    target = topology.vserver(virtual)
                refused = not (
                    internal_ok
                    and target is not None
                    and state.credentials_match(user, password, fields.get("domain", ""))
                )
        else:
            refused = True
        with state.lock:
            state.stats["refused_logins" if refused else "logins"] += 1
        if refused:
            raise _LoginRefusal("Authentication failure")
        if tasks.mfa_required(state):
            # Two-factor authentication required for every user, and this account is not exempt.
            raise _LoginRefusal("Two-step verification is required for this account", scheme="KSCMFA")
        if target is not state:
            with state.lock:
                target.stats["logins"] += 1
        return target

    def _require_login(self) -> SimulatorState:
        """The server this call runs on: its session's, or its connection login's; 401/403 when neither."""
        state = self.root
        token = self.headers.get("X-KSC-Session")
        with state.lock:
            if token is not None:
                session = state.sessions.get(token)
                now = state.time()
                if session is None or not state._session_alive(session, now):
                    state.sessions.pop(token, None)
                    raise _HttpRefusal(403, "the session has ended or never existed")
                session.last_used = now
                bound = state.topology.state_named(session.server)
                if bound is None:
                    raise _HttpRefusal(403, "the session's server is gone")
                return bound
            if self.login_generation is None or self.login_generation != state.generation or self.login_state is None:
                raise _HttpRefusal(401, "not authenticated on this connection")
            return self.login_state


class _SimulatorHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: KscSimulator):
        self.simulator = simulator
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread: a client
        # that refuses the certificate must not stall or crash the accept loop.
        request.settimeout(10)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)  # no 40 ms stalls in the handshake
        try:
            connection = self.simulator.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.simulator._connections.add(connection)
        try:
            self.RequestHandlerClass(connection, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            self.simulator._connections.discard(connection)
            try:
                connection.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class KscSimulator:
    """The simulated KSC: ``start()`` serves it in a background thread, ``serve_forever()`` in this one."""

    def __init__(
        self,
        *,
        user: str,
        password: str,
        domain: str = "",
        hosts: list[SimulatedHost] | None = None,
        bind: str = "127.0.0.1",
        port: int = 13299,
        cert_path: str | Path | None = None,
        key_path: str | Path | None = None,
        cert_dir: str | Path | None = None,
        session_ttl: float = 1800,
        idle_timeout: float = 120,
        verbose: bool = False,
        state_file: str | Path | None = None,
        vservers: list[str] | None = None,
        secondaries: list[tuple[int, str, int | None]] | None = None,
        failing_secondaries: list[int] | None = None,
        gateway_key_ttl: float = KEY_TTL,
        clock: Any = None,
    ):
        if not user or not password:
            raise ValueError("the simulator needs a user and a password")
        if (cert_path is None) != (key_path is None):
            raise ValueError("give both a certificate and its key, or neither")
        # A topology that cannot be served is refused before anything (the state file) is touched.
        Topology.check(list(vservers or ()), list(secondaries or ()), list(failing_secondaries or ()))
        self.state = SimulatorState(
            user=user,
            password=password,
            domain=domain,
            hosts=hosts or default_hosts(),
            session_ttl=session_ttl,
            state_file=state_file,
            clock=clock,
        )
        # The topology: from the arguments; without any, the one the state file kept; else none.
        given = vservers or secondaries or failing_secondaries
        if given or self.state._saved_topology is None:
            topology = Topology.build(
                self.state,
                vservers=list(vservers or ()),
                secondaries=list(secondaries or ()),
                failing=list(failing_secondaries or ()),
                key_ttl=gateway_key_ttl,
            )
        else:
            topology = Topology.from_json(self.state, self.state._saved_topology, key_ttl=gateway_key_ttl)
        self.state.topology = topology
        self.state.save()
        self.bind, self.idle_timeout, self.verbose = bind, idle_timeout, verbose
        if cert_path is None:
            directory = cert_dir or tempfile.mkdtemp(prefix="ksc-simulator-")
            cert_path, key_path = generate_certificate(directory, certificate_names(bind))
            self.generated_certificate = True
        else:
            self.generated_certificate = False
        self.cert_path, self.key_path = Path(cert_path), Path(key_path)
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_context.load_cert_chain(self.cert_path, self.key_path)
        self._connections: set[ssl.SSLSocket] = set()
        self._http = _SimulatorHttpServer((bind, port), self)
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<KscSimulator {self.url}>"

    @property
    def port(self) -> int:
        return self._http.server_address[1]

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.bind in ("", "0.0.0.0") else ("::1" if self.bind == "::" else self.bind)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self) -> KscSimulator:
        # A short poll interval: stop() waits for the loop to notice (half the interval on average), and the
        # tests start and stop a simulator for each of some 700 tests; 100 idle wake-ups a second cost nothing.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, name="ksc-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._http.serve_forever()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        # Kept-alive connections would otherwise wait out idle_timeout in their threads.
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
