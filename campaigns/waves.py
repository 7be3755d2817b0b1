"""A running campaign's waves: the canary, the waves after it, the budget, the breaker.

``advance_campaigns()`` is the periodic duty (the keeper runs it every RECONCILE_INTERVAL, and
after every approval and resume): for each running campaign, under its row lock,

1. the **breaker**: when the failed + no-task share of its finished hosts (those finished since
   the last resume) passes CAMPAIGN_FAILURE_PAUSE, it pauses itself and tells the approvers;
2. the **gate**: the canary (wave 0) must have completed its ``[Response]`` tasks, or
   CAMPAIGN_CANARY_WAIT passed with none failed; a later wave starts when the one before it
   has been sent (every request submitted or failed) and none of its hosts is held;
3. the **release**: the next hosts in order, each checked again against the protected hosts
   (skipped with a trail event when protected now), held while another isolation change is in
   flight on the host or its [Response] tasks reach 100, and within KSC_INFLIGHT_TASKS_MAX;
   each released host gets its own request (filed in the campaign's name, carrying the
   campaign's approvals, APPROVED: responses' own queueing and exactly-once submission take it);
4. **completion**: every host sent or skipped, every request submitted or failed.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns import batch, trail
from campaigns.models import Campaign, CampaignEventKind, CampaignHost, CampaignStatus
from ksc_client.errors import KscError
from responses import isolation, protected, queueing
from responses.ksc_servers import client_for
from responses.models import (
    IN_FLIGHT,
    OUTCOME_FINAL,
    OutcomeState,
    ResponseRequest,
    Status,
)

log = logging.getLogger(__name__)

HOST_TASKS_MAX = 100  # KES keeps at most 100 response tasks per host (docs/ksc-wire.md)
BAD_OUTCOMES = (OutcomeState.FAILED, OutcomeState.NO_TASK)
# Requests made per transaction when a wave is released: the workers start on the first chunk
# while the next ones are made (two submission batches: campaigns.batch.BATCH).
RELEASE_CHUNK = 100
SENT = (Status.SUBMITTED, Status.FAILED, Status.CANCELLED)


# --- What a campaign's requests say ----------------------------------------------------------


def _finished_q() -> Q:
    """A campaign host whose request is over: FAILED, or submitted with a final outcome."""
    return Q(request__status=Status.FAILED) | Q(
        request__status=Status.SUBMITTED, request__outcome__state__in=OUTCOME_FINAL
    )


def _bad_q() -> Q:
    return Q(request__status=Status.FAILED) | Q(
        request__status=Status.SUBMITTED, request__outcome__state__in=BAD_OUTCOMES
    )


def breaker_counts(campaign: Campaign) -> tuple[int, int]:
    """(finished hosts, of them failed or without a task), in one query."""
    counts = campaign.hosts.filter(request__isnull=False).aggregate(
        finished=Count("id", filter=_finished_q()), bad=Count("id", filter=_bad_q())
    )
    return counts["finished"], counts["bad"]


def isolation_changes() -> Q:
    """Requests that change a host's isolation: isolate, release, an IOC scan that isolates."""
    return Q(task="isolateHost") | Q(task="iocScan", params__isolateHost=True)


def isolation_in_flight(host_ids: list[str], server: str) -> set[str]:
    """Hosts with an isolation change on its way or whose outcome is not final yet, in one query.

    The rule of responses.isolation.isolation_change_in_flight (one isolation change per host at a
    time; pending approval counts), for a whole wave at once.
    """
    not_final = Q(status=Status.SUBMITTED) & (
        Q(outcome__isnull=True) | Q(outcome__closed_at__isnull=True) & ~Q(outcome__state__in=OUTCOME_FINAL)
    )
    return set(
        ResponseRequest.objects.filter(isolation_changes(), target_host__in=host_ids, server=server)
        .filter(Q(status__in=(Status.PENDING_APPROVAL, *IN_FLIGHT)) | not_final)
        .values_list("target_host", flat=True)
    )


def inflight_tasks(server: str) -> int:
    """[Response] tasks the portal has in flight on a KSC server: on their way, or submitted with the outcome open."""
    return (
        ResponseRequest.objects.filter(server=server)
        .filter(
            Q(status__in=IN_FLIGHT)
            | Q(status=Status.SUBMITTED)
            & (Q(outcome__isnull=True) | Q(outcome__closed_at__isnull=True) & ~Q(outcome__state__in=OUTCOME_FINAL))
        )
        .count()
    )


