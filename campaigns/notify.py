"""Messages per campaign, never per host: waiting for approval, approved, paused by the breaker, finished.

A campaign's requests send nothing of their own (notifications.routing.kind_for leaves them
out); the campaign's events do, once their transaction commits, through the ``notify`` queue:

- filed and waiting for approval: the approvers who may decide it and the chat channels, with
  the size and the reason for N approvals;
- approved: the requester;
- paused by the breaker: the approvers, the requester and the chat channels, with the failures;
- finished (completed or aborted): the requester and the chat channels, with the counts.

E-mail and chat go through notifications.channels (the same SMTP and Apprise settings): the
portal-wide NOTIFY_URLS and the campaign's server's own notify_urls; approvers hear only of
campaigns on servers they work on (policy.works_on).
"""

from __future__ import annotations

import logging
from functools import partial

import django_rq
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignEvent, CampaignEventKind, CampaignStatus
from notifications import channels
from responses import policy

log = logging.getLogger(__name__)

QUEUE = "notify"
KINDS = (
    CampaignEventKind.FILED,
    CampaignEventKind.APPROVED,
    CampaignEventKind.BREAKER,
    CampaignEventKind.COMPLETED,
    CampaignEventKind.ABORTED,
)


def campaign_url(campaign: Campaign) -> str:
    return settings.PORTAL_BASE_URL + reverse("campaigns:detail", kwargs={"key": campaign.uuid})


def compose(event: CampaignEvent) -> tuple[str, str] | None:
    """(subject, body) of the event's message, or None when it causes none."""
    from campaigns.filing import reason_text

    campaign = event.campaign
    size = campaign.hosts.filter(excluded_reason="").count()
    what = f"{campaign.describe()} — {size} hosts"
    if event.kind == CampaignEventKind.FILED:
        if event.status_after != CampaignStatus.PENDING_APPROVAL:
            return None
        reasons = "\n".join(f"- {reason_text(r)}" for r in campaign.approval_reasons)
        subject = _("Campaign waits for %(n)d approval(s): %(what)s") % {"n": campaign.approvals_required, "what": what}
        body = _("%(who)s filed a campaign: %(what)s.\nWhy %(n)d approval(s):\n%(reasons)s\n\n%(url)s") % {
            "who": campaign.requester_username,
            "what": what,
            "n": campaign.approvals_required,
            "reasons": reasons,
            "url": campaign_url(campaign),
        }
    elif event.kind == CampaignEventKind.APPROVED:
        subject = _("Campaign approved: %(what)s") % {"what": what}
        body = _("The campaign runs in waves now.\n\n%(url)s") % {"url": campaign_url(campaign)}
    elif event.kind == CampaignEventKind.BREAKER:
        failures = "\n".join(
            f"- {f.get('host')}: {f.get('outcome')} {f.get('error', '')}".rstrip()
            for f in (event.detail or {}).get("failures", [])
        )
        subject = _("Campaign paused by the circuit breaker: %(what)s") % {"what": what}
        body = f"{event.message}\n{failures}\n\n{campaign_url(campaign)}"
    elif event.kind in (CampaignEventKind.COMPLETED, CampaignEventKind.ABORTED):
        detail = event.detail or {}
        counts = ", ".join(f"{k}: {v}" for k, v in {**detail.get("status", {}), **detail.get("outcome", {})}.items())
        word = _("finished") if event.kind == CampaignEventKind.COMPLETED else _("aborted")
        subject = _("Campaign %(word)s: %(what)s") % {"word": word, "what": what}
        body = f"{counts}\n\n{campaign_url(campaign)}"
    else:
        return None
    return subject, body


def recipients(event: CampaignEvent) -> tuple[list[str], bool]:
    """(e-mail addresses, whether chat channels hear it)."""
    campaign = event.campaign
    to_approvers = event.kind in (CampaignEventKind.FILED, CampaignEventKind.BREAKER)
    to_requester = event.kind != CampaignEventKind.FILED
    addresses = []
    if to_approvers:
        users = list(get_user_model().objects.filter(is_active=True).exclude(email="").prefetch_related("groups"))
        policy.prime_roles(users)
        addresses += [
            user.email
            for user in users
            if policy.decides_anything(user)
            and policy.works_on(user, campaign.server)  # a tenant never hears of another's campaign
            and not policy.same_person(user, campaign.requester_id)
        ]
    if to_requester and campaign.requester is not None and campaign.requester.email:
        addresses.append(campaign.requester.email)
    chat = event.kind in (
        CampaignEventKind.FILED,
        CampaignEventKind.BREAKER,
        CampaignEventKind.COMPLETED,
        CampaignEventKind.ABORTED,
    )
    return sorted(set(addresses)), chat


def deliver(event_id: int) -> int:
    """The notify queue's job: send the event's messages; how many went out."""
    event = CampaignEvent.objects.select_related("campaign", "campaign__requester").get(pk=event_id)
    with translation.override(settings.LANGUAGE_CODE):
        composed = compose(event)
    if composed is None:
        return 0
    subject, body = composed
    addresses, chat = recipients(event)
    sent = 0
    for address in addresses if channels.email_enabled() else []:
        try:
            channels.send_email(address, subject, body, settings.LANGUAGE_CODE)
            sent += 1
        except channels.DeliveryFailed as exc:
            log.warning("campaign %s: e-mail not delivered: %s", event.campaign.uuid, exc)
    # The portal-wide channels (every server's) and the campaign's server's own (notifications/routing.py).
    for channel in channels.chat_channels() + channels.chat_channels("chat", event.campaign.server) if chat else []:
        try:
            channels.send_chat(channel.index, channel.key, subject, body, "text", "info", server=channel.server)
            sent += 1
        except channels.DeliveryFailed as exc:
            log.warning("campaign %s: chat %s not delivered: %s", event.campaign.uuid, channel.label, exc)
    return sent


def _enqueue(event_id: int) -> None:
    try:
        django_rq.get_queue(QUEUE).enqueue_call(
            deliver, args=(event_id,), job_id=f"notify-campaign-event-{event_id}", result_ttl=600, failure_ttl=86400
        )
    except Exception as exc:  # Redis down: the campaign's page still says it all
        log.warning("campaign event %s: could not queue its messages: %s", event_id, exc.__class__.__name__)


def on_event_saved(sender, instance: CampaignEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw or instance.kind not in KINDS or not channels.enabled():
        return
    transaction.on_commit(partial(_enqueue, instance.pk), robust=True)


post_save.connect(on_event_saved, sender=CampaignEvent, dispatch_uid="campaigns.notify.on_event_saved")
