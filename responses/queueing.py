"""Putting approved requests on the submission queue, and holding them there.

Every request that enters APPROVED (workflow.entered_approved) gets its
submission job pushed to Redis after the transaction commits, and is then marked
QUEUED. When Redis refuses, the request stays APPROVED, the trail says why, and
the reconciler (responses.jobs) queues it once Redis answers again.

The job is named by its dotted path, so this module never imports the jobs that
run it: responses.jobs imports this module, not the other way round.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid as uuid_module

import django_rq
from django.conf import settings
from django.db import models, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_noop
from redis.exceptions import RedisError
from rq import Retry

from responses import submission, trail, trail_messages, workflow
from responses.models import EventKind, RequestEvent, ResponseRequest, Status

log = logging.getLogger(__name__)

QUEUE = "ksc"
SUBMIT_JOB = "responses.jobs.submit_to_ksc"  # the RQ job that submits one request


def retry_intervals() -> list[int]:
    """Seconds between tries: KSC_SUBMIT_BACKOFF doubling, KSC_SUBMIT_TRIES - 1 of them."""
    base = settings.KSC_SUBMIT_BACKOFF
    return [base * 2**index for index in range(settings.KSC_SUBMIT_TRIES - 1)]


JOB_RESULT_TTL = 600  # seconds RQ keeps a finished job (its result); the request row keeps the outcome
JOB_FAILURE_TTL = 24 * 3600  # seconds RQ keeps a failed job and its traceback


def push_job(key: uuid_module.UUID | str, *, retries_left: int | None = None) -> RedisError | None:
    """Put the submission job for a request in Redis; the error when Redis refused.

    ``retries_left``: RQ's retries the request's previous job had left (a try the
    database scheduled goes on with them); all of them when None.
    """
    job_id = str(key)
    retries = settings.KSC_SUBMIT_TRIES - 1 if retries_left is None else min(retries_left, settings.KSC_SUBMIT_TRIES - 1)
    try:
        django_rq.get_queue(QUEUE).enqueue_call(
            SUBMIT_JOB,
            args=(job_id,),
            job_id=job_id,
            # RQ takes the interval for the retries left from the end of the list
            retry=Retry(max=retries, interval=retry_intervals()) if retries > 0 else None,
            # The row, not Redis, keeps the outcome: RQ's record of a finished job goes after ten
            # minutes, a failed one after a day, so that thousands of jobs (an overload, the hourly
            # cap holding them) do not pile up in Redis for days (issue 24: 6 -> 44.5 MB).
            result_ttl=JOB_RESULT_TTL,
            failure_ttl=JOB_FAILURE_TTL,
        )
    except RedisError as exc:
        log.warning("request %s: could not queue the submission: %s", job_id, exc)
        return exc
    return None


def enqueue_submission(key: uuid_module.UUID | str) -> bool:
    """Put the submission job in Redis, then mark the request QUEUED.

    Called after the approving transaction commits. When Redis is down the
    request stays APPROVED, the failure is written to its trail, and the
    reconciler queues it once Redis answers again: nothing is lost.
    """
    error = push_job(key)
    if error is not None:
        record_enqueue_failure(key, str(error) or error.__class__.__name__)
        return False
    mark_queued(key)
    return True


@receiver(workflow.entered_approved, dispatch_uid="responses.queueing.enqueue_after_commit")
def enqueue_after_commit(sender, rr: ResponseRequest, **kwargs) -> None:
    """Queue the submission of a request that became APPROVED, once its transaction commits."""
    key = rr.uuid
    transaction.on_commit(lambda: enqueue_submission(key))


def mark_queued(key: uuid_module.UUID | str) -> bool:
    """APPROVED → QUEUED once the job is in Redis. False when the job already moved it on."""
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.APPROVED).first()
        if rr is None:
            return False
        rr.queued_at = timezone.now()
        workflow.transition(
            rr, workflow.QUEUE, actor=trail.SYSTEM, detail={"job_id": str(key)}, save=("queued_at",)
        )
    return True


def record_enqueue_failure(key: uuid_module.UUID | str, error: str) -> None:
    """Redis refused the job: the request stays APPROVED; the reconciler will queue it later."""
    with transaction.atomic():
        rr = ResponseRequest.objects.get(uuid=key)
        trail.append(
            rr,
            EventKind.ENQUEUE_FAILED,
            trail.SYSTEM,
            rr.status,
            trail_messages.say(gettext_noop("Could not queue the submission (%(error)s); it will be queued when the queue is back."), error=error),
        )


def requeue(key: uuid_module.UUID | str, reason: str) -> bool:
    """A request whose job died (worker killed, Redis lost the job): back to QUEUED for a new job.

    SUBMITTING ones go back too: the next attempt first looks in KSC for an
    incident the dead one may have created, and adopts it.
    """
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().get(uuid=key)
        if (rr.status, workflow.REQUEUE) not in workflow.TRANSITIONS:
            return False
        now = submission.database_now()
        rr.queued_at = rr.queued_at or now
        interrupted = submission.close_interrupted_attempts(rr, now)
        detail: dict | None = {"interrupted_attempts": interrupted} if interrupted else None
        if interrupted and rr.ksc_incident_id is None:
            # That attempt may have sent AddIncident: its next try waits for KSC to settle first.
            rr.next_try_at = rr.ksc_unknown_since + dt.timedelta(seconds=submission.add_settle_seconds())
            rr.wait_reason = submission.WaitReason.SETTLE
            detail["next_try_at"] = rr.next_try_at.isoformat()
        workflow.transition(
            rr,
            workflow.REQUEUE,
            actor=trail.SYSTEM,
            message=reason,
            detail=detail,
            save=("queued_at", "ksc_unknown_since", "next_try_at", "wait_reason"),
        )
    return True


def hold(key: uuid_module.UUID | str, reason: str) -> None:
    """A QUEUED request waits (the hourly cap on submissions is reached); its trail says so once."""
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.QUEUED).first()
        if rr is None:
            return
        if not is_held(key):
            trail.append(rr, EventKind.HELD, trail.SYSTEM, rr.status, reason)


def is_held(key: uuid_module.UUID | str) -> bool:
    """Whether the request's latest event is a hold by the hourly cap."""
    latest = RequestEvent.objects.filter(request__uuid=key).order_by("-seq").values_list("kind", flat=True).first()
    return latest == EventKind.HELD


