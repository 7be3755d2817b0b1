"""A wave's requests made and submitted in batches, each request still exactly once.

Making (``create_children``): a wave's requests are inserted in bulk, each with its own keyed
trail (filed by the campaign's requester, approved with the campaign's approvals as its own
decisions, queued) written in bulk, and the wave goes to the ``ksc`` queue as jobs of up to
``BATCH`` requests each (``submit_batch``).

Submitting (``submit_batch``), over ONE KSC login:

1. one transaction claims the batch: it locks the requests still QUEUED on their first attempt
   (``SKIP LOCKED``: a request another job holds is left to it), checks each one's content
   against its fingerprint and the campaign's approvals once (responses.approvals.proof_problems
   on the campaign, which its requests' decisions copy), fixes KLINCDT_ADDED, moves them to
   SUBMITTING in one statement, and writes their ``claimed`` events and attempts in bulk;
2. per request: AddIncident, its incident id committed the moment KSC answers (a conditional
   UPDATE, as responses.submission.record_incident), then UpdateIncident;
3. one transaction marks the batch's requests SUBMITTED and writes their events in bulk.

A request whose AddIncident or UpdateIncident failed is handed to the per-request machinery
(responses.submission.submission_failed with a retry: the keeper queues its own job, which looks
in KSC before adding again). A worker killed mid-batch leaves SUBMITTING requests whose job id
is their own uuid and not alive: the reconciler requeues them, and their next attempt adopts the
incident KSC may hold (responses.jobs). One request, one incident, whatever happens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from audit import chain as audit_chain
from campaigns.models import Campaign, CampaignEventKind, CampaignHost, CampaignStatus
from ksc_client.errors import KscError
from responses import approvals, payload, queueing, submission
from responses.approvals import APPROVED as APPROVE_DECISION
from responses.ksc_servers import client_for
from responses.models import (
    AttemptOutcome,
    Decision,
    DecisionKind,
    EventKind,
    RequestEvent,
    ResponseRequest,
    Status,
    SubmissionAttempt,
    payload_fingerprint,
)

log = logging.getLogger(__name__)

BATCH = 50  # requests per job: enough to spread a wave over the workers, few enough to claim quickly
SYSTEM = "system"


# --- Keyed trails written in bulk ------------------------------------------------------------


def chain_heads(request_ids: list[int]) -> dict[int, tuple[int, str]]:
    """{request id: (last seq, last hash)} in two queries; the caller holds the requests' row locks."""
    last = dict(
        RequestEvent.objects.filter(request_id__in=request_ids)
        .values("request_id")
        .annotate(seq=Max("seq"))
        .values_list("request_id", "seq")
    )
    heads = {pk: (0, audit_chain.GENESIS) for pk in request_ids}
    if last:
        for request_id, seq, hash_ in (
            RequestEvent.objects.filter(request_id__in=list(last))
            .filter(seq__in=set(last.values()))
            .values_list("request_id", "seq", "hash")
        ):
            if last.get(request_id) == seq:
                heads[request_id] = (seq, hash_)
    return heads


def append_bulk(events: list[RequestEvent], heads: dict[int, tuple[int, str]]) -> None:
    """Seal each event onto its request's chain (in list order) and insert them all in one statement."""
    for event in events:
        seq, prev = heads[event.request_id]
        event.seq, event.prev_hash = seq + 1, prev
        event.hash = audit_chain.link_hash(prev, event.chain, event.seq, event.content())
        heads[event.request_id] = (event.seq, event.hash)
    RequestEvent.objects.bulk_create(events, batch_size=500)


def _event(rr, kind, actor, before, after, message="", detail=None, at=None) -> RequestEvent:
    return RequestEvent(
        request=rr,
        kind=kind,
        actor_username=actor,
        status_before=before,
        status_after=after,
        message=message,
        detail=detail or {},
        created_at=at or timezone.now(),
    )


# --- Making a wave's requests -------------------------------------------------------------------


