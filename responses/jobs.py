"""RQ jobs: submitting approved requests to KSC exactly once, and keeping the queue honest.

The request row is the source of truth; its UUID is the RQ job id, and the
worker reloads everything from the row (after NetBox). What makes
"one request, at most one KSC incident" hold:

1. ``submission.claim_for_submission`` lets exactly one job move a request to
   SUBMITTING (row lock), and fixes KLINCDT_ADDED before the first attempt.
2. The incident id is stored the moment AddIncident answers.
3. Any later attempt first asks KSC (FindIncidents) for an incident with the
   same host, KLINCDT_ADDED and body, and adopts it instead of adding another.
4. A slow KSC may carry out an AddIncident after the portal gave up on it. After
   such an outcome-unknown failure, no new AddIncident goes out until
   KSC_ADD_SETTLE has passed since the failure (then: look, adopt or add); and a
   settle period after the request's success, check_late_duplicates() looks once
   more and deletes any late copy (DeleteIncident), saying so in the trail.
5. A request that FAILED while KSC may hold its incident says so, and the
   reconciler looks for it (search_unknown_outcomes) for KSC_UNKNOWN_OUTCOME_SEARCH
   and adopts it when it shows up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid as uuid_module
from collections.abc import Callable
from importlib import import_module
from typing import Any

import django_rq
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connections
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Now
from django.utils.translation import gettext as _
from redis.exceptions import ClusterDownError, OutOfMemoryError, ReadOnlyError, RedisError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, get_current_job
from rq.exceptions import NoSuchJobError, StopRequested
from rq.executions import Execution
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.scripts import acquire_or_refresh_lock, release_lock
from rq.worker import DequeueStrategy, Worker, WorkerStatus

from ksc_client.errors import KscError, KscTlsError
from responses import (
    audit_chain,
    ioc_store,
    ksc_servers,
    payload,
    queueing,
    server_state,
    submission,
    trail,
    workflow,
)
from responses.ksc_servers import get_client
from responses.models import IN_FLIGHT, EventKind, RequestEvent, ResponseRequest, Status
from responses.states import PRIMARY_SERVER

log = logging.getLogger(__name__)

QUEUE = queueing.QUEUE
LEGACY_RECONCILE_JOB_ID = "portal-reconcile-requests"  # the scheduled job of earlier versions


def _is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def _internal_error_text(exc: Exception, incident_id: int | None) -> str:
    """What an analyst and an auditor read when the portal itself failed an attempt (never a bare class name)."""
    if isinstance(exc, IntegrityError) and incident_id is not None:
        return trail.in_english(
            lambda: _(
                "KSC answered with incident id %(id)s, which this portal already holds for another request: "
                "check KSC (a KSC database restored from a backup, or another portal using the same server)."
            )
            % {"id": incident_id}
        )
    if isinstance(exc, DatabaseError):
        return trail.in_english(
            lambda: _("The portal's database failed during the attempt (%(error)s); it is tried again.")
            % {"error": exc.__class__.__name__}
        )
    return trail.in_english(
        lambda: _(
            "An unexpected error in the portal (%(error)s); the administrators find the details in the worker's log."
        )
        % {"error": exc.__class__.__name__}
    )


def _next_interval() -> int | None:
    job = get_current_job()
    if job is None or not job.retries_left:
        return None
    return job.get_retry_interval()


def _settled_at(rr: ResponseRequest) -> dt.datetime | None:
    """When KSC has had KSC_ADD_SETTLE since this request's last outcome-unknown failure, if that is
    still ahead (by the database's clock, and never further than KSC_ADD_SETTLE: a clock step cannot
    make a request wait longer); None when adding may go ahead now."""
    if rr.ksc_unknown_since is None:
        return None
    settle = dt.timedelta(seconds=submission.add_settle_seconds())
    now = submission.database_now()
    settled_at = min(rr.ksc_unknown_since + settle, now + settle)
    return settled_at if settled_at > now else None


def _server_entry(server: str):
    """The KSC_SERVERS entry named ``server`` (its caps), or None (the KSC_* server, or one no longer listed)."""
    return next((entry for entry in getattr(settings, "KSC_SERVERS", []) if entry.name == server), None)


def _hourly_cap(server: str | None) -> int:
    """The server's ``hourly_cap`` from the servers file, else KSC_SUBMIT_HOURLY_CAP (0: none)."""
    entry = _server_entry(server) if server else None
    if entry is not None and entry.hourly_cap is not None:
        return entry.hourly_cap
    return settings.KSC_SUBMIT_HOURLY_CAP


