"""The keeper: the cluster's periodic duties (worker/duties.py) and the schedule, in every worker and in
`reconcile_requests --loop`."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid as uuid_module

import django_rq
from django.conf import settings
from django.db import DatabaseError, connections
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.scripts import acquire_or_refresh_lock, release_lock

from worker import duties

log = logging.getLogger(__name__)

LEGACY_RECONCILE_JOB_ID = "portal-reconcile-requests"  # the scheduled job of earlier versions
KEEPER_TICK = 1.0  # seconds between a keeper's looks at Redis
RECONCILE_LEASE_KEY = "edr-portal:reconcile-lease"


def scheduler_lease_seconds() -> int:
    """How long a keeper holds the `ksc` schedule: a killed holder's duty passes on this soon."""
    return max(2, min(10, settings.RECONCILE_INTERVAL // 2))


def keeper_beat() -> dict[str, int]:
    """One beat of the cluster's periodic duties, run by whichever keeper wins the reconcile lease.

    Every duty registered with ``@duties.every_beat`` (the reconciler, the audit chains' anchor,
    expired sessions and previewed IOC archives deleted...), then every ``@duties.periodic`` job put
    back in the schedule when Redis lost it (within RECONCILE_INTERVAL, with nothing restarted).
    A duty's error is logged and the beat goes on, except for those registered with
    ``raise_errors`` (the reconciler): its error ends the beat, as the keeper's tick reports.
    Answers the counts the duties answered (the reconciler's), merged.
    """
    counts: dict[str, int] = {}
    for duty in list(duties.BEAT.values()):
        try:
            answer = duty.func()
        except Exception:
            if duty.raise_errors:
                raise
            log.exception("keeper: the duty %s failed; it runs again at the next beat", duty.name)
            continue
        if isinstance(answer, dict):
            counts.update(answer)
    duties.schedule_all()
    return counts


class Keeper:
    """Runs the beat duties (the reconciler...) every RECONCILE_INTERVAL and moves due retries to the queue.

    Every worker process runs one (a thread), and so may a dedicated
    `manage.py reconcile_requests --loop`; whichever is alive does the work:

    - the reconciler: whoever first sets a Redis key that expires after
      RECONCILE_INTERVAL runs it, so the cluster runs it once per interval.
      When Redis comes back empty the key is gone and the next tick (within a
      second) runs it: requests approved during the outage are queued then.
    - the schedule (retries waiting out their backoff): the keeper holding
      RQ's own scheduler lock for the queue, with a lease of a few seconds
      renewed every tick, moves due jobs; when it is killed, the lease expires
      and another keeper takes over. Each job leaves the schedule by one ZREM,
      so two movers can never queue it twice.

    Nothing lives only in Redis: a flush loses the lease keys, not the duty.
    """

    def __init__(self, queue_names: list[str] | None = None, name: str | None = None):
        self.queue_names = queue_names or [duties.DUTY_QUEUE]
        self.name = name or f"portal-keeper:{socket.gethostname()}:{os.getpid()}:{uuid_module.uuid4().hex[:8]}"
        self.redis_down_since: float | None = None

    def tick(self) -> dict[str, int] | None:
        """One look: move due retries, and reconcile if this keeper's turn came. The counts when it did."""
        connection = django_rq.get_queue(self.queue_names[0]).connection
        try:
            for name in self.queue_names:
                self._move_due_jobs(django_rq.get_queue(name))
            counts = None
            if connection.set(RECONCILE_LEASE_KEY, self.name, nx=True, ex=settings.RECONCILE_INTERVAL):
                drop_unusable_connections()
                counts = keeper_beat()
                if any(counts.values()):
                    log.info("reconciler: %s", counts)
        except RedisError as exc:
            if self.redis_down_since is None:
                self.redis_down_since = time.monotonic()
                log.warning("keeper: Redis is not reachable (%s); retrying every second", exc)
            return None
        if self.redis_down_since is not None:
            log.warning("keeper: Redis answers again after %.0f s", time.monotonic() - self.redis_down_since)
            self.redis_down_since = None
        return counts

    def _move_due_jobs(self, queue) -> int:
        lock = RQScheduler.get_locking_key(queue.name)
        if acquire_or_refresh_lock(queue.connection, lock, self.name, scheduler_lease_seconds()) == "taken":
            return 0  # another keeper (or RQ's own scheduler) has the schedule
        registry = queue.scheduled_job_registry
        moved = 0
        for job_id in registry.get_jobs_to_schedule(int(time.time())):
            if not queue.connection.zrem(registry.key, job_id):
                continue  # another mover got it first
            try:
                job = Job.fetch(job_id, connection=queue.connection)
            except NoSuchJobError:
                continue
            queue._enqueue_job(job, at_front=job.should_enqueue_at_front())
            moved += 1
        for duty in [duty for duty in list(duties.TICK.values()) if duty.queue == queue.name]:
            # e.g. the tries the database schedules (settle, back-off, pending update): due by its clock.
            drop_unusable_connections()
            try:
                moved += duty.func(queue) or 0
            except DatabaseError as exc:
                log.warning("keeper: the duty %s could not read the database: %s", duty.name, exc)
        return moved

    def release(self) -> None:
        for name in self.queue_names:
            queue = django_rq.get_queue(name)
            with contextlib.suppress(RedisError):
                release_lock(queue.connection, RQScheduler.get_locking_key(name), self.name)

    def run(self, stop: threading.Event) -> None:
        """Tick every second until stop is set; nothing but stop ends it."""
        _delete_legacy_reconciler_job()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a database fault or a bug: log it and keep the duty
                log.exception("keeper: the tick failed")
            stop.wait(KEEPER_TICK)
        self.release()

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="portal-keeper", daemon=True)
        thread.start()
        return thread, stop


def _delete_legacy_reconciler_job() -> None:
    """Earlier versions kept the reconciler as a scheduled RQ job; the keeper replaces it."""
    with contextlib.suppress(Exception):
        Job.fetch(LEGACY_RECONCILE_JOB_ID, connection=django_rq.get_queue(duties.DUTY_QUEUE).connection).delete()


def drop_unusable_connections() -> None:
    """Between jobs: keep a healthy database connection, close a broken one (the next query reconnects).

    Django's close_old_connections() would close every connection after every job
    when CONN_MAX_AGE is 0, and a new PostgreSQL connection per job costs more
    than the job's own queries.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
            connection.close()
