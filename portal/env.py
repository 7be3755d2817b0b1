"""Strict readers for settings that come from environment variables.

Each reader refuses junk with ImproperlyConfigured and a message naming the
variable, so a typo in a unit file fails at start instead of at 3 a.m.
Secrets can also be read from ``<NAME>_FILE`` (systemd credentials, Docker
secrets), which keeps them out of ``/proc/<pid>/environ`` listings.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None, *, secret: bool = False) -> str | None:
    """A string; for ``secret=True`` also ``<NAME>_FILE`` (the file's content, stripped)."""
    value = os.environ.get(name)
    if secret:
        file_name = os.environ.get(f"{name}_FILE")
        if file_name and value:
            raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
        if file_name:
            try:
                value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name!r}: {exc.strerror}") from None
    if value is None or value == "":
        return default
    if any(ord(ch) < 32 for ch in value):
        raise ImproperlyConfigured(f"{name} must not contain control characters.")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value.strip(), 10)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {number}.")
    return number


def env_int_family(
    prefix: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> dict[str, int]:
    """Every set variable named ``prefix`` + a suffix (``APPROVALS_REQUIRED_ISOLATEHOST``), as {suffix: number}.

    Each is read as ``env_int`` reads one. Which suffixes mean something is not this reader's to say
    (the settings import no app code): a Django system check of the app that knows refuses the others
    (responses/checks.py for the task types).
    """
    return {
        key.removeprefix(prefix): env_int(key, default, minimum=minimum, maximum=maximum)
        for key in sorted(os.environ)
        if key.startswith(prefix) and len(key) > len(prefix) and os.environ[key] != ""
    }


def env_json_object(name: str, example: str) -> dict[str, Any]:
    """A JSON object ({} when unset or empty); what its keys and values must be is checked by the app that reads it."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}: {exc}.") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object such as {example}.")
    return data


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None
    if number != number or number < minimum:  # NaN compares unequal to itself
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, not {value!r}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name} is a comma-separated list without empty items, not {value!r}.")
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def env_regex(name: str, default: str, *, groups: tuple[str, ...] = (), flags: int = 0) -> re.Pattern[str]:
    """A regular expression, compiled; its named groups limited to ``groups``."""
    value = os.environ.get(name)
    text = default if value is None or value == "" else value
    try:
        pattern = re.compile(text, flags)
    except re.error as exc:
        raise ImproperlyConfigured(f"{name} is not a valid regular expression: {exc}.") from None
    unknown = sorted(set(pattern.groupindex) - set(groups))
    if groups and unknown:
        raise ImproperlyConfigured(f"{name}: unknown named groups {', '.join(unknown)}; use only {', '.join(groups)}.")
    return pattern


def parse_database_url(name: str, url: str) -> dict:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``postgres://user:pass@host:port/db``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("/"):
            path = path[1:]  # sqlite:///db.sqlite3 is relative, sqlite:////abs is absolute
        if not path:
            raise ImproperlyConfigured(f"{name}: a sqlite URL needs a file name, as in sqlite:///db.sqlite3.")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        db_name = unquote(parts.path.lstrip("/"))
        if not db_name:
            raise ImproperlyConfigured(f"{name}: a postgres URL needs a database name, as in postgres://host/db.")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}: the port is not a number.") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
        }
        if options:
            config["OPTIONS"] = options
        return config
    raise ImproperlyConfigured(f"{name} must start with sqlite:// or postgres://, not {parts.scheme or url!r}.")


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is this machine (plain http or ldap is acceptable only there)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_sentinels(name: str, items: list[str]) -> list[tuple[str, int]]:
    """``host:port`` items (REDIS_SENTINELS) as (host, port) pairs; a missing port is Sentinel's 26379."""
    sentinels = []
    for item in items:
        host, _sep, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"{name}: {item!r} is not host:port (e.g. redis-a.example:26379).")
        sentinels.append((host.strip("[]"), int(port)))
    return sentinels


def redis_connection_config(
    redis_url: str, sentinels: list[tuple[str, int]], master: str, sentinel_password: str | None
) -> dict[str, Any]:
    """django-rq's connection settings: REDIS_URL alone, or through Sentinel (REDIS_SENTINELS).

    With Sentinel, the master is whichever server the sentinels name for ``master``;
    REDIS_URL then only gives the database number and the master's credentials.
    Connecting fails within 5 s, so that an approval never hangs on a dead Redis.
    """
    if not sentinels:
        # django-rq ignores CONNECTION_KWARGS beside a URL, so the timeout rides in the URL.
        if "socket_connect_timeout" not in redis_url:
            redis_url += ("&" if "?" in redis_url else "?") + "socket_connect_timeout=5"
        return {"URL": redis_url}
    if not master:
        raise ImproperlyConfigured("REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS: the name of the master.")
    parts = urlsplit(redis_url)
    path = parts.path.lstrip("/") or "0"
    if not path.isdigit():
        raise ImproperlyConfigured(f"REDIS_URL: the database number must be a whole number, not {path!r}.")
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 2}
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    return {
        "SENTINELS": sentinels,
        "MASTER_NAME": master,
        "DB": int(path),
        "USERNAME": unquote(parts.username) if parts.username else None,
        "PASSWORD": unquote(parts.password) if parts.password else None,
        "CONNECTION_KWARGS": {"socket_connect_timeout": 5},
        "SENTINEL_KWARGS": sentinel_kwargs,
    }


# --- IDENTITY_LINK_ATTRIBUTE and LDAP_ID_ATTRIBUTE (their meaning: accounts/identity_link.py) ---

SOURCES = ("ldap", "oidc")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.;-]*$")


def parse_link_attribute(variable: str, value: str) -> dict[str, str]:
    """{"ldap": attribute, "oidc": claim}, or {} when unset; ImproperlyConfigured naming the variable."""
    value = (value or "").strip()
    if not value:
        return {}
    parts = [part for part in re.split(r"[\s,]+", value) if part]
    found: dict[str, str] = {}
    for part in parts:
        source, sep, name = part.partition(":")
        if not sep:
            if len(parts) != 1:
                raise ImproperlyConfigured(
                    f"{variable}: give one name for both sources, or ldap:<attribute> oidc:<claim>; not {value!r}."
                )
            source, name = "", part
        if source and source not in SOURCES:
            raise ImproperlyConfigured(f"{variable}: {source!r} is not a source; use ldap: or oidc:.")
        if not _NAME.match(name):
            raise ImproperlyConfigured(f"{variable}: {name!r} is not an attribute or claim name.")
        for one in [source] if source else SOURCES:
            if one in found:
                raise ImproperlyConfigured(f"{variable}: {one} is given twice.")
            found[one] = name
    return found


def parse_id_attribute(variable: str, value: str) -> str:
    """LDAP_ID_ATTRIBUTE: empty (objectGUID, else entryUUID, else the DN), an attribute name, or "dn"."""
    value = (value or "").strip()
    if value and not _NAME.match(value):
        raise ImproperlyConfigured(f"{variable}: {value!r} is not an LDAP attribute name.")
    return value
