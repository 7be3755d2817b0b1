"""The process's KSC client: which backend, built from the KSC_* settings, cached per process.

``get_client()`` returns Kaspersky's KlAkOAPI client when it is importable
(``KSC_CLIENT=auto``, the default) or asked for (``klakoapi``), otherwise the
project's own client of the same wire protocol (``builtin``). It lives apart from
responses.ksc.client because it imports both backends, and they import the
interface from there: kept in one module, the three formed an import cycle.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from responses.ksc.builtin import BuiltinKscClient
from responses.ksc.client import KscClient, KscConfig
from responses.ksc.klakoapi import KlAkOApiKscClient  # imports KlAkOAPI itself only when a client logs in

__all__ = ["build_client", "get_client", "klakoapi_importable", "reset_client", "resolve_backend"]

_cache_lock = threading.Lock()
_cached: KscClient | None = None
_cached_pid: int | None = None


def klakoapi_importable() -> bool:
    try:
        import KlAkOAPI.AdmServer  # noqa: F401
    except ImportError:
        return False
    return True


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
    """A new client (not cached): from the settings unless given a config and a backend choice."""
    config = config or KscConfig.from_settings()
    chosen = resolve_backend(backend or settings.KSC_CLIENT)
    if chosen == "klakoapi":
        return KlAkOApiKscClient(config)
    return BuiltinKscClient(config)


def get_client() -> KscClient:
    """The process's client, built from the settings on first use and reused by every later caller."""
    global _cached, _cached_pid
    with _cache_lock:
        # A client inherited through fork() shares its parent's TLS connection: never use it in the child.
        if _cached is None or _cached_pid != os.getpid():
            _cached, _cached_pid = build_client(), os.getpid()
        return _cached


def reset_client() -> None:
    """Close and forget the process's client (after a settings change, in tests)."""
    global _cached, _cached_pid
    with _cache_lock:
        client = _cached if _cached_pid == os.getpid() else None
        _cached, _cached_pid = None, None
    if client is not None:
        client.close()


@receiver(setting_changed)
def _forget_client_on_ksc_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("KSC_"):
        reset_client()
