"""The portal's KSC clients, one per configured server, built from the settings and cached per process.

The one place where Django meets ``ksc_client`` (which never imports Django): it reads the
servers of ``portal/ksc_servers.py`` (``KSC_SERVERS_FILE``, or today's ``KSC_*`` variables as
the one server ``primary``), turns each into a ``ksc_client.KscConfig`` (reading the password
from its file or variable when a client is built, never keeping it elsewhere) and picks the
backend: Kaspersky's KlAkOAPI client when it is importable (``KSC_CLIENT=auto``, the default)
or asked for (``klakoapi``), otherwise the project's own client of the same wire protocol
(``builtin``).

- ``server_names()``, ``default_server()``: which servers there are, and the one a request goes
  to when none is named (the only server, else ``primary``, else None).
- ``config_for(name)``: that server's KscConfig; an unknown name raises UnknownServer.
- ``client_for(name=None)``: the process's client for that server, built on first use; a client
  inherited through ``fork()`` is never used in the child. ``get_client()`` is the default server's.
- ``build_client(config=None, backend=None)``: a new, uncached client.
- ``reset_clients()`` (also ``reset_client``): close and forget every cached client; runs by
  itself when a ``KSC_*`` setting changes (tests).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from ksc_client.builtin import BuiltinKscClient
from ksc_client.client import KscClient, KscConfig, KscConfigError
from ksc_client.klakoapi import KlAkOApiKscClient, klakoapi_importable  # KlAkOAPI itself: only at login
from portal.ksc_servers import KscServer

__all__ = [
    "UnknownServer",
    "build_client",
    "client_for",
    "config_for",
    "default_config",
    "default_server",
    "get_client",
    "klakoapi_importable",
    "reset_client",
    "reset_clients",
    "resolve_backend",
    "server_names",
    "tls_verification_disabled",
    "warn_if_tls_verification_disabled",
]

logger = logging.getLogger("ksc_client")

PRIMARY = "primary"
NOT_CONFIGURED = "KSC_HOST is not set (nor KSC_SERVERS_FILE): the portal does not know where KSC is."


class UnknownServer(ValueError):
    """A KSC server name that is not configured."""


# --- the servers ---------------------------------------------------------------------------------


def _servers() -> list[KscServer]:
    """The servers of KSC_SERVERS_FILE, or `primary` from the live KSC_* settings, or none."""
    listed = [server for server in getattr(settings, "KSC_SERVERS", []) if server.password_env != "KSC_PASSWORD"]
    if listed:
        return listed
    if getattr(settings, "KSC_HOST", None):
        return [KscServer(name=PRIMARY, url="", user=settings.KSC_USER or "", password_env="KSC_PASSWORD")]
    return []


def server_names() -> list[str]:
    return [server.name for server in _servers()]


def default_server() -> str | None:
    """The only server's name when there is one, else ``primary`` when configured, else None."""
    names = server_names()
    if len(names) == 1:
        return names[0]
    return PRIMARY if PRIMARY in names else None


