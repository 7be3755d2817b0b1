"""A KSC Administration Server stand-in speaking the Open API over HTTPS (spec/ksc-openapi.md).

Both of the portal's clients, and Kaspersky's KlAkOAPI unchanged, work against
it: ``login`` bound to the connection (HTTP/1.1 keep-alive), Session tokens,
HostGroup incident and host calls, ChunkAccessor paging, PxgError answers,
401 for a refused or missing login, 403 for a dead session token.

It is strict where a real KSC would be and the portal could be wrong: every
AddIncident is validated (required pData fields with their wire types, a
KLINCDT_BODY envelope with a known task and params that
responses.catalog.clean_params accepts, a host that exists), and filters are
parsed by responses.ksc.filters, a malformed one refused.

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

Outside the Open API, for tests and demos (no authentication: bind it to loopback):

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
  ``{"drop_after_add": N}`` the next N AddIncident calls store the incident,
  then close the connection unanswered; ``{"reject_login": true}`` every login
  gets 401; ``{"malformed_next": N}`` the next N calls answer 200 with HTML;
  ``{"methods": [...]}`` limits fail_next and malformed_next to those methods.
  Faults apply to every Open API request, ``login`` included.
- ``POST /_simulator/expire-sessions``: ends every session and connection login.
- ``POST /_simulator/clock`` ``{"advance_seconds": N}``: moves the clock used for expiry.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import gzip
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from responses import catalog
from responses.ksc import filters, simulator_tasks, wire
from responses.ksc.inventory import SimulatedHost, default_hosts

logger = logging.getLogger("responses.ksc.simulator")

ERR_BAD_PARAM = 1170
ERR_NO_METHOD = 1172
ERR_NOT_FOUND = 1183

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
ENVELOPE_KEYS = ("targetHost", "task", "params", "responseEventIncident", "responseEventIncidentArea")


class PxgError(Exception):
    """A call refused the way KSC refuses it: HTTP 200 with a PxgError object."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def answer(self) -> dict[str, Any]:
        return {
            "PxgError": {
                "code": self.code,
                "subcode": 0,
                "module": "KLSTD",
                "file": "ksc_simulator",
                "line": 0,
                "message": self.message,
                "locdata": {
                    "type": "params",
                    "value": {"format-id": self.code, "format": "%1", "locmodule": "KLSTD", "args": [self.message]},
                },
            }
        }


def bad_param(message: str) -> PxgError:
    return PxgError(ERR_BAD_PARAM, message)


