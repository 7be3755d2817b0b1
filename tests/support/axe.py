"""axe-core for the browser tests (issue 30): find axe.min.js, or fetch the pinned version from the npm registry.

Where it is looked for, in order:

1. ``AXE_CORE_JS``: the path of an axe.min.js (it must exist; any version the caller chose);
2. the cache, ``.run/axe-core/<AXE_VERSION>/axe.min.js`` (``AXE_CORE_CACHE`` moves it);
3. otherwise, when ``npm`` is on the PATH: ``npm pack axe-core@<AXE_VERSION>`` into the cache,
   axe.min.js taken out of the package and checked against ``AXE_SHA256``.

Nothing is installed into the project and no node_modules is made; .run/ is not committed.
``python -m tests.support.axe`` fetches it (``.ci/run`` does, before ``make test``) and prints the path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

AXE_VERSION = "4.10.2"
# SHA-256 of package/axe.min.js in axe-core 4.10.2's npm package.
AXE_SHA256 = "b511cd9dec01c76f4b2ad1723b66b6db37d4c2eb4ed199076e1829d9ee7b75e3"
ROOT = Path(__file__).resolve().parents[2]
NPM_TIMEOUT = 180


def cache_dir() -> Path:
    return Path(os.environ.get("AXE_CORE_CACHE") or ROOT / ".run" / "axe-core") / AXE_VERSION


def find() -> tuple[Path | None, str]:
    """(axe.min.js, "") when it is here or could be fetched; (None, why not) otherwise."""
    chosen = os.environ.get("AXE_CORE_JS", "")
    if chosen:
        path = Path(chosen)
        return (path, "") if path.is_file() else (None, f"AXE_CORE_JS={chosen} is not a file")
    cached = cache_dir() / "axe.min.js"
    if cached.is_file() and _digest(cached) == AXE_SHA256:
        return cached, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, (
            f"axe-core is not at {cached} and npm is missing: set AXE_CORE_JS to an axe.min.js, "
            f"or install npm (the tests then fetch axe-core@{AXE_VERSION})"
        )
    return _fetch(npm, cached)


def _fetch(npm: str, target: Path) -> tuple[Path | None, str]:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        try:
            done = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--silent", "--pack-destination", work],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, f"npm pack axe-core@{AXE_VERSION} did not finish within {NPM_TIMEOUT} s"
        packages = list(Path(work).glob("axe-core-*.tgz"))
        if done.returncode != 0 or not packages:
            why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no package written"]
            return None, f"npm pack axe-core@{AXE_VERSION} failed: {why[0]}"
        with tarfile.open(packages[0]) as package:
            member = package.extractfile("package/axe.min.js")
            if member is None:
                return None, f"axe-core@{AXE_VERSION}'s package holds no axe.min.js"
            data = member.read()
        if hashlib.sha256(data).hexdigest() != AXE_SHA256:
            return None, f"axe-core@{AXE_VERSION}'s axe.min.js is not the one pinned (SHA-256 differs)"
        partial = Path(work) / "axe.min.js"
        partial.write_bytes(data)
        partial.replace(target)
    return target, ""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    found, reason = find()
    if found is None:
        print(f"axe-core: {reason}", file=sys.stderr)
        sys.exit(1)
    print(found)