def create_children(campaign: Campaign, hosts: list[CampaignHost]) -> list[ResponseRequest]:
    """The hosts' requests, in bulk, QUEUED with their trails, and their batch jobs pushed after commit."""
    if not hosts:
        return []
    decisions = [d for d in campaign.decisions.all() if d.decision == APPROVE_DECISION]
    people = approvals.approving_people(campaign, decisions)
    counted = [d for d in decisions if d.approver_id in people]
    required = campaign.approvals_required
    now = timezone.now()
    children = [
        ResponseRequest(
            task=campaign.task,
            target_host=host.host_id,
            target_host_name=host.display_name,
            params=campaign.params,
            justification=campaign.justification,
            external_ref=campaign.external_ref,
            fingerprint=payload_fingerprint(campaign.task, host.host_id, campaign.params, campaign.server),
            requester_id=campaign.requester_id,
            requester_username=campaign.requester_username,
            source=campaign.source,
            status=Status.QUEUED,
            approvals_required=required,
            approved_at=now,
            decided_at=now,
            queued_at=now,
            # Its batch job claims it; the keeper queues it alone when that job is lost (responses.jobs).
            next_try_at=now + dt.timedelta(seconds=settings.CAMPAIGN_BATCH_GRACE),
            wait_reason=submission.WaitReason.BATCH,
            server=campaign.server,
        )
        for host in hosts
    ]
    ResponseRequest.objects.bulk_create(children, batch_size=500)
    key = str(campaign.uuid)
    message = f"Approved as one host of campaign {key}."
    events = []
    for child in children:
        events.append(
            _event(
                child,
                EventKind.FILED,
                campaign.requester_username,
                "",
                Status.PENDING_APPROVAL if required else Status.APPROVED,
                child.justification,
                {
                    "task": child.task,
                    "target_host": child.target_host,
                    "approvals_required": required,
                    "source": child.source,
                    "external_ref": child.external_ref,
                    "fingerprint": child.fingerprint,
                    "campaign": key,
                },
                now,
            )
        )
        if required:
            events.append(
                _event(
                    child,
                    EventKind.APPROVED,
                    counted[-1].approver_username,
                    Status.PENDING_APPROVAL,
                    Status.APPROVED,
                    message,
                    {"approvers": sorted(people.values()), "campaign": key},
                    now,
                )
            )
        else:
            events.append(
                _event(child, EventKind.APPROVED, SYSTEM, "", Status.APPROVED, message, {"campaign": key}, now)
            )
        events.append(
            _event(child, EventKind.QUEUED, SYSTEM, Status.APPROVED, Status.QUEUED, "", {"campaign_batch": key}, now)
        )
    append_bulk(events, {child.pk: (0, audit_chain.GENESIS) for child in children})
    Decision.objects.bulk_create(
        [
            Decision(
                request=child,
                approver_id=d.approver_id,
                approver_username=d.approver_username,
                decision=DecisionKind.APPROVE,
                comment=f"campaign {key}: {d.comment}".strip(),
                fingerprint=child.fingerprint,
            )
            for child in children
            for d in counted
        ],
        batch_size=500,
    )
    ids = [child.pk for child in children]
    # One UPDATE links every host to its request (a campaign holds each host once, and this wave's
    # requests are one per host): no CASE over a thousand rows as bulk_update would build.
    CampaignHost.objects.filter(pk__in=[host.pk for host in hosts]).update(
        held_reason="",
        request=Subquery(ResponseRequest.objects.filter(pk__in=ids, target_host=OuterRef("host_id")).values("pk")[:1]),
    )
    for host, child in zip(hosts, children, strict=True):
        host.request = child
        host.held_reason = ""
    transaction.on_commit(lambda: push_batches(campaign.pk, ids))
    return children


def push_batches(campaign_pk: int, ids: list[int]) -> None:
    """One job per BATCH requests; when Redis refuses, the reconciler queues each request's own job later."""
    queue = django_rq.get_queue(queueing.QUEUE)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        try:
            queue.enqueue_call(
                submit_batch,
                args=(campaign_pk, chunk),
                job_id=f"campaign-{campaign_pk}-batch-{chunk[0]}",
                result_ttl=queueing.JOB_RESULT_TTL,
                failure_ttl=queueing.JOB_FAILURE_TTL,
            )
        except Exception as exc:
            log.warning(
                "campaign %s: could not queue a batch (%s); the reconciler queues its requests", campaign_pk, exc
            )


# --- Submitting a batch -----------------------------------------------------------------------


def _campaign_proof(campaign: Campaign) -> list[str]:
    filed = campaign.events.filter(kind=CampaignEventKind.FILED).values_list("actor_username", "detail").first()
    required = filed[1].get("approvals_required") if filed and isinstance(filed[1], dict) else None
    return approvals.proof_problems(
        campaign,
        campaign.decisions.all(),
        required_when_filed=required if isinstance(required, int) and not isinstance(required, bool) else None,
        approved_in_trail=campaign.approvals_required == 0
        or campaign.events.filter(kind=CampaignEventKind.APPROVED).exists(),
        filed_by=filed[0] if filed else None,
    )


