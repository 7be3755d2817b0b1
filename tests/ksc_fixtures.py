"""Fixtures for everything that talks to KSC: a real simulated KSC over HTTPS on loopback.

- ``ksc_simulator``: a fresh ksc_simulator.server per test, on a free
  127.0.0.1 port, with its own self-signed certificate. The object it yields
  has ``url``, ``host``, ``port``, ``cert_path``, ``user``, ``password``,
  ``simulator`` (the in-process server), and talks to the simulator's own
  endpoints over HTTPS: ``incidents()``, ``hosts()``, ``host_id(display_name)``,
  ``stats()``, ``set_faults(dict)``, ``clear_faults()``, ``expire_sessions()``,
  ``advance_clock(seconds)``.
- ``ksc_settings``: Django's KSC_* settings pointed at that simulator
  (verification against its certificate, 2 s connect / 5 s read timeouts),
  with the process's cached client reset before and after, so that
  ``responses.ksc.factory.get_client()`` talks to it. Yields the simulator.
- ``ksc_certificate``: the session's certificate and key (generating one per
  test would cost more than the test).

Registered for every test module through ``pytest_plugins`` in conftest.py.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from ksc_simulator.server import KscSimulator, certificate_names, generate_certificate
from responses.ksc import wire
from responses.ksc.factory import reset_client


@dataclass
class RunningSimulator:
    simulator: KscSimulator
    user: str
    password: str = field(repr=False)

    def __post_init__(self):
        self._http = requests.Session()
        self._http.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the simulator's certificate
        self._http.verify = str(self.cert_path)

    @property
    def url(self) -> str:
        return self.simulator.url

    @property
    def host(self) -> str:
        return self.simulator.host

    @property
    def port(self) -> int:
        return self.simulator.port

    @property
    def cert_path(self) -> Path:
        return self.simulator.cert_path

    def _request(self, verb: str, name: str, payload: Any = None) -> Any:
        response = self._http.request(verb, f"{self.url}/_simulator/{name}", json=payload, timeout=5)
        response.raise_for_status()
        return response.json()

    def incidents(self) -> list[dict[str, Any]]:
        """Every incident received: id, pData as received, updates, received time, deleted."""
        return self._request("GET", "incidents")

    def hosts(self) -> list[dict[str, Any]]:
        """The inventory, each host's attributes decoded (KLHST_WKS_HOSTNAME, KLHST_WKS_DN, ...)."""
        return [wire.decode_params(host) for host in self._request("GET", "hosts")]

    def host_id(self, display_name: str) -> str:
        for host in self.hosts():
            if host["KLHST_WKS_DN"] == display_name:
                return host["KLHST_WKS_HOSTNAME"]
        raise KeyError(display_name)

    def stats(self) -> dict[str, Any]:
        """Logins, sessions started, calls per method, open accessors, live sessions."""
        return self._request("GET", "stats")

    def set_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", "faults", faults)

    def clear_faults(self) -> None:
        self._request("POST", "faults", {})

    def expire_sessions(self) -> None:
        """End every session token and every connection's login, as a KSC restart would."""
        self._request("POST", "expire-sessions", {})

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator's clock forward (session and accessor expiry) without waiting."""
        self._request("POST", "clock", {"advance_seconds": seconds})

    def tasks(self) -> dict[str, Any]:
        """The tasks side (ksc_simulator.tasks): config, every task with its state, removed ids."""
        return self._request("GET", "tasks")

    def configure_tasks(self, config: dict[str, Any]) -> dict[str, Any]:
        """Merge a tasks config (outcome, reason, delay_s, pending_s, run_s, hosts, id_mode...); {} resets."""
        return self._request("POST", "tasks", config)

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="session")
def ksc_certificate(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("ksc-certificate")
    return generate_certificate(directory, certificate_names("127.0.0.1"))


@pytest.fixture
def ksc_simulator(ksc_certificate):
    cert_path, key_path = ksc_certificate
    user, password = "edr-portal", "sim-" + secrets.token_urlsafe(12)
    simulator = KscSimulator(
        user=user, password=password, bind="127.0.0.1", port=0, cert_path=cert_path, key_path=key_path
    ).start()
    running = RunningSimulator(simulator=simulator, user=user, password=password)
    yield running
    running.close()
    simulator.stop()


@pytest.fixture
def ksc_settings(settings, ksc_simulator):
    reset_client()
    settings.KSC_HOST = ksc_simulator.host
    settings.KSC_PORT = ksc_simulator.port
    settings.KSC_VERIFY = str(ksc_simulator.cert_path)
    settings.KSC_USER = ksc_simulator.user
    settings.KSC_PASSWORD = ksc_simulator.password
    settings.KSC_DOMAIN = ""
    settings.KSC_INTERNAL_USER = True
    settings.KSC_VSERVER = ""
    settings.KSC_CONNECT_TIMEOUT = 2.0
    settings.KSC_READ_TIMEOUT = 5.0
    settings.KSC_SIMULATED = True
    yield ksc_simulator
    reset_client()