def _password(server: KscServer) -> str:
    if server.password_file:
        try:
            return Path(server.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ImproperlyConfigured(
                f"KSC server {server.name!r}: password_file {server.password_file!r} cannot be read "
                f"({error.strerror})."
            ) from None
    if server.password_env == "KSC_PASSWORD":
        return settings.KSC_PASSWORD or ""
    return os.environ.get(server.password_env, "") if server.password_env else ""


def config_for(name: str) -> KscConfig:
    """The KscConfig of the server ``name``; UnknownServer when no such server is configured.

    ImproperlyConfigured when no server is configured at all (the message says which settings).
    """
    servers = _servers()
    if not servers:
        raise ImproperlyConfigured(NOT_CONFIGURED)
    server = next((server for server in servers if server.name == name), None)
    if server is None:
        known = ", ".join(server_names()) or "none"
        raise UnknownServer(f"No KSC server is named {name!r} (configured: {known}).")
    common = {
        "name": server.name,
        "user": server.user,
        "password": _password(server),
        "domain": settings.KSC_DOMAIN or "",
        "internal": settings.KSC_INTERNAL_USER,
        "connect_timeout": settings.KSC_CONNECT_TIMEOUT,
        "read_timeout": settings.KSC_READ_TIMEOUT,
    }
    try:
        if server.password_env == "KSC_PASSWORD" and not server.password_file:
            # Today's variables, read live (tests and `manage.py ksc_check` change them).
            return KscConfig(
                host=settings.KSC_HOST,
                port=settings.KSC_PORT,
                vserver=settings.KSC_VSERVER or "",
                verify=settings.KSC_VERIFY,
                **{**common, "user": settings.KSC_USER or ""},
            )
        return KscConfig(
            url=server.url, vserver=server.vserver, route=server.route, verify=server.ca_file or True, **common
        )
    except KscConfigError as error:
        raise ImproperlyConfigured(str(error)) from None


def default_config() -> KscConfig:
    """The default server's KscConfig; ImproperlyConfigured when there is none (or no default among several)."""
    name = default_server()
    if name is None:
        if server_names():
            raise ImproperlyConfigured(
                f"Several KSC servers are configured ({', '.join(server_names())}) and none is named 'primary': "
                "name the server."
            )
        raise ImproperlyConfigured(NOT_CONFIGURED)
    return config_for(name)


# --- the clients ---------------------------------------------------------------------------------


def resolve_backend(choice: str) -> str:
    """``auto`` -> ``klakoapi`` when importable, else ``builtin``; ImproperlyConfigured for a missing KlAkOAPI."""
    if choice == "auto":
        return "klakoapi" if klakoapi_importable() else "builtin"
    if choice == "klakoapi" and not klakoapi_importable():
        raise ImproperlyConfigured(
            "KSC_CLIENT=klakoapi, but KlAkOAPI cannot be imported: install Kaspersky's KlAkOAPI package "
            "from your KSC distribution, or set KSC_CLIENT=builtin."
        )
    if choice not in ("klakoapi", "builtin"):
        raise ImproperlyConfigured(f"KSC_CLIENT must be auto, klakoapi or builtin, not {choice!r}.")
    return choice


def build_client(config: KscConfig | None = None, backend: str | None = None) -> KscClient:
    """A new client (not cached): the default server's unless given a config; the backend from KSC_CLIENT."""
    config = config or default_config()
    chosen = resolve_backend(backend or settings.KSC_CLIENT)
    if chosen == "klakoapi":
        return KlAkOApiKscClient(config)
    return BuiltinKscClient(config)


_cache_lock = threading.Lock()
_cached: dict[str, KscClient] = {}
_cached_pid: int | None = None


def client_for(name: str | None = None) -> KscClient:
    """The process's client of server ``name`` (the default server for None), built once and reused."""
    global _cached_pid
    if name is None:
        name = default_server()
        if name is None:
            default_config()  # raises the reason: no server, or several and none named primary
    with _cache_lock:
        # A client inherited through fork() shares its parent's TLS connection: never use it in the child.
        if _cached_pid != os.getpid():
            _cached.clear()
            _cached_pid = os.getpid()
        client = _cached.get(name)
        if client is None:
            client = _cached[name] = build_client(config_for(name))
        return client


def get_client() -> KscClient:
    """The default server's client (``client_for(default_server())``)."""
    return client_for(None)


def reset_clients() -> None:
    """Close and forget every cached client of this process (after a settings change, in tests)."""
    global _cached_pid
    with _cache_lock:
        clients = list(_cached.values()) if _cached_pid == os.getpid() else []
        _cached.clear()
        _cached_pid = None
    for client in clients:
        client.close()


reset_client = reset_clients


@receiver(setting_changed)
def _forget_clients_on_ksc_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("KSC_"):
        reset_clients()


# --- warnings at start ---------------------------------------------------------------------------


def tls_verification_disabled() -> bool:
    """True when KSC_CERT=false: the portal then warns at start, and shows administrators a warning."""
    return getattr(settings, "KSC_VERIFY", True) is False


_warned = False


def warn_if_tls_verification_disabled() -> None:
    """Log, once per process, that KSC's certificate is not checked."""
    global _warned
    if _warned or not tls_verification_disabled():
        return
    _warned = True
    where = f" at {settings.KSC_HOST}:{settings.KSC_PORT}" if settings.KSC_HOST else ""
    logger.warning(
        "TLS verification of KSC%s is OFF (KSC_CERT=false): anyone on the network path can pose as KSC and "
        "capture the KSC account's password. Set KSC_CERT to KSC's certificate file.",
        where,
    )