def _per_server_caps() -> bool:
    """Whether the caps count per server (several servers configured) or for the one server."""
    return len(ksc_servers.server_names()) > 1


def _over_hourly_cap(server: str | None = None) -> bool:
    cap = _hourly_cap(server)
    counted = server if _per_server_caps() else None
    return bool(cap) and queueing.submissions_last_hour(server=counted) >= cap


def _room_under_hourly_cap(server: str | None = None) -> float:
    """How many more submissions the hourly cap (of ``server``) allows now (infinite without a cap)."""
    cap = _hourly_cap(server)
    counted = server if _per_server_caps() else None
    return cap - queueing.submissions_last_hour(server=counted) if cap else float("inf")


def _over_inflight_tasks(server: str) -> int | None:
    """The server's ``inflight_tasks`` when its open [Response] tasks have reached it (KES keeps at most 100)."""
    entry = _server_entry(server)
    if entry is None or not entry.inflight_tasks:
        return None
    return entry.inflight_tasks if queueing.inflight_tasks(server) >= entry.inflight_tasks else None


def submit_to_ksc(key: str) -> str:
    """Submit one approved request: AddIncident, keep the id, UpdateIncident, mark SUBMITTED."""
    server = ResponseRequest.objects.filter(uuid=key).values_list("server", flat=True).first() or PRIMARY_SERVER
    if _over_hourly_cap(server):
        # Bounding the blast radius: the request waits, QUEUED, and the reconciler sends it
        # on once the last hour's submissions (to its server) are under the cap again.
        queueing.hold(
            key,
            _(
                "Held back: %(cap)d requests were submitted to KSC server %(server)s in the last hour "
                "(its hourly_cap, or KSC_SUBMIT_HOURLY_CAP)."
            )
            % {"cap": _hourly_cap(server), "server": server},
        )
        log.warning("request %s: held back by the hourly cap of server %s", key, server)
        return "held"
    limit = _over_inflight_tasks(server)
    if limit is not None:
        queueing.hold(
            key,
            _("Held back: %(limit)d [Response] tasks are still open on KSC server %(server)s (its inflight_tasks).")
            % {"limit": limit, "server": server},
        )
        log.warning("request %s: held back by the in-flight task limit of server %s", key, server)
        return "held"
    later = submission.not_due_until(key)
    if later is not None:
        # An RQ retry that came before the request's own time (the settle period after an
        # outcome-unknown AddIncident is longer than the back-off): the keeper queues it then.
        log.info("request %s: its next try is due at %s; not before", key, later.isoformat())
        return "waiting"
    try:
        claim = submission.claim_for_submission(key)
    except (workflow.ContentChanged, workflow.NotApproved) as exc:
        # FAILED already, with the reason in its trail; never sent, never retried by RQ.
        log.error("request %s: refused: %s", key, exc)
        return "refused"
    if claim is None:
        # Another job holds it, or it is already submitted/cancelled: nothing to do, by design.
        log.info("request %s: not claimable, skipped", key)
        return "skipped"
    rr, attempt = claim
    last_try = _is_last_try()
    adopted = False
    # Set while an AddIncident has gone out whose incident id is not yet kept: a failure
    # then leaves the outcome unknown (KSC may create the incident all the same).
    add_pending = False
    incident_id = rr.ksc_incident_id
    try:
        # The request's own server: one down never stops the others. None configured: the default's error.
        client = ksc_servers.client_for(rr.server) if ksc_servers.server_names() else get_client()
        body = payload.build_body(rr.task, rr.target_host, rr.params)
        if incident_id is None and rr.attempts > 1:
            # An earlier attempt may have reached KSC and been cut off before we kept the id.
            incident_id = client.find_incident(rr.target_host, rr.ksc_added, body)
            settled_at = _settled_at(rr) if incident_id is None else None
            if settled_at is not None:
                # A slow KSC may still be creating the incident an earlier attempt asked for: give it
                # KSC_ADD_SETTLE since that failure, then look again before adding. The worker does
                # not sleep on it: the request waits, QUEUED, and the keeper queues it at that time.
                submission.submission_failed(
                    key,
                    attempt,
                    trail.in_english(
                        lambda: _(
                            "An earlier attempt's AddIncident may still be carried out by KSC: waiting before "
                            "adding, so that KSC does not get a duplicate."
                        )
                    ),
                    will_retry=True,
                    wait_until=settled_at,
                    reason=submission.WaitReason.SETTLE,
                )
                log.info("request %s: waiting until %s for KSC to settle before adding", key, settled_at.isoformat())
                return "waiting"
            if incident_id is not None:
                adopted = True
                submission.record_incident(key, incident_id, adopted=True)
        if incident_id is None:
            data = payload.add_incident_data(rr.task, rr.target_host, rr.params, rr.ksc_added)
            add_pending = True
            incident_id = client.add_incident(data)
            submission.record_incident(key, incident_id)
            add_pending = False
        client.update_incident(incident_id, payload.update_incident_data(rr.target_host))
    except (ksc_servers.UnknownServer, ImproperlyConfigured) as exc:
        # The request's server is no longer configured (or its password file cannot be read): nothing
        # went out. FAILED, with the reason; an approver retries once the server is back in the file.
        submission.submission_failed(key, attempt, f"KSC server {rr.server!r}: {exc}", will_retry=False)
        log.error("request %s: its KSC server %s cannot be used: %s", key, rr.server, exc)
        return "failed"
    except KscTlsError as exc:
        # The handshake failed, so nothing went out: hold the request until the certificate verifies.
        submission.hold_for_certificate(key, attempt, str(exc))
        queueing.note_held_for_certificate(queueing.count_held_for_certificate())
        log.error(
            "request %s: held back, KSC's TLS certificate was refused (%s); it goes on once the certificate "
            "verifies. Check KSC_CERT.",
            key,
            exc,
        )
        return "held"
    except KscError as exc:
        server_state.trouble(rr.server, exc)
        kept = incident_id is not None and not add_pending  # KSC holds the incident, and we keep its id
        return _attempt_failed(key, attempt, exc, last_try=last_try, add_pending=add_pending, kept=kept)
    except Exception as exc:
        # A bug or a database fault: never leave the request stuck in SUBMITTING.
        log.exception("request %s: attempt %d failed inside the portal", key, attempt.number)
        retrying = submission.submission_failed(
            key,
            attempt,
            _internal_error_text(exc, incident_id if add_pending else None),
            will_retry=not last_try,
            retry_in=_next_interval(),
            # e.g. the database failed after AddIncident answered: KSC has an incident we did not keep
            outcome_unknown=add_pending,
        )
        if retrying and last_try:
            return "waiting"  # the incident is kept: its update waits for the database-scheduled try
        raise
    submission.submission_succeeded(key, attempt, incident_id, adopted=adopted)
    server_state.contact(rr.server, login=True)
    log.info("request %s: submitted as KSC incident %s", key, incident_id)
    return "submitted"


