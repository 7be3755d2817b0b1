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

import datetime as dt
import logging
from typing import Any

import django_rq
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Now
from django.utils.translation import gettext_noop
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus

from ksc_client.errors import KscError, KscTlsError
from responses import (
    hosts,
    ksc_servers,
    payload,
    protected,
    queueing,
    server_state,
    submission,
    trail_messages,
    workflow,
)
from responses.ksc_servers import get_client
from responses.models import IN_FLIGHT, EventKind, RequestEvent, ResponseRequest, Status
from responses.states import PRIMARY_SERVER
from worker import duties
from worker.liveness import job_is_alive

log = logging.getLogger(__name__)

QUEUE = queueing.QUEUE


def _is_last_try() -> bool:
    job = get_current_job()
    return job is None or not job.retries_left


def _internal_error_text(exc: Exception, incident_id: int | None) -> str:
    """What an analyst and an auditor read when the portal itself failed an attempt (never a bare class name)."""
    if isinstance(exc, IntegrityError) and incident_id is not None:
        return trail_messages.say(
            gettext_noop(
                "KSC answered with incident id %(id)s, which this portal already holds for another request: "
                "check KSC (a KSC database restored from a backup, or another portal using the same server)."
            ),
            id=incident_id,
        )
    if isinstance(exc, IntegrityError):
        # Without an incident id: the portal's own records conflicted (never "IntegrityError" on a page).
        return trail_messages.say(
            gettext_noop(
                "The portal could not record the attempt: it conflicts with what the portal holds for another "
                "request. Nothing more was sent; the administrators find the details in the worker's log."
            )
        )
    if isinstance(exc, DatabaseError):
        return trail_messages.say(gettext_noop("The portal's database failed during the attempt (%(error)s); it is tried again."), error=exc.__class__.__name__)
    return trail_messages.say(gettext_noop("An unexpected error in the portal (%(error)s); the administrators find the details in the worker's log."), error=exc.__class__.__name__)


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


def _protected_now(key: str) -> bool:
    """Protected hosts checked again before a single-host request's first attempt (issue 27, point 3).

    A host moved into a protected group since filing, or named by a rule added since, is not sent
    (FAILED, with the rule in its trail) unless the request was filed under the protected-host
    override. A campaign's hosts are checked when their wave is released (campaigns/waves.py); an
    isolation's paired release (responses/isolation.py) is never held back by it, since it ends what
    was approved. KSC not answering is no refusal: the submission finds out itself.
    """
    rules = protected.all_rules()
    if not rules:
        return False
    rr = (
        ResponseRequest.objects.filter(
            uuid=key,
            campaign_host__isnull=True,
            released_isolation__isnull=True,
            attempts=0,
            status__in=(Status.APPROVED, Status.QUEUED),
        )
        .only("uuid", "task", "params", "target_host", "server")
        .first()
    )
    if rr is None:
        return False
    filed = rr.events.filter(kind=EventKind.FILED).values_list("detail", flat=True).first()
    if filed is None or filed.get("protected_override"):
        return False  # not filed by a person (a release the portal made), or filed under the override
    found = hosts.check(rr.target_host, server=rr.server)
    if found.host is None:
        return False
    rule = protected.protection(
        found.host.id, found.host.display_name, found.host.group_name, rr.task, rr.params, rules
    )
    return rule is not None and workflow.refuse_protected(rr.uuid, rule.describe())


def submit_to_ksc(key: str) -> str:
    """Submit one approved request: AddIncident, keep the id, UpdateIncident, mark SUBMITTED."""
    server = ResponseRequest.objects.filter(uuid=key).values_list("server", flat=True).first() or PRIMARY_SERVER
    if _over_hourly_cap(server):
        # Bounding the blast radius: the request waits, QUEUED, and the reconciler sends it
        # on once the last hour's submissions (to its server) are under the cap again.
        queueing.hold(
            key,
            trail_messages.say(
                gettext_noop(
                    "Held back: %(cap)d requests were submitted to KSC server %(server)s in the last hour "
                    "(its hourly_cap, or KSC_SUBMIT_HOURLY_CAP)."
                ),
                cap=_hourly_cap(server),
                server=server,
            ),
        )
        log.warning("request %s: held back by the hourly cap of server %s", key, server)
        return "held"
    limit = _over_inflight_tasks(server)
    if limit is not None:
        queueing.hold(
            key,
            trail_messages.say(
                gettext_noop(
                    "Held back: %(limit)d [Response] tasks are still open on KSC server %(server)s (its inflight_tasks)."
                ),
                limit=limit,
                server=server,
            ),
        )
        log.warning("request %s: held back by the in-flight task limit of server %s", key, server)
        return "held"
    later = submission.not_due_until(key)
    if later is not None:
        # An RQ retry that came before the request's own time (the settle period after an
        # outcome-unknown AddIncident is longer than the back-off): the keeper queues it then.
        log.info("request %s: its next try is due at %s; not before", key, later.isoformat())
        return "waiting"
    if _protected_now(key):
        return "refused"
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
                    trail_messages.say(
                        gettext_noop(
                            "An earlier attempt's AddIncident may still be carried out by KSC: waiting before "
                            "adding, so that KSC does not get a duplicate."
                        ),
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


@duties.every_tick("due-tries", queue=queueing.QUEUE)
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
    if status in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED) and job_is_alive(
        job_id, queue, set(queue.get_job_ids())
    ):
        return False
    retries_left = job.retries_left if job is not None else None
    return queueing.push_job(job_id, retries_left=retries_left) is None


# --- Reconciliation -----------------------------------------------------------------------


@duties.every_beat("reconciler", raise_errors=True)
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
        if job_is_alive(str(key), queue, queued):
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
