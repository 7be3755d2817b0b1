"""Whether an RQ job will still run: waiting in a queue, scheduled, or started on a living worker.

The reconciler (responses/jobs.py) and the notifications' sweep (notifications/jobs.py) ask it
before putting a job back, and a periodic duty is not scheduled again while it runs.
"""

from __future__ import annotations

import time

import django_rq
from django.conf import settings
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from rq.worker import Worker

from worker.duties import DUTY_QUEUE


def queued_job_is_stranded(job_id: str, queue, queued: set[str]) -> bool:
    """A QUEUED job that is in no queue list: a worker took it and died before starting it.

    RQ moves a job from the queue to its intermediate list, then marks it
    STARTED; a worker killed in between leaves it QUEUED and in no queue. A
    living worker takes far less than a second for that step, so the job is
    only called stranded when it is still out of the queue RECONCILE_STRANDED_WAIT
    (a second) later.
    """
    if job_id in queued:  # the queue's ids, read once per reconciler run
        return False
    time.sleep(settings.RECONCILE_STRANDED_WAIT)
    job = Job.fetch(job_id, connection=queue.connection)
    if job.get_status(refresh=False) != JobStatus.QUEUED:
        return False
    return queue.connection.lpos(queue.key, job_id) is None


def job_is_alive(job_id: str, queue, queued: set[str]) -> bool:
    """Whether an RQ job will still run (waiting in the queue, scheduled, or started on a living worker)."""
    connection = queue.connection
    try:
        job = Job.fetch(job_id, connection=connection)
    except Exception:  # NoSuchJobError and unreadable jobs alike
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        try:
            return not queued_job_is_stranded(job_id, queue, queued)
        except Exception:
            return False
    if status == JobStatus.SCHEDULED:
        # A mover that died between taking it out of the schedule and queueing it leaves it SCHEDULED.
        return connection.zscore(queue.scheduled_job_registry.key, job_id) is not None
    if status == JobStatus.DEFERRED:
        return True
    if status == JobStatus.STARTED:
        worker_name = job.worker_name
        if not worker_name:
            return False
        # The worker's key lives WORKER_HEARTBEAT_TTL seconds past its last heartbeat (PortalWorker).
        return bool(connection.exists(Worker.redis_worker_namespace_prefix + worker_name))
    return False


def is_running(job_id: str, queue=None) -> bool:
    """Whether a living worker runs the job ``job_id`` now (a periodic job is then not scheduled again)."""
    connection = (queue or django_rq.get_queue(DUTY_QUEUE)).connection
    try:
        job = Job.fetch(job_id, connection=connection)
    except RedisError:
        raise
    except Exception:  # NoSuchJobError and unreadable jobs alike
        return False
    if job.get_status(refresh=False) != JobStatus.STARTED or not job.worker_name:
        return False
    return bool(connection.exists(Worker.redis_worker_namespace_prefix + job.worker_name))