class _HttpRefusal(Exception):
    """Answer with this status (401/403 and the simulator's own errors)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _LoginRefusal(_HttpRefusal):
    """A refused login as KSC answers it: 401 with a plain-text body, not JSON (ksc-tasks.md)."""

    def __init__(self, message: str, *, scheme: str = "KSCBasic"):
        super().__init__(401, message)
        self.scheme = scheme


class _DropConnection(Exception):
    """Close the connection without answering (the drop_after_add fault)."""


# --- TLS certificate ----------------------------------------------------------------------------


def generate_certificate(directory: str | Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate and key for ``names`` (DNS names or IP addresses), as PEM files.

    The certificate is its own CA (basicConstraints CA, keyCertSign), so a
    client given its file as the trust anchor verifies it under OpenSSL's
    strict checks, as with KSC's own klserver.cer.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KSC simulator")])
    alt_names: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ksc-simulator.pem", directory / "ksc-simulator.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def certificate_names(bind: str) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    try:
        names.append(socket.gethostname())
    except OSError:
        pass
    if bind not in ("", "0.0.0.0", "::"):
        names.append(bind)
    return names


# --- state ---------------------------------------------------------------------------------------


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


@dataclass
class Faults:
    fail_next: int = 0
    status: int = 503
    delay_ms: int = 0
    add_delay_ms: int = 0  # AddIncident only: waits, then stores the incident even if the client gave up
    drop_after_add: int = 0
    reject_login: bool = False
    malformed_next: int = 0
    methods: list[str] | None = None  # fail_next and malformed_next only count calls of these methods

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SimulatorState:
    """Everything the simulated KSC holds; one lock guards it all."""

    def __init__(
        self,
        *,
        user: str,
        password: str,
        domain: str,
        hosts: list[SimulatedHost],
        session_ttl: float,
        state_file: str | Path | None = None,
    ):
        self.user, self._password, self.domain = user, password, domain
        self.session_ttl = session_ttl
        self.lock = threading.RLock()
        self.clock_offset = 0.0
        self.generation = 0  # bumped by expire-sessions: every connection login made before dies
        self.hosts: dict[str, SimulatedHost] = {host.id: host for host in hosts}
        groups = ["Managed devices", *sorted({host.group for host in hosts} - {"Managed devices"})]
        self.group_ids = {name: index for index, name in enumerate(groups)}
        self.incidents: dict[int, Incident] = {}
        self.next_incident_id = 1
        self.sessions: dict[str, Session] = {}
        self.accessors: dict[str, Accessor] = {}
        self.faults = Faults()
        self.stats: dict[str, Any] = {"logins": 0, "refused_logins": 0, "sessions_started": 0, "calls": {}}
        self.in_progress: dict[str, int] = {}
        self.state_file = Path(state_file) if state_file is not None else None
        if self.state_file is not None:
            if self.state_file.exists():
                self._load()
            self.save()  # an unwritable place fails now, not on the first incident

    def _load(self) -> None:
        """The incidents and the id counter a previous run saved; ValueError naming what is wrong."""
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            incidents = [Incident.from_saved(item) for item in saved["incidents"]]
            next_id = int(saved["next_incident_id"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"cannot read the simulator state from {self.state_file}: {error}") from None
        self.incidents = {incident.id: incident for incident in incidents}
        self.next_incident_id = max([next_id, *(incident.id + 1 for incident in incidents)])

    def save(self) -> None:
        """Write the incidents to the state file, if any: a temporary file renamed over it (atomic)."""
        if self.state_file is None:
            return
        with self.lock:
            data = {
                "next_incident_id": self.next_incident_id,
                "incidents": [self.incidents[key].saved() for key in sorted(self.incidents)],
            }
            temporary = self.state_file.with_name(f".{self.state_file.name}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as file:
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.state_file)

    def __repr__(self) -> str:
        return f"<SimulatorState user={self.user!r} hosts={len(self.hosts)} incidents={len(self.incidents)}>"

    def time(self) -> float:
        return time.time() + self.clock_offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def credentials_match(self, user: str, password: str, domain: str) -> bool:
        return (
            secrets.compare_digest(user.encode(), self.user.encode())
            and secrets.compare_digest(password.encode(), self._password.encode())
            and domain == self.domain
        )

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


# --- value checks ------------------------------------------------------------------------------


def _int(value: Any, name: str, *, long_ok: bool = True) -> int:
    """A plain JSON int, or (where KSC types it long) {"type": "long", "value": n}."""
    if long_ok and isinstance(value, dict) and value.get("type") == "long" and set(value) == {"type", "value"}:
        value = value["value"]
    if type(value) is not int:
        raise bad_param(f"{name} must be an integer")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise bad_param(f"{name} must be a string")
    return value


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


def _only(args: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    missing = [name for name in required if name not in args]
    if missing:
        raise bad_param(f"missing parameter {', '.join(missing)}")
    unknown = [name for name in args if name not in required and name not in optional]
    if unknown:
        raise bad_param(f"unexpected parameter {', '.join(unknown)}")


def _filter(text: Any, name: str, schema: dict[str, str]) -> Any:
    text = _str(text, name)
    if not text.strip():
        return None  # an empty filter selects everything
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
        if handler is None and simulator_tasks.handles(method):
            return simulator_tasks.dispatch(self.state, method, args)
        if handler is None:
            raise PxgError(ERR_NO_METHOD, f"Method {method} is not implemented")
        return handler(self, args, connection)

    # Session

    def start_session(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ())
        token = "nst" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.sessions[token] = Session(user=self.state.user, last_used=self.state.time())
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
            simulator_tasks.incident_added(self.state, self.state.incidents[incident_id])
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
            check_envelope(body, host_id)
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
        rows = []
        for host in self.state.hosts.values():
            attrs = self.state.host_attributes(host)
            if node is None or filters.matches(node, attrs, HOST_SCHEMA, now):
                rows.append(attrs)
        return self._accessor(_sorted(rows, order), fields, lifetime)

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
        # As real servers do, PxgRetVal counts the items in this chunk (ksc-tasks.md).
        return {"PxgRetVal": len(rows), "pChunk": {"KLCSP_ITERATOR_ARRAY": [wire.encode_value(row) for row in rows]}}

    def release(self, args: dict[str, Any], connection: _Handler) -> dict[str, Any]:
        _only(args, ("strAccessor",))
        accessor_id = _str(args["strAccessor"], "strAccessor")
        with self.state.lock:
            self.state.accessors.pop(accessor_id, None)
        return {}

    METHODS = {
        "Session.StartSession": start_session,
        "Session.Ping": ping,
        "Session.EndSession": end_session,
        "HostGroup.AddIncident": add_incident,
        "HostGroup.UpdateIncident": update_incident,
        "HostGroup.DeleteIncident": delete_incident,
        "HostGroup.FindIncidents": find_incidents,
        "HostGroup.FindHosts": find_hosts,
        "HostGroup.GetHostInfo": get_host_info,
        "ChunkAccessor.GetItemsCount": items_count,
        "ChunkAccessor.GetItemsChunk": items_chunk,
        "ChunkAccessor.Release": release,
    }


def check_envelope(body: str, host_id: str) -> dict[str, Any]:
    """KLINCDT_BODY as spec/edr-responses.md describes it; PxgError naming what is wrong."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise bad_param("pData.KLINCDT_BODY is not JSON") from None
    if not isinstance(envelope, dict):
        raise bad_param("pData.KLINCDT_BODY must be a JSON object (the response envelope)")
    missing = [key for key in ENVELOPE_KEYS if key not in envelope]
    if missing:
        raise bad_param(f"KLINCDT_BODY: missing {', '.join(missing)}")
    unknown = sorted(set(envelope) - set(ENVELOPE_KEYS))
    if unknown:
        raise bad_param(f"KLINCDT_BODY: unexpected {', '.join(unknown)}")
    if envelope["targetHost"] != host_id:
        raise bad_param("KLINCDT_BODY: targetHost must be the incident's KLHST_WKS_HOSTNAME")
    if envelope["responseEventIncident"] is not True:
        raise bad_param("KLINCDT_BODY: responseEventIncident must be true")
    area = envelope["responseEventIncidentArea"]
    if not isinstance(area, str) or not area.strip():
        raise bad_param("KLINCDT_BODY: responseEventIncidentArea must be a non-empty string")
    try:
        catalog.clean_params(envelope["task"], envelope["params"])
    except catalog.ParamErrors as errors:
        raise bad_param(f"KLINCDT_BODY: {errors}") from None
    return envelope


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

    @property
    def state(self) -> SimulatorState:
        return self.server.simulator.state

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
        path = self.path.split("?", 1)[0]
        try:
            if path.startswith("/_simulator/"):
                self._control(verb, path.removeprefix("/_simulator/"))
            elif verb == "POST" and path.startswith("/api/v1.0/"):
                self._open_api(path.removeprefix("/api/v1.0/"))
            else:
                self._send(404, {"error": f"no such endpoint: {verb} {path}"})
        except _LoginRefusal as refusal:
            body = refusal.message.encode("utf-8")
            self.send_response(401)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
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
        elif not simulator_tasks.control(self, verb, name):
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
            self._authenticate()
            self.login_generation = state.generation
            self._send(200, {})
            return
        try:
            args = json.loads(body) if body else None
        except ValueError:
            args = None
        if method == "Session.StartSession" and "Authorization" in self.headers:
            self._authenticate()
        else:
            self._require_login()
        if not isinstance(args, dict):
            self._send(200, bad_param("the request body must be a JSON object of the method's parameters").answer())
            return
        try:
            with state.working(method):
                if method == "HostGroup.AddIncident" and state.faults.add_delay_ms:
                    # Slow at the work itself, after the login was checked (a refused call answers at once).
                    time.sleep(state.faults.add_delay_ms / 1000)
                answer = OpenApi(state).dispatch(method, args, self)
        except PxgError as error:
            answer = error.answer()
        self._send(200, answer)

    def _authenticate(self) -> None:
        """Check a login's credentials: 401 unless they are the simulator's account."""
        state = self.state
        refused = state.faults.reject_login
        fields = parse_kscbasic(self.headers.get("Authorization", ""))
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
                # This KSC has no virtual servers: a non-empty name cannot be logged in to.
                refused = not (
                    internal_ok and not virtual and state.credentials_match(user, password, fields.get("domain", ""))
                )
        else:
            refused = True
        with state.lock:
            state.stats["refused_logins" if refused else "logins"] += 1
        if refused:
            raise _LoginRefusal("Authentication failure")
        if simulator_tasks.mfa_required(state):
            # Two-factor authentication required for every user, and this account is not exempt.
            raise _LoginRefusal("Two-step verification is required for this account", scheme="KSCMFA")

    def _require_login(self) -> None:
        state = self.state
        token = self.headers.get("X-KSC-Session")
        with state.lock:
            if token is not None:
                session = state.sessions.get(token)
                now = state.time()
                if session is None or not state._session_alive(session, now):
                    state.sessions.pop(token, None)
                    raise _HttpRefusal(403, "the session has ended or never existed")
                session.last_used = now
                return
            if self.login_generation is None or self.login_generation != state.generation:
                raise _HttpRefusal(401, "not authenticated on this connection")


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
    ):
        if not user or not password:
            raise ValueError("the simulator needs a user and a password")
        if (cert_path is None) != (key_path is None):
            raise ValueError("give both a certificate and its key, or neither")
        self.state = SimulatorState(
            user=user,
            password=password,
            domain=domain,
            hosts=hosts or default_hosts(),
            session_ttl=session_ttl,
            state_file=state_file,
        )
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
        # A short poll interval: stop() waits for the loop to notice, and tests start and stop many simulators.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="ksc-simulator", daemon=True
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