# --- The duty -------------------------------------------------------------------------------


def advance_campaigns() -> dict[str, int]:
    """The periodic duty: expire, break, release and complete every open campaign. Counts for the log."""
    from campaigns import workflow as campaign_workflow

    counts = {"expired": campaign_workflow.expire_overdue(), "released": 0, "paused": 0, "completed": 0}
    rooms: dict[str, dict[str, float]] = {}
    for pk, server in (
        Campaign.objects.filter(status=CampaignStatus.RUNNING).order_by("approved_at", "pk").values_list("pk", "server")
    ):
        room = rooms.setdefault(server, _room(server))
        result = advance(pk, room)
        counts["released"] += result["released"]
        room["tasks"] -= result["released"]
        counts["paused"] += result["paused"]
        counts["completed"] += result["completed"]
    return counts


def inflight_limit(server: str) -> int:
    """The server's ``inflight_tasks`` from the servers file, else KSC_INFLIGHT_TASKS_MAX (0: no limit)."""
    entry = next((e for e in getattr(settings, "KSC_SERVERS", []) if e.name == server), None)
    if entry is not None and entry.inflight_tasks:
        return entry.inflight_tasks
    return settings.KSC_INFLIGHT_TASKS_MAX


def _room(server: str) -> dict[str, float]:
    limit = inflight_limit(server)
    return {"tasks": (limit - inflight_tasks(server)) if limit else float("inf"), "limit": limit}


def advance(pk: int, room: dict[str, float] | None = None) -> dict[str, int]:
    """One step of one campaign under its row lock; the hosts released are made in chunks.

    The wave's hosts are examined once (protected now, busy, the budget) and the first
    RELEASE_CHUNK of those that may go get their requests in the step's transaction; the rest
    follow in transactions of RELEASE_CHUNK each (``_release_rest``), so that the workers submit
    the first chunks while the later ones are made. Whatever a lost process did not make stays
    in the wave without a request and is released by the next step (the held path).
    """
    result = {"released": 0, "paused": 0, "completed": 0}
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=pk).first()
        if campaign is None or campaign.status != CampaignStatus.RUNNING:
            return result
        room = room if room is not None else _room(campaign.server)
        if _breaker(campaign):
            result["paused"] = 1
            return result
        current = campaign.hosts.filter(wave__isnull=False).order_by("-wave").values_list("wave", flat=True).first()
        held = (
            list(campaign.hosts.filter(wave=current, request__isnull=True, skipped_at__isnull=True))
            if current is not None
            else []
        )
        if held:
            released, rest = _release(campaign, held, current, room, retry=True)
            number = current
        elif current is not None and not _gate_open(campaign, current):
            return result
        else:
            pending = campaign.hosts.filter(wave__isnull=True, excluded_reason="")
            if not pending.exists():
                if _all_sent(campaign):
                    _complete(campaign)
                    result["completed"] = 1
                return result
            number = 0 if current is None and campaign.canary_size else (current or 0) + 1
            size = campaign.canary_size if number == 0 else campaign.wave_size
            wave = list(pending.order_by("position")[:size])
            CampaignHost.objects.filter(pk__in=[h.pk for h in wave]).update(wave=number)
            for host in wave:
                host.wave = number
            trail.append(
                campaign,
                CampaignEventKind.WAVE_RELEASED,
                trail.SYSTEM,
                campaign.status,
                "",
                {"wave": number, "canary": number == 0, "hosts": len(wave)},
            )
            released, rest = _release(campaign, wave, number, room)
    result["released"] = released
    if rest:
        _release_rest(pk, rest, number)
    return result


def _gate_open(campaign: Campaign, wave: int) -> bool:
    hosts = campaign.hosts.filter(wave=wave, skipped_at__isnull=True)
    counts = hosts.aggregate(
        total=Count("id"),
        sent=Count("id", filter=Q(request__status__in=SENT)),
        finished=Count("id", filter=_finished_q() | Q(request__status=Status.CANCELLED)),
        bad=Count("id", filter=_bad_q()),
    )
    if counts["sent"] < counts["total"]:
        return False
    if wave != 0:
        return True
    if counts["bad"]:
        return False  # the breaker decides about a failing canary; a wave never follows one
    if counts["finished"] >= counts["total"]:
        return True
    released = (
        campaign.events.filter(kind=CampaignEventKind.WAVE_RELEASED, detail__wave=0)
        .values_list("created_at", flat=True)
        .first()
    )
    return released is not None and timezone.now() - released >= dt.timedelta(seconds=settings.CAMPAIGN_CANARY_WAIT)


