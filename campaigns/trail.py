"""A campaign's trail: every decision, wave, pause and skip, in a keyed hash chain of its own.

The same HMAC links as the requests' chains (responses.audit_chain, docs/audit-chain.md), named
``campaign:<uuid>``; the campaign's row lock orders the writers of one chain.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from audit import chain as audit_chain
from campaigns.models import Campaign, CampaignEvent

SYSTEM = "system"


def append(
    campaign: Campaign, kind: str, actor: str, before: str, message: str = "", detail: dict | None = None
) -> CampaignEvent:
    """Append one event to the campaign's chain, in the caller's transaction."""
    Campaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk").first()
    last = CampaignEvent.objects.filter(campaign_id=campaign.pk).order_by("-seq").values_list("seq", "hash").first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, audit_chain.GENESIS)
    event = CampaignEvent(
        campaign=campaign,
        seq=seq,
        kind=kind,
        actor_username=actor,
        status_before=before,
        status_after=campaign.status,
        message=message,
        detail=detail or {},
        created_at=timezone.now(),
        prev_hash=prev,
    )
    event.hash = audit_chain.link_hash(prev, event.chain, seq, event.content())
    event.save()
    return event


def verify(campaign: Campaign) -> list[str]:
    """The campaign chain's problems (an empty list: intact)."""
    problems = []
    prev = audit_chain.GENESIS
    for expected, event in enumerate(campaign.events.order_by("seq"), start=1):
        if event.seq != expected or event.prev_hash != prev:
            problems.append(f"event {event.seq}: the chain is broken before it")
        if audit_chain.link_hash(event.prev_hash, event.chain, event.seq, event.content()) != event.hash:
            problems.append(f"event {event.seq}: its content does not match its hash")
        prev = event.hash
    return problems


# --- The campaigns' kind of chain for anchors and verification (audit/chain.py) ------------------

PREFIX = "campaign:"


def heads(since: dt.datetime | None) -> dict[str, list]:
    """The heads of the campaigns' chains that moved at or after ``since`` (all when None)."""
    events = CampaignEvent.objects.all()
    if since is not None:
        events = events.filter(created_at__gte=since)
    moved = sorted(set(events.values_list("campaign_id", flat=True)))
    found: dict[str, list] = {}
    for key, seq, digest in (
        CampaignEvent.objects.filter(campaign_id__in=moved)
        .order_by("campaign_id", "seq")
        .values_list("campaign__uuid", "seq", "hash")
    ):
        found[f"{PREFIX}{key}"] = [seq, digest]
    return found


def has_events_before(when: dt.datetime) -> bool:
    return CampaignEvent.objects.filter(created_at__lt=when).exists()


def verify_all(report: audit_chain.Report, anchored: dict[str, tuple[int, str]]) -> set[str]:
    """Walk every campaign's chain; the chain names seen."""
    seen: set[str] = set()
    for campaign in Campaign.objects.order_by("pk").iterator(chunk_size=200):
        name = f"{PREFIX}{campaign.uuid}"
        seen.add(name)
        events = list(campaign.events.order_by("seq"))
        count, problem = audit_chain.walk(
            events,
            name,
            lambda event, name=name: f"campaign event seq {event.seq} (id {event.pk}, {name}, {event.kind})",
            anchored.get(name),
        )
        report.events += count
        if problem:
            report.problems.append(problem)
        if events and (name not in anchored or anchored[name][0] < events[-1].seq):
            report.unanchored += 1
    return seen


def gone(name: str, seq: int) -> str | None:
    if not name.startswith(PREFIX):
        return None
    return f"chain {name}: an anchor signed it with {seq} events, but its campaign and events are gone (deleted)"


audit_chain.register_kind(
    audit_chain.ChainKind(
        name="campaigns", heads=heads, has_events_before=has_events_before, verify=verify_all, gone=gone, order=30
    )
)
