"""A campaign's trail: every decision, wave, pause and skip, in a keyed hash chain of its own.

The same HMAC links as the requests' chains (responses.audit_chain, docs/audit-chain.md), named
``campaign:<uuid>``; the campaign's row lock orders the writers of one chain.
"""

from __future__ import annotations

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
