"""The managed hosts the KSC simulator knows: about fifty realistic defaults, or a JSON file.

A ``--hosts`` file is a JSON array of objects::

    [{"id": "5f0c...-...", "display_name": "TKY-WS-0101", "fqdn": "tky-ws-0101.corp.example.co.jp",
      "ip": "10.20.1.101", "group": "Tokyo Office", "netbios": "TKY-WS-0101",
      "os": "Microsoft Windows 11 Enterprise", "last_seen": "2026-11-27T08:30:05Z", "status": 5}]

``id`` and ``display_name`` are required; the rest may be left out. The
default hosts' ids are stable across runs (UUIDv5 of the display name), so a
demo's links and requests survive a restart.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksc_simulator import wire

_NAMESPACE = uuid.UUID("1b0d2a2e-7f6c-4c39-9d0e-4b1f0a3c5e77")
ROOT_GROUP = "Managed devices"


def group_path(group: str) -> str:
    """A host's administration group as its full path from the root: "Servers/DC" and
    "Managed devices/Servers/DC" are both "Managed devices/Servers/DC" (a "/" separates levels)."""
    parts = [part.strip() for part in group.split("/") if part.strip()]
    if parts and parts[0] == ROOT_GROUP:
        parts = parts[1:]
    return "/".join([ROOT_GROUP, *parts])


@dataclass(frozen=True)
class SimulatedHost:
    id: str
    display_name: str
    fqdn: str = ""
    ip: str = ""
    group: str = ROOT_GROUP
    netbios: str = ""
    os: str = ""
    last_seen: dt.datetime | None = None
    status: int = 5

    def attributes(self, group_ids: dict[str, int]) -> dict[str, Any]:
        """The host's KSC attributes as Python values (datetimes aware UTC, the IP a wire.Long)."""
        dns_name, _, dns_domain = self.fqdn.partition(".")
        attrs: dict[str, Any] = {
            "KLHST_WKS_HOSTNAME": self.id,
            "KLHST_WKS_DN": self.display_name,
            "KLHST_WKS_FQDN": self.fqdn,
            "KLHST_WKS_DNSNAME": dns_name,
            "KLHST_WKS_DNSDOMAIN": dns_domain,
            "KLHST_WKS_WINHOSTNAME": self.netbios,
            "KLHST_WKS_WINDOMAIN": dns_domain.split(".")[0].upper() if dns_domain else "",
            "KLHST_WKS_GROUPID": group_ids[group_path(self.group)],
            "name": group_path(self.group).rsplit("/", 1)[-1],  # the group's own name, as KSC's "name"
            "KLHST_WKS_STATUS": self.status,
            "KLHST_WKS_OS_NAME": self.os,
        }
        if self.ip:
            attrs["KLHST_WKS_IP_LONG"] = wire.Long(int(ipaddress.IPv4Address(self.ip)))
        if self.last_seen is not None:
            attrs["KLHST_WKS_LAST_NAGENT_CONNECTED"] = self.last_seen
            attrs["KLHST_WKS_LAST_VISIBLE"] = self.last_seen
        return attrs


def _host(name: str, fqdn: str, ip: str, group: str, os_name: str, minutes_ago: int, now: dt.datetime, status=5):
    netbios = "".join(ch for ch in name.upper() if ch.isalnum() or ch == "-")[:15]
    return SimulatedHost(
        id=str(uuid.uuid5(_NAMESPACE, name)),
        display_name=name,
        fqdn=fqdn,
        ip=ip,
        group=group,
        netbios=netbios,
        os=os_name,
        last_seen=(now - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0),
        status=status,
    )


