"""The simulated KSC's hierarchy: virtual servers on the primary, secondaries behind its gateway.

Each virtual server and each secondary is a server of its own (a SimulatorState with its own
hosts, incidents, tasks and accessors); the primary's state is the root and holds this
Topology. How a connection reaches each one (docs/ksc-wire.md, section 11):

- a virtual server: ``login`` (or ``Session.StartSession``) with ``X-KSC-VServer: <base64 of
  its name>`` and the account's KSCBasic credentials; later calls carry no such header;
- a secondary: on the primary, ``CgwHelper.GetSlaveServerLocation(nSlaveServerId)`` (asked of the
  secondary's parent: the primary, or a secondary logged in to through the gateway) answers an
  opaque location; ``GatewayConnection.PrepareGatewayConnection(pLocations)`` on the primary,
  with the locations from the primary down in order, answers ``wstrAuthKey``; a ``login`` at the
  primary's URL with ``Authorization: KSCGW <key>`` then binds the connection to the secondary.
  A key is good for one login within ``key_ttl`` seconds (60) of the simulator's clock.

Choices where KSC's behaviour is not documented (the spec marks them unknown):

- A refused gateway login (unknown, used or expired key) answers 401 with a plain-text body and
  ``WWW-Authenticate: KSCGW``, as a refused KSCBasic login does; a login to a secondary marked
  failing answers 503 (the primary cannot reach it). KlAkOAPI sees neither as an exception.
- The virtual server's name is matched exactly as configured (KLVSRV_UID or KLVSRV_DN: unknown).
- The account of the primary logs in to its virtual servers too.
- ``FindHostsAsync`` rows from another server carry ``KLSRVH_SRV_ID`` and ``KLSRVH_SRV_DN`` when
  asked for; ``AsyncActionStateChecker.CheckActionState`` says "not finished" once, then finished.
- ``PrepareGatewayConnection`` is answered on the primary only (the spec: "all calls on the
  primary"); elsewhere it is a bad parameter.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from ksc_simulator import wire
from ksc_simulator.calls import ERR_NOT_FOUND, PxgError, _int, _only, _str, bad_param
from ksc_simulator.inventory import server_hosts

PRIMARY = "primary"
KEY_TTL = 60.0
_NAMESPACE = uuid.UUID("6a4f1c52-92d4-4c3e-b0e6-2f1d7c9a8e31")
_SECONDARY = re.compile(r"^(\d{1,9}):([^:]{1,64})(?::(\d{1,9}))?$")


class TopologyError(ValueError):
    """A topology the simulator cannot serve; the message names the option or entry."""


@dataclass
class Secondary:
    id: int  # KLSRVH_SRV_ID on its parent
    name: str  # KLSRVH_SRV_DN
    parent: int | None  # None: directly below the primary
    failing: bool = False
    state: Any = None

    @property
    def key(self) -> str:
        return f"secondary:{self.id}"

    @property
    def instance_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"secondary/{self.id}/{self.name}"))


@dataclass
class GatewayKey:
    secondary: int
    expires: float


@dataclass
class AsyncSearch:
    rows: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    fields: list[str]
    lifetime: int
    checks: int = 0


@dataclass
class Topology:
    root: Any
    vservers: dict[str, Any] = field(default_factory=dict)  # name -> SimulatorState
    secondaries: dict[int, Secondary] = field(default_factory=dict)
    key_ttl: float = KEY_TTL
    gateway_keys: dict[str, GatewayKey] = field(default_factory=dict)
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (issuer key, child id)
    searches: dict[str, AsyncSearch] = field(default_factory=dict)

    # --- building ---

    @staticmethod
    def check(
        vservers: list[str] = (),
        secondaries: list[tuple[int, str, int | None]] = (),
        failing: set[int] | list[int] = (),
    ) -> tuple[dict[str, Any], dict[int, Secondary]]:
        """The topology's servers, checked (TopologyError naming the option); nothing is built or written."""
        named: dict[str, Any] = {}
        for name in vservers:
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                raise TopologyError(f"--vserver: a virtual server needs a name of 1 to 255 characters, not {name!r}")
            if name in named:
                raise TopologyError(f"--vserver: {name!r} is given twice")
            named[name] = None
        below: dict[int, Secondary] = {}
        for server_id, name, parent in secondaries:
            if server_id in below:
                raise TopologyError(f"--secondary: id {server_id} is given twice")
            below[server_id] = Secondary(id=server_id, name=name, parent=parent)
        for secondary in below.values():
            seen = {secondary.id}
            parent = secondary.parent
            while parent is not None:
                if parent not in below:
                    raise TopologyError(f"--secondary {secondary.id}: its parent {parent} is not a secondary given")
                if parent in seen:
                    raise TopologyError(f"--secondary {secondary.id}: the parents form a loop")
                seen.add(parent)
                parent = below[parent].parent
        for server_id in failing:
            if server_id not in below:
                raise TopologyError(f"--failing-secondary: {server_id} is not a secondary given")
            below[server_id].failing = True
        return named, below

    @classmethod
    def build(
        cls,
        root: Any,
        *,
        vservers: list[str] = (),
        secondaries: list[tuple[int, str, int | None]] = (),
        failing: set[int] | list[int] = (),
        key_ttl: float = KEY_TTL,
    ) -> Topology:
        from ksc_simulator.state import SimulatorState

        topology = cls(root=root, key_ttl=key_ttl)
        topology.vservers, topology.secondaries = cls.check(vservers, secondaries, failing)

        def state(key: str, label: str) -> Any:
            return SimulatorState(
                user=root.user,
                password=root._password,
                domain=root.domain,
                hosts=server_hosts(label, key),
                session_ttl=root.session_ttl,
                root=root,
                name=key,
            )

        for name in list(topology.vservers):
            topology.vservers[name] = state(f"vserver:{name}", name)
        for secondary in topology.secondaries.values():
            secondary.state = state(secondary.key, secondary.name)
        for sub in topology.states():
            saved = root._saved_servers.get(sub.name)
            if saved is not None:
                try:
                    sub.restore(saved)
                except (KeyError, ValueError, TypeError) as error:
                    raise ValueError(f"cannot read the simulator state of {sub.name}: {error}") from None
        return topology

    @classmethod
    def from_json(cls, root: Any, data: Any, *, key_ttl: float = KEY_TTL) -> Topology:
        if not isinstance(data, dict):
            raise TopologyError("the saved topology is not an object")
        vservers = data.get("vservers", [])
        entries = data.get("secondaries", [])
        if not isinstance(vservers, list) or not isinstance(entries, list):
            raise TopologyError("the saved topology holds vservers and secondaries as lists")
        try:
            secondaries = [(int(e["id"]), str(e["name"]), e.get("parent")) for e in entries]
            failing = [int(e["id"]) for e in entries if e.get("failing")]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TopologyError(f"a saved secondary is not {{id, name, parent, failing}}: {error}") from None
        return cls.build(root, vservers=vservers, secondaries=secondaries, failing=failing, key_ttl=key_ttl)

    def as_json(self) -> dict[str, Any]:
        return {
            "vservers": list(self.vservers),
            "secondaries": [
                {"id": s.id, "name": s.name, "parent": s.parent, "failing": s.failing, "instance_id": s.instance_id}
                for s in self.secondaries.values()
            ],
        }

    def describe(self) -> dict[str, Any]:
        """``GET /_simulator/topology``: the servers, their keys for ``?server=`` and host counts."""
        return {
            **self.as_json(),
            "servers": {state.name: len(state.hosts) for state in [self.root, *self.states()]},
        }

    def states(self) -> list[Any]:
        return [*self.vservers.values(), *(s.state for s in self.secondaries.values())]

    def state_named(self, key: str) -> Any:
        """The state for ``primary``, ``vserver:NAME`` or ``secondary:ID``; None when there is none."""
        if key in ("", PRIMARY):
            return self.root
        return next((state for state in self.states() if state.name == key), None)

    def children_of(self, state: Any) -> list[Secondary]:
        parent = None if state is self.root else self._secondary_of(state)
        if state is not self.root and parent is None:
            return []  # a virtual server has no secondaries
        return [s for s in self.secondaries.values() if s.parent == (parent.id if parent else None)]

    def _secondary_of(self, state: Any) -> Secondary | None:
        return next((s for s in self.secondaries.values() if s.state is state), None)

    def set_failing(self, ids: Any) -> None:
        if not isinstance(ids, list) or not all(type(i) is int for i in ids):
            raise TopologyError('send {"failing": [secondary ids]}')
        unknown = sorted(set(ids) - set(self.secondaries))
        if unknown:
            raise TopologyError(f"no secondary {unknown[0]}")
        for secondary in self.secondaries.values():
            secondary.failing = secondary.id in ids

    # --- logins ---

    def vserver(self, name: str) -> Any:
        return self.vservers.get(name)

    def gateway_login(self, key: str) -> tuple[Any, int]:
        """The secondary's state for a ``KSCGW`` key, used up now; (None, 401) or (None, 503) when refused."""
        with self.root.lock:
            granted = self.gateway_keys.pop(key, None)  # one-time: gone whether it works or not
            if granted is None or granted.expires <= self.root.time():
                return None, 401
            secondary = self.secondaries.get(granted.secondary)
            if secondary is None:
                return None, 401
            if self._failing_on_the_way(secondary):
                return None, 503
            return secondary.state, 200

    def _failing_on_the_way(self, secondary: Secondary) -> bool:
        current: Secondary | None = secondary
        while current is not None:
            if current.failing:
                return True
            current = self.secondaries.get(current.parent) if current.parent is not None else None
        return False

    # --- the Open API calls ---

    def get_child_servers(self, state: Any, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("nGroupId",))
        group = _int(args["nGroupId"], "nGroupId", long_ok=False)
        children = self.children_of(state) if group in (-1, 0) else []
        return {
            "PxgRetVal": [
                wire.encode_value(
                    {
                        "KLSRVH_SRV_ID": child.id,
                        "KLSRVH_SRV_DN": child.name,
                        "KLSRVH_SRV_INST_ID": child.instance_id,
                        "KLSRVH_SRV_GROUPID": 0,
                    }
                )
                for child in children
            ]
        }

    def get_slave_server_location(self, state: Any, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("nSlaveServerId",))
        child_id = _int(args["nSlaveServerId"], "nSlaveServerId", long_ok=False)
        if child_id not in {child.id for child in self.children_of(state)}:
            raise PxgError(ERR_NOT_FOUND, f"Slave server {child_id} not found")
        token = "cgwloc-" + secrets.token_hex(12)
        with self.root.lock:
            self.locations[token] = (state.name, child_id)
        return {"PxgRetVal": {"KLCGW_LOCATION": token, "KLSRVH_SRV_ID": child_id}}

    def prepare_gateway_connection(self, state: Any, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("pLocations",))
        if state is not self.root:
            raise bad_param("PrepareGatewayConnection is called on the primary")
        locations = args["pLocations"]
        if not isinstance(locations, list) or not locations:
            raise bad_param("pLocations must be a non-empty array of locations")
        expected_issuer, target = PRIMARY, None
        for index, item in enumerate(locations):
            if not (isinstance(item, dict) and item.get("type") == "params" and isinstance(item.get("value"), dict)):
                raise bad_param(f"pLocations[{index}] must be a params value (a location from GetSlaveServerLocation)")
            token = item["value"].get("KLCGW_LOCATION")
            issued = self.locations.get(token) if isinstance(token, str) else None
            if issued is None:
                raise bad_param(f"pLocations[{index}] is not a location this server gave")
            issuer, child_id = issued
            if issuer != expected_issuer:
                raise bad_param(f"pLocations[{index}] does not follow pLocations[{index - 1}]: give them in order")
            expected_issuer, target = f"secondary:{child_id}", child_id
        return {"wstrAuthKey": self._new_key(target)}

    def prepare_to_secondary(self, state: Any, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("srvInstanceId",))
        if state is not self.root:
            raise bad_param("PrepareGatewayConnectionToSecondaryServer is called on the primary")
        instance = _str(args["srvInstanceId"], "srvInstanceId")
        found = next((s for s in self.secondaries.values() if s.instance_id == instance), None)
        if found is None:
            raise PxgError(ERR_NOT_FOUND, f"Secondary server {instance} not found")
        return {"wstrAuthKey": self._new_key(found.id)}

    def _new_key(self, secondary: int) -> str:
        key = secrets.token_urlsafe(24)
        with self.root.lock:
            self.gateway_keys[key] = GatewayKey(secondary=secondary, expires=self.root.time() + self.key_ttl)
        return key

    def hosts_below(self, state: Any, matches: Any, *, depth: int, current_only: bool) -> tuple[list, list]:
        """FindHostsAsync's walk: (rows, failed secondaries) of ``state`` and ``depth`` levels below it.

        ``matches(attrs)`` says whether a host is in; rows of a secondary carry its KLSRVH_SRV_ID/DN.
        Without KLGRP_FIND_FROM_CUR_VS_ONLY the primary's search includes its virtual servers' hosts.
        """
        rows: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []

        def search(target: Any, origin: Secondary | None) -> None:
            for host in target.hosts.values():
                attrs = target.host_attributes(host)
                if matches(attrs):
                    if origin is not None:
                        attrs = {**attrs, "KLSRVH_SRV_ID": origin.id, "KLSRVH_SRV_DN": origin.name}
                    rows.append(attrs)

        def below(target: Any, levels: int) -> None:
            if levels <= 0:
                return
            for child in self.children_of(target):
                if child.failing:
                    failed.append({"KLSRVH_SRV_ID": child.id, "KLSRVH_SRV_DN": child.name})
                    continue
                search(child.state, child)
                below(child.state, levels - 1)

        with self.root.lock:
            search(state, None)
            if state is self.root and not current_only:
                for vserver in self.vservers.values():
                    search(vserver, None)
            below(state, depth)
        return rows, failed

    def start_search(self, rows: list, failed: list, fields: list[str], lifetime: int) -> str:
        request_id = "fha-" + secrets.token_hex(12)
        with self.root.lock:
            self.searches[request_id] = AsyncSearch(rows=rows, failed=failed, fields=fields, lifetime=lifetime)
        return request_id

    def check_action_state(self, state: Any, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, ("wstrActionGuid",))
        action = _str(args["wstrActionGuid"], "wstrActionGuid")
        with self.root.lock:
            search = self.searches.get(action)
            if search is None:
                raise PxgError(ERR_NOT_FOUND, f"Action {action} not found")
            search.checks += 1
            done = search.checks > 1
        return {
            "bFinalized": done,
            "bSuccededFinalized": done,
            "lStateCode": 0,
            "pStateData": {},
            "lNextCheckDelay": 0 if done else 50,
        }

    def finished_search(self, args: dict[str, Any]) -> AsyncSearch:
        _only(args, ("strRequestId",))
        request_id = _str(args["strRequestId"], "strRequestId")
        with self.root.lock:
            search = self.searches.get(request_id)
            if search is None:
                raise PxgError(ERR_NOT_FOUND, f"Request {request_id} not found")
            if search.checks < 2:
                raise bad_param(f"the search {request_id} has not finished: ask CheckActionState first")
            del self.searches[request_id]
        return search


def parse_secondary(text: str) -> tuple[int, str, int | None]:
    """``ID:NAME[:PARENT]`` of ``--secondary``; TopologyError naming the problem."""
    match = _SECONDARY.match(text or "")
    if match is None:
        raise TopologyError(
            f"--secondary {text!r}: write ID:NAME or ID:NAME:PARENT_ID (ids are whole numbers, the name has no ':')"
        )
    parent = match.group(3)
    return int(match.group(1)), match.group(2), int(parent) if parent is not None else None