def _attempt_failed(key: str, attempt, exc: KscError, *, last_try: bool, add_pending: bool, kept: bool) -> str:
    """A KSC error ended the attempt: RQ's retry after the back-off, a database-scheduled try, or FAILED.

    ``kept``: the incident id is kept, so only UpdateIncident is left: any error is tried again.
    """
    retry = (exc.retryable or kept) and not last_try
    retrying = submission.submission_failed(
        key,
        attempt,
        str(exc),
        will_retry=retry,
        code=getattr(exc, "code", None),
        retry_in=_next_interval() if retry else None,
        outcome_unknown=add_pending and exc.outcome_unknown,
    )
    log.warning("request %s: attempt %d failed: %s", key, attempt.number, exc)
    if retry:
        raise exc  # RQ's Retry runs the job again after the backoff
    if retrying:
        # The incident exists in KSC: never FAILED; its UpdateIncident is tried again from the database.
        return "waiting"
    return "failed"


# --- Tries scheduled in the database ---------------------------------------------------------


def _certificate_verifies(server: str | None = None) -> bool:
    """Whether the TLS certificate of KSC (server ``server``) is accepted now (a login); other KSC trouble is
    the jobs' to handle."""
    client = _ksc_client_or_none(server)
    if client is None:
        return False
    try:
        client.login()
    except KscTlsError:
        return False
    except KscError:
        return True
    return True