def _added_seconds(children: list[ResponseRequest], now: dt.datetime) -> dict[int, dt.datetime]:
    """KLINCDT_ADDED per request: now's second unless an identical request holds it (one query for all)."""
    taken: dict[str, set] = {}
    for fingerprint, added in ResponseRequest.objects.filter(
        fingerprint__in={c.fingerprint for c in children}, ksc_added__gte=now - submission.ADDED_LOOKBACK
    ).values_list("fingerprint", "ksc_added"):
        taken.setdefault(fingerprint, set()).add(added)
    result = {}
    for child in children:
        second = now.replace(microsecond=0)
        while second in taken.get(child.fingerprint, set()):
            second -= dt.timedelta(seconds=1)
        taken.setdefault(child.fingerprint, set()).add(second)
        result[child.pk] = second
    return result


def _alone(ids: list[int]) -> None:
    """These requests go through their own jobs (responses.jobs.submit_to_ksc), due now."""
    ResponseRequest.objects.filter(pk__in=ids, wait_reason=submission.WaitReason.BATCH).update(
        next_try_at=None, wait_reason=""
    )
    for key in ResponseRequest.objects.filter(pk__in=ids).values_list("uuid", flat=True):
        queueing.push_job(key)


def claim_batch(campaign_pk: int, ids: list[int]) -> list[tuple[ResponseRequest, SubmissionAttempt]]:
    """Claim what may go of the batch, in one transaction; the rest is left to the per-request jobs."""
    now = submission.database_now()
    with transaction.atomic():
        campaign = Campaign.objects.get(pk=campaign_pk)
        if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.COMPLETED):
            return []  # aborted: its requests were withdrawn; anything else is not this job's
        problems = _campaign_proof(campaign)
        locked = list(
            ResponseRequest.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status=Status.QUEUED, attempts=0, ksc_incident_id__isnull=True)
            .filter(Q(next_try_at__isnull=True) | Q(wait_reason=submission.WaitReason.BATCH))
            .order_by("pk")
        )
        if problems:
            log.error(
                "campaign %s: its approvals do not hold up (%s); its requests go one by one", campaign.uuid, problems
            )
            _alone([child.pk for child in locked])  # each request's own claim refuses it, in its own trail
            return []
        claimed = []
        for child in locked:
            if child.fingerprint != payload_fingerprint(
                child.task, child.target_host, child.params, child.server, getattr(child, "isolation_end", None)
            ) or (child.task != campaign.task or child.params != campaign.params):
                _alone([child.pk])  # its own claim fails it as changed, in its own trail
                continue
            claimed.append(child)
        if not claimed:
            return []
        added = _added_seconds(claimed, now)
        heads = chain_heads([c.pk for c in claimed])
        events, attempts = [], []
        for child in claimed:
            child.ksc_added = added[child.pk]
            child.next_try_at, child.wait_reason = None, ""
            child.attempts = 1
            child.status = Status.SUBMITTING
            child.updated_at = now
            attempts.append(SubmissionAttempt(request=child, number=1, started_at=now))
            events.append(
                _event(
                    child,
                    EventKind.CLAIMED,
                    SYSTEM,
                    Status.QUEUED,
                    Status.SUBMITTING,
                    "",
                    {"attempt": 1, "batch": True},
                )
            )
        # One UPDATE per KLINCDT_ADDED second (nearly always one): the rest is the same for all.
        by_second: dict[dt.datetime, list[int]] = {}
        for child in claimed:
            by_second.setdefault(child.ksc_added, []).append(child.pk)
        for second, pks in by_second.items():
            ResponseRequest.objects.filter(pk__in=pks).update(
                ksc_added=second,
                attempts=1,
                status=Status.SUBMITTING,
                updated_at=now,
                next_try_at=None,
                wait_reason="",
            )
        SubmissionAttempt.objects.bulk_create(attempts)
        append_bulk(events, heads)
    return list(zip(claimed, attempts, strict=True))


