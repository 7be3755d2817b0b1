"""The KSC servers the portal may talk to, as data (issue 25, point 9; used by the several-servers work).

``KSC_SERVERS_FILE`` names a JSON file (a list of objects) or a TOML file (``[[server]]``
tables) with one entry per KSC server::

    [{"name": "primary", "url": "https://ksc.corp.example:13299", "user": "edr-portal",
      "password_file": "/etc/edr-portal/ksc-primary.password", "ca_file": "/etc/edr-portal/ksc.pem",
      "vserver": "", "route": [], "hourly_cap": 300, "inflight_tasks": 100,
      "notify_urls": ["slack://..."], "escalate_urls": [], "slack_channels": ["C0123ABCD"],
      "mattermost_webhook_urls": []}]

The four channel keys (optional) are the server's own channels: they hear only this server's
events, next to the portal-wide NOTIFY_URLS, ESCALATE_URLS, SLACK_CHANNELS and
MATTERMOST_WEBHOOK_URLS, which hear every server's (notifications/routing.py).

Credentials never sit in the file or the database: ``password_file`` names a file that holds
the password (read when a client is built, not here). Without the file, today's ``KSC_*``
variables are the one server ``primary``. Every problem stops the start with a message that
names the file, the entry and the key. Nothing here imports Django apps: settings call it.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# The server's own channels (issue 26, point 5): its tenants' chat hears only its events. Each value is a
# list; the URLs carry tokens, so a problem names the key and the item's position, never the URL.
CHANNEL_KEYS = ("notify_urls", "escalate_urls", "slack_channels", "mattermost_webhook_urls")
KEYS = {
    "name",
    "url",
    "user",
    "password_file",
    "ca_file",
    "vserver",
    "route",
    "hourly_cap",
    "inflight_tasks",
    *CHANNEL_KEYS,
}
SLACK_CHANNEL_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
REQUIRED = ("name", "url", "user", "password_file")


@dataclass(frozen=True)
class KscServer:
    name: str
    url: str  # https://host:port, no path
    user: str
    password_file: str = ""  # a file holding the password; "" for `primary` from KSC_PASSWORD
    password_env: str = ""  # the variable holding it instead ("KSC_PASSWORD" for `primary` from KSC_*)
    ca_file: str = ""
    vserver: str = ""  # a virtual Administration Server's name, sent at login only
    route: tuple[int, ...] = field(default_factory=tuple)  # secondary server ids below the primary
    hourly_cap: int | None = None  # None: KSC_SUBMIT_HOURLY_CAP
    inflight_tasks: int | None = None  # None: no per-server limit yet
    # This server's own channels, besides the portal-wide ones (notifications/channels.py). Apprise URLs
    # and Mattermost webhooks are secrets: left out of repr() so a logged server never shows them.
    notify_urls: tuple[str, ...] = field(default_factory=tuple, repr=False)
    escalate_urls: tuple[str, ...] = field(default_factory=tuple, repr=False)
    slack_channels: tuple[str, ...] = field(default_factory=tuple)
    mattermost_webhook_urls: tuple[str, ...] = field(default_factory=tuple, repr=False)


def _problem(source: str, index: int, name: str, key: str, words: str) -> ImproperlyConfigured:
    which = f"entry {index}" + (f" ({name!r})" if name else "")
    return ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: {which}: {key}: {words}")


def _entries(path: Path) -> list[Any]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: cannot be read ({error.strerror}).") from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: not TOML ({error}).") from None
        entries = data.get("server")
        if not isinstance(entries, list) or set(data) - {"server"}:
            raise ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: a TOML file holds [[server]] tables and nothing else.")
        return entries
    try:
        entries = json.loads(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: not JSON ({error}).") from None
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"KSC_SERVERS_FILE {source}: the file must hold a list of servers, one object each.")
    return entries


def _count(source: str, index: int, name: str, key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _problem(source, index, name, key, f"a whole number of at least 0, not {value!r}.")
    return value


def _channels(source: str, index: int, name: str, key: str, value: Any) -> tuple[str, ...]:
    """A channel key's list, checked for its shape (notifications/apps.py asks Apprise about the URLs)."""
    if value is None:
        return ()
    what = "Slack channel ids (C0123ABCD)" if key == "slack_channels" else "URLs"
    if not isinstance(value, list):
        raise _problem(source, index, name, key, f"a list of {what}.")
    items = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, str) or not item.strip():
            raise _problem(source, index, name, key, f"item {position} must be text, one of the {what}.")
        item = item.strip()
        if key == "slack_channels":
            if not SLACK_CHANNEL_ID.fullmatch(item):
                raise _problem(source, index, name, key, f"item {position} is not a Slack channel id: {item!r}.")
        elif "://" not in item:
            # Never the value: a URL-to-be may be a token pasted without its scheme.
            raise _problem(source, index, name, key, f"item {position} is not a URL (scheme://...).")
        elif key == "mattermost_webhook_urls" and item.split("://", 1)[0] not in ("http", "https"):
            raise _problem(source, index, name, key, f"item {position} is not an http:// or https:// webhook URL.")
        items.append(item)
    return tuple(items)


