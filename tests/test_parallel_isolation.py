"""The suite in parallel (docs/testing.md): each pytest-xdist worker has a Redis of its own.

The fixtures empty the test Redis with ``flushdb()`` before and after a test; with two workers on one
database, one worker's flush would drop the other's queued jobs mid-test. tests/settings.py gives worker
gwN database base + N of REDIS_URL's server, and starts a throwaway redis-server when REDIS_URL is not set
(never a developer's 127.0.0.1:6379). Proved here with a real ``pytest -n 2`` on a private redis-server,
and with tests/settings.py read in fresh processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from portal import local_redis
from tests.settings import choose_redis, with_database_offset, worker_index

ROOT = Path(__file__).resolve().parent.parent

# Run by both workers at once (--dist each): gw0 writes a key and waits; gw1 flushes its database
# meanwhile; gw0's key must still be there. Files in ISOLATION_BOX order the two.
TWO_WORKERS = '''
import os
import time
from pathlib import Path

import django_rq


def wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never came: the other worker did not run"
        time.sleep(0.05)


def test_a_flush_empties_this_workers_database_only():
    box = Path(os.environ["ISOLATION_BOX"])
    worker = os.environ["PYTEST_XDIST_WORKER"]
    connection = django_rq.get_queue("ksc").connection  # what the ksc_queue fixture flushes
    (box / f"{worker}.url").write_text(os.environ["REDIS_URL"])
    connection.set("owner", worker)
    django_rq.get_queue("ksc").enqueue("builtins.print", worker)
    if worker == "gw0":
        (box / "gw0-wrote").touch()
        wait_for(box / "gw1-flushed")
        assert connection.get("owner") == b"gw0"
        assert django_rq.get_queue("ksc").count == 1
    else:
        wait_for(box / "gw0-wrote")
        assert connection.get("owner") == b"gw1"  # not gw0's key: another database
        connection.flushdb()
        assert connection.get("owner") is None
        (box / "gw1-flushed").touch()
'''


def _environment(**changes: str | None) -> dict[str, str]:
    """This shell's environment without this worker's Redis choice, with ``changes`` (None removes)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "TESTS_REDIS_WORKER")) and k != "REDIS_URL"
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture(scope="module")
def private_redis():
    """A redis-server of this module's own: the nested run flushes its databases, nobody else's."""
    process, url = local_redis.start()
    yield url.rsplit("/", 1)[0]
    process.terminate()
    process.wait(timeout=10)


def test_two_xdist_workers_flush_only_their_own_redis_database(private_redis, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (tmp_path / "test_two_workers.py").write_text(TWO_WORKERS)
    env = _environment(REDIS_URL=f"{private_redis}/3", ISOLATION_BOX=str(box), DJANGO_SETTINGS_MODULE="tests.settings")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        # Without pytest-django (-p no:django): the two workers touch Redis only, so neither creates and
        # migrates a test database of its own (half a minute each); tests/settings.py still chooses each
        # worker's Redis when the test first reads the settings, as it does under pytest-django.
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "each", "-p", "no:cacheprovider", "-p", "no:django",
         "-W", "ignore::pytest.PytestConfigWarning", "-q",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_two_workers.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
    assert (box / "gw0.url").read_text() == f"{private_redis}/3"
    assert (box / "gw1.url").read_text() == f"{private_redis}/4"
    kept = redis.Redis.from_url(f"{private_redis}/3")
    assert kept.get("owner") == b"gw0"  # what the worker left, after the other worker's flush
    assert redis.Redis.from_url(f"{private_redis}/4").dbsize() == 0


def test_a_worker_moves_its_database_once_and_its_subprocesses_keep_it(private_redis):
    environ = {"REDIS_URL": f"{private_redis}/2", "PYTEST_XDIST_WORKER": "gw3"}
    assert choose_redis(environ) is None  # REDIS_URL answers: no server of our own
    assert environ["REDIS_URL"] == f"{private_redis}/5"
    assert environ["TESTS_REDIS_WORKER"] == "gw3"
    # A manage.py or RQ worker the test starts inherits this environment and reads tests/settings.py again.
    child = dict(environ)
    assert choose_redis(child) is None
    assert child["REDIS_URL"] == f"{private_redis}/5"
    # Outside pytest-xdist REDIS_URL is used as it is.
    serial = {"REDIS_URL": f"{private_redis}/2"}
    choose_redis(serial)
    assert serial["REDIS_URL"] == f"{private_redis}/2"


def test_the_database_numbers_a_worker_takes():
    assert worker_index("gw0") == 0 and worker_index("gw12") == 12
    assert worker_index(None) is None and worker_index("master") is None
    assert with_database_offset("redis://127.0.0.1:6379/8", 1) == "redis://127.0.0.1:6379/9"
    assert with_database_offset("redis://127.0.0.1:6379", 2) == "redis://127.0.0.1:6379/2"
    assert with_database_offset("redis://:pw@h:1/0", 3) == "redis://:pw@h:1/3"
    assert with_database_offset("unix:///run/redis.sock?db=2", 1) == "unix:///run/redis.sock?db=3"
    with pytest.raises(ValueError, match="must be a number"):
        with_database_offset("redis://127.0.0.1:6379/queues", 1)


def test_an_out_of_range_database_is_a_clear_error_not_a_silent_database_0(private_redis):
    environ = {"REDIS_URL": f"{private_redis}/15", "PYTEST_XDIST_WORKER": "gw1"}
    with pytest.raises(RuntimeError, match=r"out of range .*/16.*lower database number, or run fewer workers"):
        choose_redis(environ)
    assert environ["REDIS_URL"] == f"{private_redis}/15"  # nothing changed


def test_without_redis_url_the_tests_start_their_own_redis_server_and_stop_it():
    script = textwrap.dedent(
        """
        import os
        import tests.settings
        from portal import local_redis
        url = os.environ["REDIS_URL"]
        assert local_redis.reachable(url), url
        print(url)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_environment(REDIS_URL=None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    url = result.stdout.strip().splitlines()[-1]
    assert url.startswith("redis://127.0.0.1:") and not url.startswith("redis://127.0.0.1:6379/")
    assert not local_redis.reachable(url), "the throwaway redis-server outlived the process that started it"


def test_an_rq_worker_run_in_the_test_process_leaves_no_signal_handler_behind(ksc_queue):
    import signal

    from tests.support.signals import signal_handlers_kept
    from worker.rq_worker import PortalWorker

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    with signal_handlers_kept():
        PortalWorker([ksc_queue], connection=ksc_queue.connection).work(burst=True)
        # What RQ leaves: Ctrl-C and xdist's signal would ask this finished worker to stop.
        assert getattr(signal.getsignal(signal.SIGTERM), "__func__", None) is PortalWorker.request_stop
    assert {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)} == before
