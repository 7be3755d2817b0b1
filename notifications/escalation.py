"""Escalation when nobody approves (issue 29, "Escalation tiers"), scheduled from the database.

Each task type has an approval SLA (APPROVAL_SLA, APPROVAL_SLA_<TASK>). A request
still pending after its SLA is escalated once to tier 2: the approvers of the
ESCALATE_TO group (those policy.may_decide lets decide it: never its requester)
by e-mail, and on-call through ESCALATE_URLS (Apprise: Opsgenie, PagerDuty, a
Teams or Slack channel). Still pending after twice its SLA, the SLA is breached:
SLA_BREACH_TO's named managers are told. Each step is an ``escalated`` event of
the request's trail (tier 2, then 3), which the routing table turns into
messages and the request page shows as a ladder. Expiry is unchanged.

The notifications sweep calls escalate_overdue() every NOTIFY_SWEEP_INTERVAL; the
steps due are found in the database each time, so a restart or a Redis flush
delays an escalation by one sweep at most and never loses or repeats one.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from responses import catalog, trail
from responses.models import EventKind, RequestEvent, ResponseRequest, Status

TIER_2 = 2  # the SLA passed: tier 2 approvers and on-call
BREACHED = 3  # twice the SLA passed: named managers


def _server_oncall(name: str | None = None) -> bool:
    """Whether a KSC server has its own on-call channels: the request's server, or any (``name`` None)."""
    return any(
        getattr(server, "escalate_urls", ())
        for server in getattr(settings, "KSC_SERVERS", [])
        if name is None or server.name == name
    )


def configured() -> bool:
    return bool(settings.ESCALATE_TO or settings.ESCALATE_URLS or settings.SLA_BREACH_TO or _server_oncall())


def sla_of(task: str) -> dt.timedelta:
    return dt.timedelta(seconds=catalog.per_task(settings.APPROVAL_SLA_BY_TASK, task, settings.APPROVAL_SLA))


def _minutes(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def _message(tier: int, sla: dt.timedelta, server: str) -> str:
    # The trail is evidence, written in English (trail.in_english); pages show it as written.
    if tier == TIER_2:
        told = []
        if settings.ESCALATE_TO:
            told.append(f"the approvers of {settings.ESCALATE_TO}")
        if settings.ESCALATE_URLS or _server_oncall(server):
            told.append("on-call")
        return f"Nobody decided within the approval SLA of {_minutes(sla)} min: escalated to " + (
            " and ".join(told) or "nobody (ESCALATE_TO and ESCALATE_URLS are not set)"
        ) + "."
    managers = ", ".join(settings.SLA_BREACH_TO) or "nobody (SLA_BREACH_TO is not set)"
    return f"Approval SLA breached: still undecided after {_minutes(sla * 2)} min; told {managers}."


def _escalate(rr: ResponseRequest, tier: int, now: dt.datetime) -> bool:
    """Write the tier's event once (under the row lock, so two sweeps never both write it)."""
    with transaction.atomic():
        locked = ResponseRequest.objects.select_for_update().get(pk=rr.pk)
        if locked.status != Status.PENDING_APPROVAL:
            return False
        done = {event.detail.get("tier") for event in locked.events.filter(kind=EventKind.ESCALATED)}
        if tier in done:
            return False
        sla = sla_of(locked.task)
        trail.append(locked, EventKind.ESCALATED, trail.SYSTEM, locked.status, _message(tier, sla, locked.server), {
            "tier": tier,
            "sla_seconds": int(sla.total_seconds()),
        })
    return True


def escalate_overdue(now: dt.datetime | None = None) -> int:
    """Escalate every pending request whose next step is due; returns how many steps were taken."""
    if not configured():
        return 0
    now = now or timezone.now()
    shortest = min([settings.APPROVAL_SLA, *settings.APPROVAL_SLA_BY_TASK.values()])
    waiting = list(
        ResponseRequest.objects.filter(
            status=Status.PENDING_APPROVAL, created_at__lte=now - dt.timedelta(seconds=shortest)
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .only("id", "task", "created_at", "status")
        .order_by("created_at")
    )
    done: dict[int, set] = {}
    for request_id, detail in RequestEvent.objects.filter(
        kind=EventKind.ESCALATED, request__in=[rr.pk for rr in waiting]
    ).values_list("request_id", "detail"):
        done.setdefault(request_id, set()).add((detail or {}).get("tier"))
    steps = 0
    for rr in waiting:
        age = now - rr.created_at
        sla = sla_of(rr.task)
        for tier, after in ((TIER_2, sla), (BREACHED, sla * 2)):
            if age >= after and tier not in done.get(rr.pk, set()) and _escalate(rr, tier, now):
                steps += 1
    return steps