def _server(source: str, index: int, entry: Any) -> KscServer:
    if not isinstance(entry, dict):
        raise _problem(source, index, "", "entry", "must be an object.")
    name = entry.get("name") if isinstance(entry.get("name"), str) else ""
    if "password" in entry:
        raise _problem(
            source, index, name, "password", "passwords are never written here: put it in a file and name it in password_file."
        )
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise _problem(source, index, name, unknown[0], f"not a key of a server (keys: {', '.join(sorted(KEYS))}).")
    for key in REQUIRED:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise _problem(source, index, name, key, "required, as text.")
    if not NAME.fullmatch(name):
        raise _problem(source, index, name, "name", "lowercase letters, digits, '-' and '_', at most 32, starting with a letter or digit.")
    url = entry["url"].strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise _problem(source, index, name, "url", f"https://host:port of the Administration Server, not {url!r}.")
    try:
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise _problem(source, index, name, "url", f"the port is not a number from 1 to 65535 in {url!r}.") from None
    for key in ("password_file", "ca_file"):
        value = entry.get(key)
        if value in (None, "") and key == "ca_file":
            continue
        if not isinstance(value, str) or not Path(value).is_absolute():
            raise _problem(source, index, name, key, f"an absolute path, not {value!r}.")
        if not Path(value).is_file():
            raise _problem(source, index, name, key, f"no file at {value!r}.")
    vserver = entry.get("vserver", "")
    if not isinstance(vserver, str) or len(vserver) > 255:
        raise _problem(source, index, name, "vserver", "the virtual server's name, as text (at most 255 characters).")
    route = entry.get("route", [])
    if not isinstance(route, list) or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in route):
        raise _problem(source, index, name, "route", "a list of secondary server ids (KLSRVH_SRV_ID, whole numbers).")
    if vserver and route:
        raise _problem(source, index, name, "route", "a virtual server has no secondaries: give vserver or route, not both.")
    return KscServer(
        name=name,
        url=url.rstrip("/"),
        user=entry["user"],
        password_file=entry["password_file"],
        ca_file=entry.get("ca_file") or "",
        vserver=vserver,
        route=tuple(route),
        hourly_cap=_count(source, index, name, "hourly_cap", entry.get("hourly_cap")),
        inflight_tasks=_count(source, index, name, "inflight_tasks", entry.get("inflight_tasks")),
        **{key: _channels(source, index, name, key, entry.get(key)) for key in CHANNEL_KEYS},
    )


def read_servers(path: str | None, *, primary: KscServer | None = None) -> list[KscServer]:
    """The configured servers: from ``path`` (KSC_SERVERS_FILE), else ``primary`` (from KSC_*), else none.

    Both at once is refused: which one a request goes to must never be a guess.
    """
    if not path:
        return [primary] if primary is not None else []
    if primary is not None:
        raise ImproperlyConfigured(
            "KSC_SERVERS_FILE and KSC_HOST are both set: list every server, the primary too, in the file, "
            "and unset KSC_HOST."
        )
    file = Path(path)
    if not file.is_absolute():
        raise ImproperlyConfigured(f"KSC_SERVERS_FILE must be an absolute path, not {path!r}.")
    entries = _entries(file)
    if not entries:
        raise ImproperlyConfigured(f"KSC_SERVERS_FILE {path}: lists no server.")
    servers = [_server(path, index, entry) for index, entry in enumerate(entries, start=1)]
    seen: set[str] = set()
    for index, server in enumerate(servers, start=1):
        if server.name in seen:
            raise _problem(path, index, server.name, "name", "another entry has this name already.")
        seen.add(server.name)
    return servers


def primary_from_variables(host: str | None, port: int, user: str | None, ca_file: str, vserver: str) -> KscServer | None:
    """Today's KSC_* variables as the server named ``primary`` (None without KSC_HOST)."""
    if not host:
        return None
    return KscServer(
        name="primary",
        url=f"https://{host}:{port}",
        user=user or "",
        password_env="KSC_PASSWORD",
        ca_file=ca_file,
        vserver=vserver,
    )
