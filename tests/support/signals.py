"""Signal handlers put back after a test (tests/conftest.py uses this around every test).

An RQ worker run in the test process (``work(burst=True)``, the tests' ``run_worker``) installs
SIGINT and SIGTERM handlers that ask it to stop, and leaves them there: afterwards Ctrl-C no longer
stops pytest, and the signal a pytest-xdist worker gets at the end of a run raises RQ's
``StopRequested`` wherever that process happens to be.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

KEPT = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signal_handlers_kept() -> Iterator[None]:
    saved = {number: signal.getsignal(number) for number in KEPT}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if signal.getsignal(number) is not handler and handler is not None:
                signal.signal(number, handler)