def _release(
    campaign: Campaign, hosts: list[CampaignHost], wave: int, room: dict, *, retry: bool = False
) -> tuple[int, list[CampaignHost]]:
    """Examine these hosts: skip the protected, hold the busy, make the first chunk's requests.

    Returns (hosts released, those of them whose requests the caller makes after the commit).
    """
    ids = [h.host_id for h in hosts]
    rules = protected.all_rules()
    groups = _current_groups(ids, campaign.server) if rules else {}
    busy = (
        isolation_in_flight(ids, campaign.server)
        if isolation.changes_isolation(campaign.task, campaign.params)
        else set()
    )
    load = queueing.host_task_load(ids)
    go, skipped = [], 0
    for host in hosts:
        name, group = groups.get(host.host_id, (host.display_name, host.group_name))
        rule = (
            None
            if campaign.override_reason
            else protected.protection(host.host_id, name, group, campaign.task, campaign.params, rules)
        )
        if rule is not None:
            host.excluded_reason = f"protected at submission: {rule.describe()}"
            host.skipped_at = timezone.now()
            host.save(update_fields=["excluded_reason", "skipped_at"])
            trail.append(
                campaign,
                CampaignEventKind.HOST_SKIPPED,
                trail.SYSTEM,
                campaign.status,
                f"{host.display_name or host.host_id} is protected now ({rule.describe()}); not submitted.",
                {"host": host.host_id, "group": group, "wave": wave},
            )
            skipped += 1
            continue
        reason = ""
        if host.host_id in busy:
            reason = "another isolation change is in flight on this host"
        elif load.get(host.host_id, 0) >= HOST_TASKS_MAX - 1:
            reason = f"the host has {load[host.host_id]} [Response] tasks (KES keeps 100)"
        elif room["tasks"] - len(go) <= 0:
            reason = f"{room['limit']} [Response] tasks are in flight on {campaign.server} (KSC_INFLIGHT_TASKS_MAX)"
        if reason:
            if host.held_reason != reason:
                host.held_reason = reason
                host.save(update_fields=["held_reason"])
            continue
        go.append(host)
    batch.create_children(campaign, go[:RELEASE_CHUNK])
    return len(go), go[RELEASE_CHUNK:]


def _release_rest(pk: int, hosts: list[CampaignHost], wave: int) -> None:
    """The released hosts' requests after the first chunk, RELEASE_CHUNK per transaction.

    Each transaction takes the campaign's row lock again and makes only what is still due: the
    campaign still running (an abort or a pause in between stops here), the host still in this
    wave without a request (another step may have made it) and, for an isolation change, no
    other isolation change in flight on it now (else it stays held for the next step).
    """
    for start in range(0, len(hosts), RELEASE_CHUNK):
        chunk = {host.pk: host for host in hosts[start : start + RELEASE_CHUNK]}
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().filter(pk=pk).first()
            if campaign is None or campaign.status != CampaignStatus.RUNNING:
                return
            due = set(
                campaign.hosts.filter(pk__in=list(chunk), wave=wave, request__isnull=True, skipped_at__isnull=True)
                .filter(excluded_reason="")
                .values_list("pk", flat=True)
            )
            go = [host for pk_, host in chunk.items() if pk_ in due]
            if go and isolation.changes_isolation(campaign.task, campaign.params):
                busy = isolation_in_flight([host.host_id for host in go], campaign.server)
                go = [host for host in go if host.host_id not in busy]
            batch.create_children(campaign, go)


def _current_groups(host_ids: list[str], server: str) -> dict[str, tuple[str, str]]:
    """{host id: (display name, group)} as KSC says now: a host moved into a protected group since filing."""
    try:
        found = client_for(server).hosts_for_lines(host_ids, limit=len(host_ids) + 10)
    except KscError as exc:
        log.warning("could not ask KSC for the hosts' groups before a wave: %s", exc)
        return {}
    return {host.id: (host.display_name, host.group_name) for host in found}