def queue_due_tries(queue=None) -> int:
    """Queue every QUEUED request whose next try is due by the database's clock; how many were queued.

    The database holds each waiting request's time (next_try_at): the settle period
    after an outcome-unknown AddIncident, the back-off after KSC was unreachable, an
    UpdateIncident still to make, a certificate refused. A retry RQ holds in its
    schedule (by the local clock, which may step) is taken from there and queued; a
    job that ended waiting is queued afresh with the RQ tries it had left. A time
    further ahead than its setting allows is a clock step and counts as due. Requests
    held for KSC's certificate go on once a login verifies it.
    """
    queue = queue or django_rq.get_queue(QUEUE)
    now = Now()
    horizon = Now() + dt.timedelta(seconds=submission.longest_wait_of_all())
    due = list(
        ResponseRequest.objects.filter(status=Status.QUEUED, next_try_at__isnull=False)
        .filter(Q(next_try_at__lte=now) | Q(next_try_at__gt=horizon) & ~Q(wait_reason=submission.WaitReason.TLS))
        .order_by("next_try_at")
        .values_list("uuid", "next_try_at", "wait_reason", "server")[:500]
    )
    if not due:
        return 0
    verified: dict[str, bool] = {}  # per server: one server's certificate says nothing of another's
    queued = 0
    held_servers = {server for _key, _at, reason, server in due if reason == submission.WaitReason.TLS}
    if held_servers:
        verified = {server: _certificate_verifies(server) for server in sorted(held_servers)}
        # Every page's banner: how many stay held (none once the certificates verify).
        queueing.note_held_for_certificate(0 if all(verified.values()) else queueing.count_held_for_certificate())
    for key, at, reason, server in due:
        if reason == submission.WaitReason.TLS:
            if not verified.get(server):
                ResponseRequest.objects.filter(uuid=key, next_try_at=at).update(
                    next_try_at=submission.database_now() + dt.timedelta(seconds=submission.update_retry_seconds())
                )
                continue
            log.warning("request %s: KSC's certificate verifies again; the held request goes on", key)
        if not ResponseRequest.objects.filter(uuid=key, status=Status.QUEUED, next_try_at=at).update(
            next_try_at=None
        ):
            continue  # another keeper, or its job, got there first
        if _queue_now(str(key), queue):
            queued += 1
    return queued


def _queue_now(job_id: str, queue) -> bool:
    """Put the request's job in the queue now: from RQ's schedule, afresh, or not at all when it runs."""
    connection = queue.connection
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        job = None
    status = job.get_status(refresh=False) if job is not None else None
    if status == JobStatus.SCHEDULED:
        if connection.zrem(queue.scheduled_job_registry.key, job_id):
            queue._enqueue_job(job, at_front=job.should_enqueue_at_front())
            return True
        return False  # the schedule's mover took it at this moment
    if status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED) and _job_is_alive(
        job_id, queue, set(queue.get_job_ids())
    ):
        return False
    retries_left = job.retries_left if job is not None else None
    return queueing.push_job(job_id, retries_left=retries_left) is None