def submissions_last_hour(now: dt.datetime | None = None, server: str | None = None) -> int:
    """Requests submitted to KSC in the last hour, plus those being submitted now (to ``server`` only, if named)."""
    since = (now or submission.database_now()) - dt.timedelta(hours=1)
    rows = ResponseRequest.objects.filter(models.Q(submitted_at__gte=since) | models.Q(status=Status.SUBMITTING))
    return (rows if server is None else rows.filter(server=server)).count()


def inflight_tasks(server: str) -> int:
    """Requests of ``server`` whose ``[Response]`` task is still open in KSC (submitted, outcome not final)."""
    from responses.models import OUTCOME_FINAL

    return (
        ResponseRequest.objects.filter(server=server, status=Status.SUBMITTED, outcome__closed_at__isnull=True)
        .exclude(outcome__state__in=OUTCOME_FINAL)
        .count()
    )


def host_task_load(host_ids, now: dt.datetime | None = None) -> dict[str, int]:
    """Per host: response tasks KES may still hold for it (in flight, or submitted within HOST_TASKS_WINDOW).

    KES keeps at most 100 response tasks; the portal cannot see when KES finishes
    one, so a task counts for HOST_TASKS_WINDOW seconds after its submission.
    """
    since = (now or timezone.now()) - dt.timedelta(seconds=settings.HOST_TASKS_WINDOW)
    rows = (
        ResponseRequest.objects.filter(target_host__in=list(host_ids))
        .filter(
            models.Q(status__in=[Status.APPROVED, Status.QUEUED, Status.SUBMITTING]) | models.Q(submitted_at__gte=since)
        )
        .values("target_host")
        .annotate(count=models.Count("id"))
    )
    return {row["target_host"]: row["count"] for row in rows}


# --- Requests held because KSC's certificate was refused: the alert on every page -------------

HELD_FOR_CERTIFICATE_KEY = "edr-portal:held-for-certificate"


def count_held_for_certificate() -> int:
    """How many requests wait because KSC's TLS certificate was refused (one indexed query)."""
    return ResponseRequest.objects.filter(
        status=Status.QUEUED, next_try_at__isnull=False, wait_reason=submission.WaitReason.TLS
    ).count()


def note_held_for_certificate(count: int) -> None:
    """Tell every page how many requests are held for KSC's certificate (0: none; the banner goes).

    Kept in Redis, not asked of the database on each page: the worker and the keeper set it
    when they hold a request or look at the certificate again (every RECONCILE_INTERVAL), and it
    expires after three intervals without a look.
    """
    connection = django_rq.get_queue(QUEUE).connection
    try:
        if count:
            connection.set(HELD_FOR_CERTIFICATE_KEY, count, ex=max(3 * settings.RECONCILE_INTERVAL, 60))
        else:
            connection.delete(HELD_FOR_CERTIFICATE_KEY)
    except RedisError as exc:
        log.warning("could not note the requests held for KSC's certificate: %s", exc)


def held_for_certificate() -> int:
    """The count note_held_for_certificate() left (0 when none, or when Redis does not answer)."""
    try:
        value = django_rq.get_queue(QUEUE).connection.get(HELD_FOR_CERTIFICATE_KEY)
    except RedisError:
        return 0
    try:
        return int(value or 0)
    except ValueError:
        return 0
