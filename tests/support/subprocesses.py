"""The portal's settings read in a fresh process, from an environment the test gives (tests/test_settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_in_subprocess(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # Start from the shell's environment less what tests/settings.py filled in for the suite.
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("KSC_", "APPROVALS_REQUIRED", "SECURE_", "SECRET_KEY", "AUDIT_", "DEBUG", "ALLOWED_HOSTS")
        )
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"  # set by the browser tests for Playwright's event loop
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.update(extra)
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