# --- Reconciliation -----------------------------------------------------------------------


def _queued_job_is_stranded(job_id: str, queue, queued: set[str]) -> bool:
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


def _job_is_alive(job_id: str, queue, queued: set[str]) -> bool:
    """Whether an RQ job will still run (waiting in the queue, scheduled, or started on a living worker)."""
    connection = queue.connection
    try:
        job = Job.fetch(job_id, connection=connection)
    except Exception:  # NoSuchJobError and unreadable jobs alike
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        try:
            return not _queued_job_is_stranded(job_id, queue, queued)
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


def reconcile(grace_seconds: int | None = None) -> dict[str, int]:
    """Queue every in-flight request that has no live job; expire overdue approvals.

    APPROVED with no job (Redis was down at approval): enqueue. QUEUED or
    SUBMITTING whose job is gone or whose worker died: back to QUEUED with a
    new job; its next attempt adopts any incident the dead one created.

    Requests changed less than the grace ago are left to their job, except an
    APPROVED one whose enqueue already failed: nothing else will queue it.
    """
    grace = settings.RECONCILE_GRACE if grace_seconds is None else grace_seconds
    counts = {"expired": workflow.expire_overdue(), "enqueued": 0, "requeued": 0, "released": 0}
    counts["due"] = queue_due_tries()
    counts["found"] = search_unknown_outcomes()
    counts["duplicates_removed"] = check_late_duplicates()["removed"]
    queue = django_rq.get_queue(QUEUE)
    cutoff = submission.database_now() - dt.timedelta(seconds=grace)
    enqueue_failed = RequestEvent.objects.filter(request=OuterRef("pk"), kind=EventKind.ENQUEUE_FAILED)
    # Whether each request is held by the hourly cap (its latest event), in the same one query:
    # under overload thousands are held, and asking per request (event, cap, job, intermediate
    # list) made one run take most of RECONCILE_INTERVAL.
    latest_kind = RequestEvent.objects.filter(request=OuterRef("pk")).order_by("-seq").values("kind")[:1]
    stale = (
        ResponseRequest.objects.filter(status__in=IN_FLIGHT)
        .filter(Q(updated_at__lte=cutoff) | Q(status=Status.APPROVED) & Exists(enqueue_failed))
        .exclude(status=Status.QUEUED, next_try_at__isnull=False)  # waiting: queue_due_tries queues it when due
        .annotate(latest_kind=Subquery(latest_kind))
        .order_by("approved_at", "pk")  # held ones go on in the order they were approved
        .values_list("uuid", "status", "latest_kind", "server")
    )
    stale = list(stale)
    queued = set(queue.get_job_ids()) if stale else set()
    # Submissions each server's hourly cap still allows, counted once per run when a held request asks.
    rooms: dict[str, float] = {}
    for key, status, latest, server in stale:
        held = status == Status.QUEUED and latest == EventKind.HELD
        if held:
            if server not in rooms:
                rooms[server] = _room_under_hourly_cap(server)
            if rooms[server] <= 0:
                continue  # no Redis call, no query: it waits for the next run
            rooms[server] -= 1  # released now, or released earlier and its job waits: either way it takes a place
        if _job_is_alive(str(key), queue, queued):
            continue
        # A job a dead worker left in RQ's intermediate list must not run a second time from there.
        queue.connection.lrem(IntermediateQueue(queue.key, connection=queue.connection).key, 0, str(key))
        if status == Status.APPROVED:
            if queueing.enqueue_submission(key):
                counts["enqueued"] += 1
        elif held:
            # Held by the hourly cap: a new job when there is room again, without a line per minute.
            if queueing.push_job(key) is None:
                counts["released"] += 1
        elif queueing.requeue(key, "The submission job was lost (worker stopped or queue emptied); queued again."):
            if ResponseRequest.objects.filter(uuid=key, next_try_at__isnull=False).exists():
                counts["requeued"] += 1  # it waits for KSC to settle: queue_due_tries queues it then
            elif queueing.push_job(key) is None:
                counts["requeued"] += 1
    return counts


