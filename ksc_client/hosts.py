"""KSC's managed hosts as the portal sees them: the Host record, the attributes read, the IPv4 encoding.

``KLHST_WKS_IP_LONG`` is the IPv4 address as an unsigned 32-bit integer with
the first octet most significant: 10.99.101.200 is 174286280. KSC's SDK
headers describe it as "host byte order", and tools that read KSC's
inventory decode it as ``ipaddress.IPv4Address(n)``; the spec leaves it open,
so this is our decision, and the simulator stores it the same way.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

from ksc_client.attributes import (
    DISPLAY_NAME,
    FQDN,
    GROUP_ID,
    GROUP_NAME,
    HOST_ID,
    IP_LONG,
    LAST_SEEN,
    LAST_VISIBLE,
    OS_NAME,
)

# What find_hosts and get_host ask KSC for.
HOST_FIELDS: tuple[str, ...] = (
    HOST_ID,
    DISPLAY_NAME,
    FQDN,
    IP_LONG,
    GROUP_ID,
    GROUP_NAME,
    LAST_SEEN,
    OS_NAME,
    LAST_VISIBLE,
)


# The root of KSC's administration groups, as the console names it in English.
ROOT_GROUP = "Managed devices"
MAX_GROUP_PATH = 1000


def group_parts(path: str) -> list[str]:
    """The group names of a path below the root, top down: "Managed devices/Servers/DC" and "Servers/DC" are both
    ["Servers", "DC"]; "Managed devices" (or "/") alone is the root, []. A "/" separates levels."""
    parts = [part.strip() for part in path.split("/") if part.strip()]
    if parts and parts[0].casefold() == ROOT_GROUP.casefold():
        parts = parts[1:]
    return parts


def ip_to_long(ip: str) -> int:
    """``"10.99.101.200"`` -> ``174286280``; ValueError when not an IPv4 address."""
    return int(ipaddress.IPv4Address(ip))


def long_to_ip(value: int) -> str:
    """The inverse of ip_to_long; ValueError when out of range."""
    return str(ipaddress.IPv4Address(value))


def parse_ipv4(text: str) -> str | None:
    """The address when ``text`` is a dotted IPv4 literal, else None."""
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class Host:
    """One managed host. ``id`` is what AddIncident and the envelope's targetHost want."""

    id: str
    display_name: str
    fqdn: str
    ip: str
    group_name: str
    last_seen: dt.datetime | None
    # What the host picker shows before acting (responses.host_state).
    os_name: str = ""
    last_visible: dt.datetime | None = None

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> Host:
        """From decoded FindHosts/GetHostInfo attributes; absent values become "" or None."""
        ip_value = attrs.get(IP_LONG)
        try:
            ip = long_to_ip(int(ip_value)) if isinstance(ip_value, int) and ip_value else ""
        except ValueError:
            ip = ""
        last_seen = attrs.get(LAST_SEEN)
        last_visible = attrs.get(LAST_VISIBLE)
        return cls(
            id=str(attrs.get(HOST_ID) or ""),
            display_name=str(attrs.get(DISPLAY_NAME) or ""),
            fqdn=str(attrs.get(FQDN) or ""),
            ip=ip,
            group_name=str(attrs.get(GROUP_NAME) or ""),
            last_seen=last_seen if isinstance(last_seen, dt.datetime) else None,
            os_name=str(attrs.get(OS_NAME) or ""),
            last_visible=last_visible if isinstance(last_visible, dt.datetime) else None,
        )

    @property
    def label(self) -> str:
        """How people recognise the host: "TKY-WS-0142 (tky-ws-0142.corp.example, 10.10.1.42)"."""
        extras = [part for part in (self.fqdn, self.ip) if part and part != self.display_name]
        name = self.display_name or self.fqdn or self.id
        return f"{name} ({', '.join(extras)})" if extras else name
