"""What the simulated KSC holds: incidents, sessions, accessors, faults, the clock, the state file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksc_simulator import wire
from ksc_simulator.inventory import ROOT_GROUP, SimulatedHost, group_path


@dataclass
class Incident:
    id: int
    pdata: dict[str, Any]  # as received, wire form
    received: dt.datetime
    attrs: dict[str, Any]  # current values, decoded
    updates: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pData": self.pdata,
            "updates": self.updates,
            "received": wire.format_datetime(self.received),
            "deleted": self.deleted,
        }

    def saved(self) -> dict[str, Any]:
        """What the state file keeps: as_json plus the current values, wire-encoded."""
        return {**self.as_json(), "attrs": wire.encode_params(self.attrs)}

    @classmethod
    def from_saved(cls, item: dict[str, Any]) -> Incident:
        return cls(
            id=int(item["id"]),
            pdata=item["pData"],
            received=wire.parse_datetime(item["received"]),
            attrs=wire.decode_params(item["attrs"]),
            updates=list(item.get("updates", [])),
            deleted=bool(item.get("deleted", False)),
        )


@dataclass
class Accessor:
    rows: list[dict[str, Any]]
    expires: float


@dataclass
class Session:
    user: str
    last_used: float
    server: str = "primary"  # the server the session was started on (a virtual server's key, ...)


@dataclass
class Faults:
    fail_next: int = 0
    status: int = 503
    delay_ms: int = 0
    add_delay_ms: int = 0  # AddIncident only: waits, then stores the incident even if the client gave up
    late_adds: int = 0  # the next N AddIncident calls wait late_add_ms (on top of add_delay_ms), then store
    late_add_ms: int = 0
    drop_after_add: int = 0
    reject_login: bool = False
    malformed_next: int = 0
    methods: list[str] | None = None  # fail_next and malformed_next only count calls of these methods

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SimulatorState:
    """Everything one simulated Administration Server holds; one lock guards it all.

    The primary's state is the root. A virtual server or a secondary (ksc_simulator/hierarchy.py)
    is a state of its own (hosts, incidents, tasks, accessors, stats) made with ``root=``: it
    shares the root's lock, clock, faults, sessions and login generation, and the root's state
    file keeps it.
    """

    def __init__(
        self,
        *,
        user: str,
        password: str,
        domain: str,
        hosts: list[SimulatedHost],
        session_ttl: float,
        state_file: str | Path | None = None,
        root: SimulatorState | None = None,
        name: str = "primary",
        clock: Any = None,
    ):
        self.user, self._password, self.domain = user, password, domain
        self.session_ttl = session_ttl
        self.name = name
        self.root: SimulatorState = root or self
        if root is None:
            self.lock = threading.RLock()
            self._clock = clock or time.time  # injectable: tests move time without waiting
            self._clock_offset = 0.0
            self._generation = 0  # bumped by expire-sessions: every connection login made before dies
            self._faults = Faults()
            self.sessions_shared: dict[str, Session] = {}
            self.topology: Any = None  # ksc_simulator.hierarchy.Topology, set by the server
            self._saved_servers: dict[str, Any] = {}
            self._saved_topology: Any = None
        else:
            self.lock = root.lock
        self.hosts: dict[str, SimulatedHost] = {host.id: host for host in hosts}
        # Administration groups by full path ("Managed devices/Servers/DC"); the root is 0.
        self.group_ids: dict[str, int] = {ROOT_GROUP: 0}
        for host in sorted(hosts, key=lambda host: group_path(host.group)):
            self.add_group(host.group)
        self.incidents: dict[int, Incident] = {}
        self.next_incident_id = 1
        self.accessors: dict[str, Accessor] = {}
        self.stats: dict[str, Any] = {
            "logins": 0,
            "refused_logins": 0,
            "sessions_started": 0,
            "gateway_logins": 0,
            "refused_gateway_logins": 0,
            "calls": {},
        }
        self.in_progress: dict[str, int] = {}
        self.state_file = Path(state_file) if state_file is not None and root is None else None
        if self.state_file is not None:
            if self.state_file.exists():
                self._load()
            self.save()  # an unwritable place fails now, not on the first incident

    def _load(self) -> None:
        """The incidents and the id counter a previous run saved; ValueError naming what is wrong."""
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.restore(saved)
            servers = saved.get("servers", {})
            if not isinstance(servers, dict):
                raise ValueError("servers must be an object")
            self._saved_servers = servers
            self._saved_topology = saved.get("topology")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"cannot read the simulator state from {self.state_file}: {error}") from None

    def restore(self, saved: dict[str, Any]) -> None:
        """This server's incidents, id counter and tasks from a saved object (KeyError/ValueError when bad)."""
        incidents = [Incident.from_saved(item) for item in saved["incidents"]]
        next_id = int(saved["next_incident_id"])
        if saved.get("tasks") is not None:
            from ksc_simulator import tasks

            tasks.restore_book(self, saved["tasks"])
        self.incidents = {incident.id: incident for incident in incidents}
        self.next_incident_id = max([next_id, *(incident.id + 1 for incident in incidents)])

    def saved(self) -> dict[str, Any]:
        from ksc_simulator import tasks

        return {
            "next_incident_id": self.next_incident_id,
            "incidents": [self.incidents[key].saved() for key in sorted(self.incidents)],
            # the [Response] tasks, so that a restart does not make every open outcome "task gone"
            "tasks": tasks.saved_book(self),
        }

    # Shared with the root (a virtual server's or secondary's state reads the primary's).

    @property
    def sessions(self) -> dict[str, Session]:
        return self.root.sessions_shared

    @property
    def faults(self) -> Faults:
        return self.root._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.root._faults = value

    @property
    def clock_offset(self) -> float:
        return self.root._clock_offset

    @clock_offset.setter
    def clock_offset(self, value: float) -> None:
        self.root._clock_offset = value

    @property
    def generation(self) -> int:
        return self.root._generation

    @generation.setter
    def generation(self, value: int) -> None:
        self.root._generation = value

    def save(self) -> None:
        """Write every server's incidents and tasks, and the topology, to the root's state file, if any.

        A temporary file renamed over it (atomic).
        """
        if self.root is not self:
            self.root.save()
            return
        if self.state_file is None:
            return
        with self.lock:
            data = self.saved()
            servers = dict(self._saved_servers)  # kept until a server of that name exists again
            topology = self.topology
            if topology is not None:
                servers.update({state.name: state.saved() for state in topology.states()})
                data["topology"] = topology.as_json()
            elif self._saved_topology is not None:
                data["topology"] = self._saved_topology  # not served yet: never dropped from the file
            data["servers"] = servers
            temporary = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as file:
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.state_file)

    def __repr__(self) -> str:
        return f"<SimulatorState user={self.user!r} hosts={len(self.hosts)} incidents={len(self.incidents)}>"

    def time(self) -> float:
        return self.root._clock() + self.clock_offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def credentials_match(self, user: str, password: str, domain: str) -> bool:
        return (
            secrets.compare_digest(user.encode(), self.user.encode())
            and secrets.compare_digest(password.encode(), self._password.encode())
            and domain == self.domain
        )

    def add_group(self, group: str) -> int:
        """The id of the group at this path, made (with the groups above it) when new."""
        path = group_path(group)
        parts = path.split("/")
        with self.lock:
            for depth in range(2, len(parts) + 1):
                self.group_ids.setdefault("/".join(parts[:depth]), max(self.group_ids.values()) + 1)
            return self.group_ids[path]

    def subgroups(self, group_id: int, depth: int) -> list[dict[str, Any]]:
        """HostGroup.GetSubgroups' tree below a group: [{"id", "name", "groups": [...]}], ``depth`` levels (0: all)."""
        paths = {number: path for path, number in self.group_ids.items()}

        def below(path: str, level: int) -> list[dict[str, Any]]:
            children = sorted(p for p in self.group_ids if p.rsplit("/", 1)[0] == path and p != path)
            tree = []
            for child in children:
                node: dict[str, Any] = {"id": self.group_ids[child], "name": child.rsplit("/", 1)[-1]}
                if depth == 0 or level < depth:
                    grandchildren = below(child, level + 1)
                    if grandchildren:
                        node["groups"] = grandchildren
                tree.append(node)
            return tree

        return below(paths[group_id], 1)

    def host_attributes(self, host: SimulatedHost) -> dict[str, Any]:
        return host.attributes(self.group_ids)

    def take_fault(self, name: str, method: str | None = None) -> bool:
        """Use up one of a counted fault; True when it applies to this call."""
        with self.lock:
            scope = self.faults.methods
            if method is not None and scope is not None and method not in scope:
                return False
            remaining = getattr(self.faults, name)
            if remaining > 0:
                setattr(self.faults, name, remaining - 1)
                return True
            return False

    def set_faults(self, spec: Any) -> Faults:
        if not isinstance(spec, dict):
            raise ValueError("faults must be a JSON object")
        known = set(Faults().__dict__)
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        for name, value in spec.items():
            if name == "reject_login":
                if type(value) is not bool:
                    raise ValueError("reject_login must be true or false")
            elif name == "methods":
                if value is not None and not (isinstance(value, list) and all(isinstance(m, str) for m in value)):
                    raise ValueError("methods must be a list of method names such as HostGroup.AddIncident")
            elif type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            elif name == "status" and not 100 <= value <= 599:
                raise ValueError("status must be an HTTP status code")
        with self.lock:
            self.faults = Faults() if not spec else Faults(**{**self.faults.as_json(), **spec})
            return self.faults

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()
            self.generation += 1
            if self.root.topology is not None:
                self.root.topology.gateway_keys.clear()

    @contextlib.contextmanager
    def working(self, method: str) -> Iterator[None]:
        """Counts the calls being carried out now (stats ``in_progress``): a test can wait for a slow one."""
        with self.lock:
            self.in_progress[method] = self.in_progress.get(method, 0) + 1
        try:
            yield
        finally:
            with self.lock:
                self.in_progress[method] -= 1

    def count_call(self, method: str) -> None:
        with self.lock:
            self.stats["calls"][method] = self.stats["calls"].get(method, 0) + 1

    def stats_json(self) -> dict[str, Any]:
        with self.lock:
            now = self.time()
            return {
                **json.loads(json.dumps(self.stats)),
                "open_accessors": sum(1 for accessor in self.accessors.values() if accessor.expires > now),
                "live_sessions": sum(1 for session in self.sessions.values() if self._session_alive(session, now)),
                "incidents": len(self.incidents),
                "in_progress": {method: count for method, count in self.in_progress.items() if count},
                "clock_offset": self.clock_offset,
            }

    def _session_alive(self, session: Session, now: float) -> bool:
        return now - session.last_used <= self.session_ttl