def _ksc_client_or_none(server: str | None = None):
    """The process's client of ``server`` (the default one for None), or None (logged) when it is not
    configured: the sweeps then wait for that server, and go on with the others."""
    try:
        return get_client() if server is None or not ksc_servers.server_names() else ksc_servers.client_for(server)
    except (ImproperlyConfigured, ksc_servers.UnknownServer) as exc:
        log.warning("cannot look in KSC%s: %s", f" server {server}" if server else "", exc)
        return None


def search_unknown_outcomes(now: dt.datetime | None = None) -> int:
    """Look in KSC for the incident of every request that FAILED with an unknown outcome.

    Found: the request goes on to adopt it (submission.found_in_ksc). Past
    KSC_UNKNOWN_OUTCOME_SEARCH seconds after it failed, the search ends and the
    trail says so. Returns how many were found.
    """
    now = now or submission.database_now()
    window = dt.timedelta(seconds=settings.KSC_UNKNOWN_OUTCOME_SEARCH)
    candidates = list(
        ResponseRequest.objects.filter(
            status=Status.FAILED, ksc_incident_id__isnull=True, ksc_unknown_since__isnull=False
        ).order_by("finished_at")
    )
    if not candidates:
        return 0
    clients: dict[str, Any] = {}  # per server; None: that server is not configured now
    found = 0
    for rr in candidates:
        failed_at = rr.finished_at or rr.ksc_unknown_since
        if failed_at + window <= now:
            submission.stop_searching(rr.uuid, window.total_seconds() / 3600)
            continue
        if rr.server not in clients:
            clients[rr.server] = _ksc_client_or_none(rr.server)
        client = clients[rr.server]
        if client is None:
            continue  # that server waits; the others' requests are still looked for
        body = payload.build_body(rr.task, rr.target_host, rr.params)
        try:
            incident_id = client.find_incident(rr.target_host, rr.ksc_added, body)
        except KscError as exc:
            log.warning("request %s: could not look for its incident in KSC: %s", rr.uuid, exc)
            continue
        if (
            incident_id is not None
            and ResponseRequest.objects.filter(server=rr.server, ksc_incident_id=incident_id).exists()
        ):
            # KSC handed out an id the portal already keeps for another request (a KSC that lost
            # its state): adopting it would fail on the same constraint again and again.
            log.error(
                "request %s: KSC holds its incident as %s, an id already kept for another request; "
                "not adopted, check KSC by hand",
                rr.uuid,
                incident_id,
            )
            continue
        if incident_id is not None and submission.found_in_ksc(rr.uuid, incident_id):
            found += 1
            log.warning("request %s: KSC holds incident %s after all; adopting it", rr.uuid, incident_id)
    return found