def default_hosts(now: dt.datetime | None = None) -> list[SimulatedHost]:
    """53 hosts of a company with offices in Tokyo and Osaka, a DMZ and a lab."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    corp, dmz = "corp.example.co.jp", "dmz.example.co.jp"
    win11, win10 = "Microsoft Windows 11 Enterprise", "Microsoft Windows 10 Enterprise"
    win2022, win2019 = "Microsoft Windows Server 2022 Standard", "Microsoft Windows Server 2019 Standard"
    linux = "Red Hat Enterprise Linux 9"
    hosts = [
        _host("DC01", f"dc01.{corp}", "10.10.0.10", "Servers/Domain Controllers", win2022, 1, now),
        _host("DC02", f"dc02.{corp}", "10.10.0.11", "Servers/Domain Controllers", win2022, 2, now),
    ]
    servers = ["SRV-FILE-01", "SRV-FILE-02", "SRV-SQL-01", "SRV-EXCH-01", "SRV-APP-01", "SRV-APP-02", "SRV-APP-03"]
    servers += ["SRV-KSC-01", "SRV-BACKUP-01"]
    for index, name in enumerate(servers):
        os_name = win2019 if "APP" in name else win2022
        hosts.append(_host(name, f"{name.lower()}.{corp}", f"10.10.1.{20 + index}", "Servers", os_name, index, now))
    for index, name in enumerate(["web-dmz-01", "web-dmz-02", "mail-relay-01"]):
        hosts.append(_host(name, f"{name}.{dmz}", f"172.16.0.{10 + index}", "DMZ", linux, 3 + index, now))
    for number in range(101, 119):
        name = f"TKY-WS-{number:04d}"
        os_name = win11 if number % 3 else win10
        minutes = (number * 37) % 600
        hosts.append(_host(name, f"{name.lower()}.{corp}", f"10.20.1.{number}", "Tokyo Office", os_name, minutes, now))
    for number in range(201, 211):
        name = f"OSK-WS-{number:04d}"
        minutes = (number * 53) % 900
        hosts.append(
            _host(name, f"{name.lower()}.{corp}", f"10.30.2.{number - 150}", "Osaka Office", win11, minutes, now)
        )
    laptops = [("TKY-LT-05", range(1, 6), "10.40.5."), ("OSK-LT-06", range(1, 4), "10.40.6.")]
    for prefix, numbers, net in laptops:
        for number in numbers:
            name = f"{prefix}{number:02d}"
            days = number * 2  # laptops go home: seen days ago
            fqdn = f"{name.lower()}.{corp}"
            hosts.append(_host(name, fqdn, f"{net}{number + 10}", "Laptops", win11, days * 1440, now, status=4))
    # Odd display names people really give machines: they keep the filter escaping honest.
    hosts.append(_host('Reception "Front Desk"', f"reception-01.{corp}", "10.20.9.5", "Tokyo Office", win10, 12, now))
    hosts.append(_host("LAB-KIOSK [old]", f"lab-kiosk-01.{corp}", "10.50.0.7", "Lab", win10, 4000, now, status=4))
    hosts.append(_host("Spare PC *do not use*", f"spare-01.{corp}", "10.50.0.8", "Lab", win10, 9000, now, status=4))
    return hosts


def server_hosts(label: str, key: str = "", now: dt.datetime | None = None) -> list[SimulatedHost]:
    """Six hosts of a virtual server or secondary named ``label`` (ids stable, unique to the label).

    Their names start with the label in capitals (``tenant-a`` -> ``TENANT-A-WS-01``), so a search
    shows at once which server answered; their ids come from ``key`` (the server's, e.g.
    ``secondary:11``), so two servers of the same name never share a host id.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    prefix = "".join(ch for ch in label.upper() if ch.isalnum() or ch == "-")[:12] or "SRV"
    net = 100 + uuid.uuid5(_NAMESPACE, f"net/{label}").int % 100
    domain = f"{prefix.lower()}.example"
    hosts = []
    for number in range(1, 7):
        kind = "SRV" if number == 1 else "WS"
        name = f"{prefix}-{kind}-{number:02d}"
        host = _host(name, f"{name.lower()}.{domain}", f"10.{net}.0.{number + 10}", "Managed devices",
                     "Microsoft Windows 11 Enterprise", number * 7, now)
        hosts.append(SimulatedHost(**{**host.__dict__, "id": str(uuid.uuid5(_NAMESPACE, f"{key or label}/{name}"))}))
    return hosts


class InventoryError(ValueError):
    """A --hosts file the simulator cannot use; the message names the entry."""


def _text(entry: dict, key: str, where: str, *, required: bool = False) -> str:
    value = entry.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InventoryError(f"{where}: {key} must be a string")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InventoryError(f"{where}: {key} must not contain control characters")
    if required and not value.strip():
        raise InventoryError(f"{where}: {key} is required")
    return value


def parse_hosts(data: Any) -> list[SimulatedHost]:
    if not isinstance(data, list):
        raise InventoryError("the hosts file must hold a JSON array of host objects")
    hosts, seen = [], set()
    for index, entry in enumerate(data):
        where = f"host #{index + 1}"
        if not isinstance(entry, dict):
            raise InventoryError(f"{where}: expected an object")
        unknown = set(entry) - {"id", "display_name", "fqdn", "ip", "group", "netbios", "os", "last_seen", "status"}
        if unknown:
            raise InventoryError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        host_id = _text(entry, "id", where, required=True)
        if host_id in seen:
            raise InventoryError(f"{where}: id {host_id} appears twice")
        seen.add(host_id)
        ip = _text(entry, "ip", where)
        if ip:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise InventoryError(f"{where}: ip {ip!r} is not an IPv4 address") from None
        last_seen = _text(entry, "last_seen", where)
        try:
            seen_at = wire.parse_datetime(last_seen) if last_seen else None
        except ValueError:
            raise InventoryError(f"{where}: last_seen must be YYYY-MM-DDTHH:MM:SSZ") from None
        status = entry.get("status", 5)
        if type(status) is not int:
            raise InventoryError(f"{where}: status must be an integer")
        hosts.append(
            SimulatedHost(
                id=host_id,
                display_name=_text(entry, "display_name", where, required=True),
                fqdn=_text(entry, "fqdn", where),
                ip=ip,
                group=_text(entry, "group", where) or ROOT_GROUP,
                netbios=_text(entry, "netbios", where),
                os=_text(entry, "os", where),
                last_seen=seen_at,
                status=status,
            )
        )
    return hosts


def load_hosts(path: str | Path) -> list[SimulatedHost]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InventoryError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise InventoryError(f"{path} is not JSON: {error}") from None
    return parse_hosts(data)