def _all_sent(campaign: Campaign) -> bool:
    return (
        not campaign.hosts.filter(skipped_at__isnull=True, excluded_reason="")
        .filter(Q(request__isnull=True) | ~Q(request__status__in=SENT))
        .exists()
    )


def _complete(campaign: Campaign) -> None:
    before = campaign.status
    campaign.status = CampaignStatus.COMPLETED
    campaign.finished_at = timezone.now()
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    trail.append(campaign, CampaignEventKind.COMPLETED, trail.SYSTEM, before, "", counts_of(campaign))


def counts_of(campaign: Campaign) -> dict:
    """{"status": {request status: n}, "outcome": {outcome state: n}, "skipped": n, "waiting": n}."""
    return tally(campaign)["counts"]


def tally(campaign: Campaign) -> dict:
    """The campaign's hosts counted by PostgreSQL in one grouped query (a few dozen rows at most).

    ``counts``: as counts_of; ``included``: the hosts not left out (at filing or at submission);
    ``skipped_later``: those skipped at submission; ``waves``: per wave, in order, its hosts and
    how many were sent, are held (no request yet) and failed or got no task.
    """
    rows = (
        campaign.hosts.values("wave", "request__status", "request__outcome__state")
        .annotate(
            n=Count("id"),
            excluded=Count("id", filter=~Q(excluded_reason="")),
            skipped=Count("id", filter=Q(skipped_at__isnull=False)),
        )
        .order_by()
    )
    by_status: dict[str, int] = {}
    by_outcome: dict[str, int] = {}
    per_wave: dict[int, dict[str, int]] = {}
    skipped = waiting = included = skipped_later = 0
    for row in rows:
        status, state, n = row["request__status"], row["request__outcome__state"], row["n"]
        included += n - row["excluded"]
        skipped_later += row["skipped"]
        if status is None:
            skipped += row["excluded"]
            waiting += n - row["excluded"]
        else:
            by_status[status] = by_status.get(status, 0) + n
            if status == Status.SUBMITTED:
                key = state or OutcomeState.WAITING
                by_outcome[key] = by_outcome.get(key, 0) + n
        if row["wave"] is None:
            continue
        wave = per_wave.setdefault(row["wave"], {"wave": row["wave"], "hosts": 0, "sent": 0, "held": 0, "bad": 0})
        wave["hosts"] += n
        if status in SENT:
            wave["sent"] += n
        if status is None:
            wave["held"] += n - row["skipped"]
        if status == Status.FAILED or (status == Status.SUBMITTED and state in BAD_OUTCOMES):
            wave["bad"] += n
    return {
        "counts": {"status": by_status, "outcome": by_outcome, "skipped": skipped, "waiting": waiting},
        "included": included,
        "skipped_later": skipped_later,
        "waves": [per_wave[number] for number in sorted(per_wave)],
    }


def _breaker(campaign: Campaign) -> bool:
    finished, bad = breaker_counts(campaign)
    since = finished - campaign.breaker_baseline
    if since <= 0 or not bad:
        return False
    wanted = min(5, campaign.canary_size or 5)
    share = 100 * bad / finished
    if since < wanted and finished < campaign.hosts.filter(request__isnull=False).count():
        return False  # too few finished to judge, unless every request has finished
    if share <= settings.CAMPAIGN_FAILURE_PAUSE:
        return False
    failures = list(
        campaign.hosts.filter(_bad_q()).values_list("display_name", "request__outcome__state", "request__last_error")[
            :20
        ]
    )
    before = campaign.status
    campaign.status = CampaignStatus.PAUSED
    campaign.save(update_fields=["status", "updated_at"])
    trail.append(
        campaign,
        CampaignEventKind.BREAKER,
        trail.SYSTEM,
        before,
        f"{bad} of {finished} finished hosts failed or got no task ({share:.0f}%), more than "
        f"{settings.CAMPAIGN_FAILURE_PAUSE}% (CAMPAIGN_FAILURE_PAUSE): paused until an approver resumes it.",
        {
            "finished": finished,
            "bad": bad,
            "failures": [
                {"host": name, "outcome": state or "failed", "error": (error or "")[:200]}
                for name, state, error in failures
            ],
        },
    )
    log.warning("campaign %s paused by the breaker: %d of %d failed", campaign.uuid, bad, finished)
    return True