def check_late_duplicates(now: dt.datetime | None = None) -> dict[str, int]:
    """Look once more in KSC for requests whose duplicate check is due, and remove late copies.

    A request that succeeded after an outcome-unknown failure gets this check a
    settle period later (ResponseRequest.ksc_recheck_at): a slow KSC may have
    carried out the earlier AddIncident after all. The incident the portal
    recorded is kept; every other incident with the request's host,
    KLINCDT_ADDED and body is deleted (HostGroup.DeleteIncident). Every id and
    the outcome go to the request's trail; a failed deletion is an error there
    and in the log. When KSC cannot be asked, the check is due again a settle
    period later.

    Independent of the reconciler (which calls it on every run): any sweep may call it.
    Returns counts: checked, removed (incidents deleted), failed (deletions refused).
    """
    now = now or submission.database_now()
    counts = {"checked": 0, "removed": 0, "failed": 0}
    due = list(
        ResponseRequest.objects.filter(ksc_recheck_at__lte=now, ksc_incident_id__isnull=False).values_list(
            "uuid", "server"
        )
    )
    if not due:
        return counts
    clients: dict[str, Any] = {}  # per server: each request is checked on its own server
    for key, server in due:
        if server not in clients:
            clients[server] = _ksc_client_or_none(server)
        client = clients[server]
        if client is None:
            continue  # its server is not configured now: due again at the next run
        if not submission.take_duplicate_check(key, now):
            continue  # another sweep took it
        rr = ResponseRequest.objects.get(uuid=key)
        body = payload.build_body(rr.task, rr.target_host, rr.params)
        try:
            found = client.matching_incidents(rr.target_host, rr.ksc_added, body)
        except KscError as exc:
            log.warning("request %s: the duplicate check could not ask KSC (%s); trying again later", key, exc)
            submission.postpone_duplicate_check(key, submission.database_now() + dt.timedelta(seconds=submission.add_settle_seconds()))
            continue
        kept = rr.ksc_incident_id
        removed: list[int] = []
        failed: dict[int, str] = {}
        if kept in found:  # never delete anything when KSC does not show the incident we recorded
            for incident_id in found:
                if incident_id == kept:
                    continue
                try:
                    client.delete_incident(incident_id)
                except KscError as exc:
                    failed[incident_id] = str(exc)
                else:
                    removed.append(incident_id)
        submission.record_duplicate_check(key, found=found, kept=kept, removed=removed, failed=failed, now=now)
        counts["checked"] += 1
        counts["removed"] += len(removed)
        counts["failed"] += len(failed)
    return counts


# Periodic jobs that reschedule themselves in Redis (the outcome sweep, the directory sync, the
# notifications' sweep). Each app registers, in its AppConfig.ready(), the idempotent function that
# puts its job back in the schedule; the keeper's beat calls them all, so a flushed or restarted
# Redis loses none of them and this module imports none of those apps.
_KEPT_SCHEDULED: list[Callable[[], bool]] = []


def keep_scheduled(schedule: Callable[[], bool]) -> None:
    """Have the keeper's beat call ``schedule`` (idempotent: puts a periodic job back when it is missing)."""
    if schedule not in _KEPT_SCHEDULED:
        _KEPT_SCHEDULED.append(schedule)


def clear_expired_sessions() -> None:
    """What `manage.py clearsessions` does: delete the sessions past their expiry.

    Anonymous visits make session rows too (a draft kept when a session ended, the OpenID Connect
    sign-in's state), and nothing else deletes them. One indexed DELETE per beat.
    """
    engine = import_module(settings.SESSION_ENGINE)
    with contextlib.suppress(NotImplementedError):  # sessions in signed cookies keep no rows
        engine.SessionStore.clear_expired()


def keeper_beat() -> dict[str, int]:
    """One beat of the cluster's periodic duties, run by whichever keeper wins the reconcile lease.

    The audit chains' anchor when one is due (AUDIT_ANCHOR_INTERVAL), expired sessions deleted
    (clearsessions) and previewed IOC archives past a preview's age (responses.ioc_store), the reconciler,
    and every registered periodic job put back in the schedule when Redis lost it
    (within RECONCILE_INTERVAL, with nothing restarted).
    """
    try:
        audit_chain.anchor_if_due()
    except Exception:  # an anchor missed now is taken at the next beat; reconciling matters more
        log.exception("could not take the audit anchor")
    try:
        clear_expired_sessions()
        ioc_store.delete_expired()
    except Exception:  # tried again at the next beat
        log.exception("could not delete the expired sessions or previewed IOC archives")
    counts = reconcile()
    for schedule in _KEPT_SCHEDULED:
        try:
            schedule()
        except RedisError as exc:
            log.warning("could not put %s back in the schedule: %s", schedule.__name__, exc)
    return counts


