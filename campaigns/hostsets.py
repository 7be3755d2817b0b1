"""A campaign's host set: pasted lines, checked ids or an API list, resolved in KSC in batches.

Each line is a display name, an FQDN, an IPv4 address or a KSC host id. Lines go to KSC in
chunks of ``LINE_CHUNK`` (one FindHosts per chunk, never one per line); each line is then
matched to the hosts KSC returned: exactly one host resolves it, none makes it "unknown", more
than one "ambiguous" (listed with the candidates, never guessed). Hosts are de-duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from ksc_client.hosts import Host, parse_ipv4

LINE_CHUNK = 50
MAX_LINE = 255


@dataclass
class Resolution:
    hosts: list[Host] = field(default_factory=list)  # resolved, de-duplicated, in the lines' order
    unresolved: list[dict] = field(default_factory=list)  # {"line", "reason"}
    duplicates: int = 0  # lines that named a host already in the set


def parse_lines(text: str) -> list[str]:
    """The non-empty lines of a pasted list (a ``#`` starts a comment line; commas and tabs split too)."""
    lines = []
    for raw in str(text or "").replace("\t", "\n").replace(",", "\n").replace(";", "\n").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _keys(host: Host) -> set[str]:
    keys = {host.id.casefold()}
    for value in (host.display_name, host.fqdn, host.ip):
        if value:
            keys.add(value.casefold())
    return keys


def resolve(lines: list[str], client) -> Resolution:
    """Resolve ``lines`` through ``client`` (one FindHosts per LINE_CHUNK lines); KscError passes through."""
    result = Resolution()
    seen: set[str] = set()
    for start in range(0, len(lines), LINE_CHUNK):
        chunk = lines[start : start + LINE_CHUNK]
        usable = []
        for line in chunk:
            if len(line) > MAX_LINE or any(ord(ch) < 32 for ch in line):
                continue
            usable.append(line)
        found = client.hosts_for_lines(usable, limit=len(usable) * 4 + 10) if usable else []
        index: dict[str, dict[str, Host]] = {}
        for host in found:
            for key in _keys(host):
                index.setdefault(key, {})[host.id] = host
        for line in chunk:
            if len(line) > MAX_LINE:
                result.unresolved.append(
                    {"line": line[:80] + "…", "reason": _("longer than %(max)d characters") % {"max": MAX_LINE}}
                )
                continue
            if any(ord(ch) < 32 for ch in line):
                result.unresolved.append({"line": line, "reason": _("contains control characters")})
                continue
            key = (parse_ipv4(line) or line).casefold()
            matches = index.get(key, {})
            if not matches:
                result.unresolved.append({"line": line, "reason": _("KSC knows no host by this name, address or id")})
            elif len(matches) > 1:
                names = ", ".join(sorted(f"{h.display_name} ({h.id})" for h in matches.values()))
                result.unresolved.append(
                    {
                        "line": line,
                        "reason": _("ambiguous: %(count)d hosts match (%(names)s); paste the KSC host id")
                        % {"count": len(matches), "names": names},
                    }
                )
            else:
                host = next(iter(matches.values()))
                if host.id in seen:
                    result.duplicates += 1
                    continue
                seen.add(host.id)
                result.hosts.append(host)
    return result