def submit_batch(campaign_pk: int, ids: list[int]) -> dict[str, int]:
    """The job: claim, AddIncident + UpdateIncident each over one login, mark the batch SUBMITTED."""
    counts = {"submitted": 0, "failed": 0}
    if settings.KSC_SUBMIT_HOURLY_CAP:
        room = settings.KSC_SUBMIT_HOURLY_CAP - queueing.submissions_last_hour()
        if room < len(ids):
            # The hourly cap: each request goes through its own job, which the cap holds back.
            _alone(list(ResponseRequest.objects.filter(pk__in=ids, status=Status.QUEUED).values_list("pk", flat=True)))
            return counts
    claimed = claim_batch(campaign_pk, ids)
    if not claimed:
        return counts
    client = client_for(claimed[0][0].server)
    done = []
    with flush_deferred():
        for child, attempt in claimed:
            incident_id = None
            try:
                data = payload.add_incident_data(child.task, child.target_host, child.params, child.ksc_added)
                incident_id = client.add_incident(data)
                keep_incident(child.pk, incident_id)
                client.update_incident(incident_id, payload.update_incident_data(child.target_host))
            except KscError as exc:
                counts["failed"] += 1
                # The per-request machinery takes over: a retry after the back-off, looking in KSC first.
                submission.submission_failed(
                    child.uuid,
                    attempt,
                    str(exc),
                    will_retry=True,
                    code=getattr(exc, "code", None),
                    retry_in=max(settings.KSC_SUBMIT_BACKOFF, 1),
                    outcome_unknown=incident_id is None and exc.outcome_unknown,
                )
                continue
            child.ksc_incident_id = incident_id
            done.append((child, attempt))
    if done:
        _mark_submitted(done)
    counts["submitted"] = len(done)
    return counts


@contextlib.contextmanager
def flush_deferred() -> Iterator[None]:
    """Commits that do not wait for the WAL flush, for the KSC calls of one batch (PostgreSQL).

    Each host's incident id is still committed on its own the moment KSC answers, visible to
    every process at once: a worker killed after it leaves a request that carries its incident.
    Only the wait for the disk (``synchronous_commit``, an fsync of several milliseconds per
    commit on a small disk, paid per host) is left out; the batch's closing transaction
    (``_mark_submitted``) commits normally, and its flush writes every earlier commit too. A
    crash of the database server itself in between could lose the last ids: such a request is
    then SUBMITTING with its attempt begun and no incident, the unknown outcome the per-request
    machinery handles (the reconciler queues it again and its next attempt looks in KSC for the
    incident and adopts it instead of adding another: docs/reliability.md). A failure's
    bookkeeping in between (``submission_failed``) is covered the same way.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            connection.close()  # a new connection starts with the server's own setting


def keep_incident(pk: int, incident_id: int) -> None:
    """Commit the incident id KSC just gave (one autocommitted UPDATE), before anything else happens."""
    ResponseRequest.objects.filter(pk=pk, status=Status.SUBMITTING, ksc_incident_id__isnull=True).update(
        ksc_incident_id=incident_id, updated_at=timezone.now()
    )


def _mark_submitted(done: list[tuple[ResponseRequest, SubmissionAttempt]]) -> None:
    now = submission.database_now()
    with transaction.atomic():
        ids = [child.pk for child, _attempt in done]
        mine = set(
            ResponseRequest.objects.select_for_update()
            .filter(pk__in=ids, status=Status.SUBMITTING)
            .values_list("pk", flat=True)
        )
        done = [(child, attempt) for child, attempt in done if child.pk in mine]
        heads = chain_heads([child.pk for child, _attempt in done])
        events = []
        for child, attempt in done:
            child.status = Status.SUBMITTED
            child.submitted_at = child.finished_at = child.updated_at = now
            attempt.finished_at = now
            attempt.outcome = AttemptOutcome.SUBMITTED
            attempt.ksc_incident_id = child.ksc_incident_id
            events.append(
                _event(
                    child,
                    EventKind.SUBMITTED,
                    SYSTEM,
                    Status.SUBMITTING,
                    Status.SUBMITTED,
                    f"KSC incident {child.ksc_incident_id} created; KSC now creates the response task.",
                    {"incident_id": child.ksc_incident_id, "attempt": 1, "duplicate_check_at": None},
                    now,
                )
            )
        # Two UPDATEs for the batch: every value is the same but the incident id, which the
        # attempt copies from its request (committed there as KSC answered).
        ResponseRequest.objects.filter(pk__in=[child.pk for child, _attempt in done]).update(
            status=Status.SUBMITTED, submitted_at=now, finished_at=now, updated_at=now
        )
        SubmissionAttempt.objects.filter(pk__in=[attempt.pk for _child, attempt in done]).update(
            finished_at=now,
            outcome=AttemptOutcome.SUBMITTED,
            ksc_incident_id=Subquery(
                ResponseRequest.objects.filter(pk=OuterRef("request_id")).values("ksc_incident_id")[:1]
            ),
        )
        append_bulk(events, heads)