def schedule_periodic(
    job_id: str,
    func,
    seconds: int,
    *,
    force: bool = False,
    result_ttl: int | None = None,
    job_timeout: int | None = None,
) -> bool:
    """Put ``func`` in the worker's schedule ``seconds`` from now under ``job_id``, unless it is there already.

    ``force``: schedule anyway (the periodic job itself, rescheduling its next run).
    ``result_ttl`` (default: twice ``seconds``) must outlive the next run, which has the same id;
    ``job_timeout``: the queue's default unless given.
    """
    queue = django_rq.get_queue(QUEUE)
    if not force:
        if job_id in queue.scheduled_job_registry.get_job_ids():
            return False
        if job_id in queue.job_ids:
            return False
    queue.enqueue_in(
        dt.timedelta(seconds=seconds),
        func,
        job_id=job_id,
        result_ttl=seconds * 2 if result_ttl is None else result_ttl,
        job_timeout=job_timeout,
    )
    return True


def is_running(job_id: str) -> bool:
    """Whether a living worker runs the job ``job_id`` now (a periodic job is then not scheduled again)."""
    connection = django_rq.get_queue(QUEUE).connection
    try:
        job = Job.fetch(job_id, connection=connection)
    except RedisError:
        raise
    except Exception:  # NoSuchJobError and unreadable jobs alike
        return False
    if job.get_status(refresh=False) != JobStatus.STARTED or not job.worker_name:
        return False
    return bool(connection.exists(Worker.redis_worker_namespace_prefix + job.worker_name))


# --- The keeper: reconciler and scheduler, in every worker and in `reconcile_requests --loop` ------

KEEPER_TICK = 1.0  # seconds between a keeper's looks at Redis
RECONCILE_LEASE_KEY = "edr-portal:reconcile-lease"


def scheduler_lease_seconds() -> int:
    """How long a keeper holds the `ksc` schedule: a killed holder's duty passes on this soon."""
    return max(2, min(10, settings.RECONCILE_INTERVAL // 2))


class Keeper:
    """Runs the reconciler every RECONCILE_INTERVAL and moves due retries to the queue.

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
        self.queue_names = queue_names or [QUEUE]
        self.name = name or f"portal-keeper:{socket.gethostname()}:{os.getpid()}:{uuid_module.uuid4().hex[:8]}"
        self.redis_down_since: float | None = None

    def tick(self) -> dict[str, int] | None:
        """One look: move due retries, and reconcile if this keeper's turn came. The counts when it did."""
        connection = django_rq.get_queue(QUEUE).connection
        try:
            for name in self.queue_names:
                self._move_due_jobs(django_rq.get_queue(name))
            counts = None
            if connection.set(RECONCILE_LEASE_KEY, self.name, nx=True, ex=settings.RECONCILE_INTERVAL):
                _drop_unusable_connections()
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
        if queue.name == QUEUE:
            # Tries the database schedules (settle, back-off, pending update): due by its clock, at the second.
            _drop_unusable_connections()
            try:
                moved += queue_due_tries(queue)
            except DatabaseError as exc:
                log.warning("keeper: could not read the tries due: %s", exc)
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
        Job.fetch(LEGACY_RECONCILE_JOB_ID, connection=django_rq.get_queue(QUEUE).connection).delete()


def _drop_unusable_connections() -> None:
    """Between jobs: keep a healthy database connection, close a broken one (the next query reconnects).

    Django's close_old_connections() would close every connection after every job
    when CONN_MAX_AGE is 0, and a new PostgreSQL connection per job costs more
    than the job's own queries.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
            connection.close()


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
        _drop_unusable_connections()
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
            _drop_unusable_connections()

    def _give_up_job(self, job: Job, queue, execution: Execution) -> None:
        """After an outage mid-job: end RQ's record of it, so that the reconciler looks at the request."""
        try:
            job.refresh()
        except NoSuchJobError:
            return  # Redis came back empty: the reconciler finds the request without a job
        if job.get_status(refresh=False) == JobStatus.STARTED and job.worker_name == self.name:
            job.retries_left = 0  # the row decides what comes next, not RQ's retry
            self.handle_job_failure(job, queue, exc_string="Redis went away during the job", execution=execution)
