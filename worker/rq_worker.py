"""The portal's RQ worker class (settings.RQ's WORKER_CLASS): one process for all jobs, a keeper thread,
short heartbeats, and Redis outages waited out."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from redis.exceptions import ClusterDownError, OutOfMemoryError, ReadOnlyError, RedisError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.worker import DequeueStrategy, WorkerStatus

from worker.keeper import Keeper, drop_unusable_connections

log = logging.getLogger(__name__)

# Redis errors that a healthy Redis later clears, so a worker waits them out instead of exiting
# (RQ's work loop quits on any error it does not know): unreachable or slow (connection, timeout,
# LOADING), refusing writes (MISCONF: a failed RDB save with stop-writes-on-bgsave-error, as on a
# full disk; READONLY: a replica after a Sentinel failover; NOREPLICAS: min-replicas-to-write;
# OOM: maxmemory), and busy or in transition (BUSY: a long script; MASTERDOWN, TRYAGAIN,
# CLUSTERDOWN; UNBLOCKED: a blocking pop ended because the server became a replica).
REDIS_LOST = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OutOfMemoryError, TryAgainError, ClusterDownError)
REDIS_PASSING_CODES = ("MISCONF", "READONLY", "NOREPLICAS", "OOM", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                       "UNBLOCKED", "LOADING")  # fmt: skip


def redis_lost(exc: BaseException) -> bool:
    """Whether exc is a Redis error that passes with time (REDIS_LOST above): wait and try again.

    MISCONF, NOREPLICAS, BUSY and UNBLOCKED come as plain ResponseErrors named by their first
    word; from inside a Lua script (RQ's locks) the code follows other words, hence the search.
    """
    if isinstance(exc, REDIS_LOST):
        return True
    if not isinstance(exc, ResponseError):
        return False
    text = str(exc)
    return text.split(" ", 1)[0] in REDIS_PASSING_CODES or any(
        f"{code} " in text for code in ("MISCONF", "READONLY", "NOREPLICAS", "OOM command")
    )


class PortalWorker(SimpleWorker):
    """The `ksc` worker: runs jobs in its own process, so one KSC session serves every job.

    RQ 3's default worker starts a fresh Python process per job; that would log
    in to KSC for every request. Database connections are checked between jobs
    and kept while healthy.

    Liveness: every heartbeat while a job runs, RQ's own included, keeps the
    worker's Redis key for WORKER_HEARTBEAT_TTL seconds only (RQ alone would
    keep it for the job timeout plus a minute), and a thread renews it every
    third of that. A SIGKILLed worker's key is gone within WORKER_HEARTBEAT_TTL,
    and the reconciler then queues its request again.

    Redis outages: the worker waits and reconnects instead of exiting. A job
    whose bookkeeping Redis lost is marked failed in RQ once Redis is back; the
    request row, which already holds the truth, is then taken up by the reconciler.

    Not burst mode: the worker runs a Keeper thread (reconciler and schedule),
    and never RQ's separate scheduler process, which dies with the worker and
    is only replaced every ten minutes.
    """

    keeper: Keeper | None = None

    def work(self, burst: bool = False, *args, with_scheduler: bool = False, **kwargs):
        # One worker on `ksc notify` takes its queues in turn: with thousands of submissions
        # waiting, an "approval needed" e-mail waits for one submission, not for all of them
        # (RQ's default always empties the first queue first), and a mail server that hangs
        # delays every other submission by one message at most.
        if len(self.queues) > 1 and kwargs.get("dequeue_strategy") in (None, DequeueStrategy.DEFAULT):
            kwargs["dequeue_strategy"] = DequeueStrategy.ROUND_ROBIN
        stop = None
        if not burst:
            with_scheduler = False  # the keeper schedules; see the class docstring
            self.keeper = Keeper([queue.name for queue in self.queues])
            _thread, stop = self.keeper.start_thread()
        try:
            return super().work(burst, *args, with_scheduler=with_scheduler, **kwargs)
        finally:
            if stop is not None:
                stop.set()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # RQ calls this for the worker key and the execution whenever it beats during a job
        # (prepare_job_execution among others): short, so that a killed worker is soon known dead.
        return settings.WORKER_HEARTBEAT_TTL

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        return self._while_redis_is_down(lambda: super(PortalWorker, self).heartbeat(timeout))

    def check_for_suspension(self, burst: bool):
        return self._while_redis_is_down(lambda: super(PortalWorker, self).check_for_suspension(burst))

    def run_maintenance_tasks(self):
        try:
            super().run_maintenance_tasks()
        except RedisError as exc:
            if not redis_lost(exc):
                raise
            log.warning("worker maintenance skipped, Redis is not usable: %s", exc)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        # RQ's own loop here waits out only connection errors; a Redis refusing writes (MISCONF,
        # READONLY, UNBLOCKED after a failover...) would end the worker ("unhandled exception").
        return self._while_redis_is_down(
            lambda: super(PortalWorker, self).dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        )

    def _while_redis_is_down(self, call):
        """Run call; while Redis does not answer or refuses writes (redis_lost), wait (up to 5 s) and run it again."""
        wait = 0.5
        while True:
            try:
                return call()
            except RedisError as exc:
                if not redis_lost(exc):
                    raise
                if self._stop_requested:
                    raise StopRequested() from None
                log.warning("worker %s: Redis is not usable (%s); retrying in %.1f s", self.name, exc, wait)
                time.sleep(wait)
                wait = min(wait * 2, 5.0)

    def execute_job(self, job, queue):
        drop_unusable_connections()
        ttl = settings.WORKER_HEARTBEAT_TTL
        stop = threading.Event()
        current: dict[str, Execution] = {}

        def beat() -> None:
            while True:
                try:
                    with self.connection.pipeline() as pipeline:
                        super(PortalWorker, self).heartbeat(ttl, pipeline=pipeline)
                        if "execution" in current:
                            current["execution"].heartbeat(job.started_job_registry, ttl, pipeline=pipeline)
                        pipeline.execute()
                except RedisError as exc:
                    log.warning("worker heartbeat failed: %s", exc)
                if stop.wait(max(ttl / 3, 0.2)):
                    return

        heart = threading.Thread(target=beat, name="portal-worker-heartbeat", daemon=True)
        heart.start()
        try:
            execution = self._while_redis_is_down(lambda: self.prepare_execution(job))
            current["execution"] = execution
            try:
                self.perform_job(job, queue, execution)
            except RedisError as exc:
                if not redis_lost(exc):
                    raise
                log.warning("worker %s: Redis went away during job %s: %s", self.name, job.id, exc)
                self._while_redis_is_down(lambda: self._give_up_job(job, queue, execution))
            self._while_redis_is_down(lambda: self.set_state(WorkerStatus.IDLE))
        finally:
            stop.set()
            heart.join(timeout=5)
            drop_unusable_connections()

    def _give_up_job(self, job: Job, queue, execution: Execution) -> None:
        """After an outage mid-job: end RQ's record of it, so that the reconciler looks at the request."""
        try:
            job.refresh()
        except NoSuchJobError:
            return  # Redis came back empty: the reconciler finds the request without a job
        if job.get_status(refresh=False) == JobStatus.STARTED and job.worker_name == self.name:
            job.retries_left = 0  # the row decides what comes next, not RQ's retry
            self.handle_job_failure(job, queue, exc_string="Redis went away during the job", execution=execution)
