"""RQ jobs: submitting approved requests to KSC, and keeping the queue honest.

The request row is the source of truth; its UUID is the RQ job id, and the
worker reloads everything from the row (STYLE.md, after NetBox).
"""

from __future__ import annotations

import logging
import uuid as uuid_module

import django_rq
from redis.exceptions import RedisError

from responses import workflow

log = logging.getLogger(__name__)

QUEUE = "ksc"


def enqueue_submission(key: uuid_module.UUID | str) -> bool:
    """Put the submission job in Redis, then mark the request QUEUED.

    Called after the approving transaction commits. When Redis is down the
    request stays APPROVED, the failure is written to its trail, and the
    reconciler queues it once Redis answers again: nothing is lost.
    """
    job_id = str(key)
    try:
        django_rq.get_queue(QUEUE).enqueue_call(submit_to_ksc, args=(job_id,), job_id=job_id)
    except RedisError as exc:
        log.warning("request %s: could not queue the submission: %s", job_id, exc)
        workflow.record_enqueue_failure(key, str(exc) or exc.__class__.__name__)
        return False
    workflow.mark_queued(key)
    return True


def submit_to_ksc(key: str) -> None:
    raise NotImplementedError("the submission job is built in the next step")
