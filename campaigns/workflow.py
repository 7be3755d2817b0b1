"""A campaign's decisions and status changes: approve, reject, pause, resume, abort, reverse, expire.

Each runs under the campaign's row lock, asks responses.policy.may_campaign first, and writes
its event to the campaign's keyed chain in the same transaction. The two-person rule is
responses.approvals' (the same as a request's): approvals are counted by person, never the
requester, each on the campaign's fingerprint (its sorted host keys).
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import trail, waves
from campaigns.models import (
    Campaign,
    CampaignDecision,
    CampaignEventKind,
    CampaignStatus,
    campaign_fingerprint,
)
from responses import approvals, policy, workflow
from responses.clock import database_now
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import ResponseRequest, Source, Status

log = logging.getLogger(__name__)

MAX_COMMENT = 4000


def _comment(value: Any, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRequest({"comment": [_("comment must be text.")]})
    value = value.strip()
    if required and not value:
        raise InvalidRequest({"comment": [_("Say why (the comment is required).")]})
    if len(value) > MAX_COMMENT:
        raise InvalidRequest({"comment": [_("comment is longer than %(max)d characters.") % {"max": MAX_COMMENT}]})
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in value):
        raise InvalidRequest({"comment": [_("comment must not contain control characters.")]})
    return value


def _locked(key: Campaign | uuid_module.UUID | str) -> Campaign:
    value = key.uuid if isinstance(key, Campaign) else key
    return Campaign.objects.select_for_update().get(uuid=value)


def get_for_user(user, key) -> Campaign:
    """A campaign by its public id, if this user may see it (Campaign.DoesNotExist otherwise: a 404)."""
    campaign = Campaign.objects.get(uuid=key)
    if not policy.may_campaign(user, policy.VIEW, campaign):
        raise Campaign.DoesNotExist
    if campaign.status == CampaignStatus.PENDING_APPROVAL and approvals.is_overdue(campaign, database_now()):
        _expire(campaign.pk)
        campaign.refresh_from_db()
    return campaign


def hosts_fingerprint(campaign: Campaign) -> str:
    """The fingerprint of the campaign's rows as they are now (the set approved, excluded hosts left out)."""
    keys = campaign.hosts.filter(excluded_reason="").values_list("host_id", flat=True)
    return campaign_fingerprint(campaign.task, campaign.params, campaign.server, list(keys))


def _act(key, user, action: str, comment: Any, body, *, required: bool = False, token=None) -> Campaign:
    text = _comment(comment, required=required)
    try:
        with transaction.atomic():
            campaign = _locked(key)
            policy.may_campaign(user, action, campaign, token=token).enforce()
            body(campaign, text)
    except IntegrityError:
        raise WrongStatus(_("You have already decided on this campaign.")) from None
    campaign.refresh_from_db()
    return campaign


def approve(key, *, user, comment: Any = "", token=None) -> Campaign:
    """Add this approver's approval; the campaign runs once it has the required number."""
    released = []

    def body(campaign: Campaign, text: str) -> None:
        if hosts_fingerprint(campaign) != campaign.fingerprint:
            raise NotAllowed(_("This campaign's host set changed after it was filed; it cannot be approved."))
        CampaignDecision.objects.create(
            campaign=campaign,
            approver=user,
            approver_username=user.get_username(),
            decision=approvals.APPROVED,
            comment=text,
            fingerprint=campaign.fingerprint,
        )
        decisions = list(campaign.decisions.all())
        people = approvals.approving_people(campaign, decisions)
        if approvals.is_approved_by(campaign, decisions):
            before = campaign.status
            campaign.status = CampaignStatus.RUNNING
            campaign.approved_at = campaign.decided_at = timezone.now()
            campaign.save(update_fields=["status", "approved_at", "decided_at", "updated_at"])
            trail.append(
                campaign,
                CampaignEventKind.APPROVED,
                user.get_username(),
                before,
                text,
                {"approvers": sorted(people.values())},
            )
            released.append(campaign.pk)
        else:
            trail.append(
                campaign,
                CampaignEventKind.APPROVAL_ADDED,
                user.get_username(),
                campaign.status,
                text,
                {"approvals": len(people), "approvals_required": campaign.approvals_required},
            )

    campaign = _act(key, user, policy.APPROVE, comment, body, token=token)
    for pk in released:
        _advance_soon(pk)
    return campaign


def reject(key, *, user, comment: Any, token=None) -> Campaign:
    def body(campaign: Campaign, text: str) -> None:
        CampaignDecision.objects.create(
            campaign=campaign,
            approver=user,
            approver_username=user.get_username(),
            decision=approvals.REJECTED,
            comment=text,
            fingerprint=campaign.fingerprint,
        )
        _close(campaign, CampaignStatus.REJECTED, CampaignEventKind.REJECTED, user.get_username(), text)

    return _act(key, user, policy.REJECT, comment, body, required=True, token=token)


def pause(key, *, user, comment: Any, token=None) -> Campaign:
    def body(campaign: Campaign, text: str) -> None:
        before = campaign.status
        campaign.status = CampaignStatus.PAUSED
        campaign.save(update_fields=["status", "updated_at"])
        trail.append(campaign, CampaignEventKind.PAUSED, user.get_username(), before, text)

    return _act(key, user, policy.PAUSE, comment, body, required=True, token=token)


def resume(key, *, user, comment: Any, token=None) -> Campaign:
    """RUNNING again; the breaker then judges only the hosts that finish from now on."""
    resumed = []

    def body(campaign: Campaign, text: str) -> None:
        before = campaign.status
        finished, bad = waves.breaker_counts(campaign)
        campaign.status = CampaignStatus.RUNNING
        campaign.breaker_baseline = finished
        campaign.save(update_fields=["status", "breaker_baseline", "updated_at"])
        trail.append(
            campaign, CampaignEventKind.RESUMED, user.get_username(), before, text, {"finished": finished, "bad": bad}
        )
        resumed.append(campaign.pk)

    campaign = _act(key, user, policy.RESUME, comment, body, required=True, token=token)
    for pk in resumed:
        _advance_soon(pk)
    return campaign


def abort(key, *, user, comment: Any, token=None) -> Campaign:
    """No new submissions: requests not yet claimed are withdrawn; what was sent stays sent."""

    def body(campaign: Campaign, text: str) -> None:
        withdrawn = 0
        for child in ResponseRequest.objects.select_for_update().filter(
            campaign_host__campaign=campaign, status__in=(Status.APPROVED, Status.QUEUED)
        ):
            child.decided_at = timezone.now()
            workflow.transition(
                child,
                workflow.WITHDRAW,
                actor=user.get_username(),
                message=f"Campaign {campaign.uuid} was aborted before this request was sent: {text}",
                detail={"campaign": str(campaign.uuid)},
                save=("decided_at",),
            )
            withdrawn += 1
        _close(
            campaign,
            CampaignStatus.ABORTED,
            CampaignEventKind.ABORTED,
            user.get_username(),
            text,
            {"withdrawn": withdrawn, **waves.counts_of(campaign)},
        )

    return _act(key, user, policy.ABORT, comment, body, required=True, token=token)


def _close(campaign: Campaign, status: str, kind: str, actor: str, text: str, detail: dict | None = None) -> None:
    before = campaign.status
    campaign.status = status
    campaign.decided_at = campaign.decided_at or timezone.now()
    campaign.finished_at = timezone.now()
    campaign.save(update_fields=["status", "decided_at", "finished_at", "updated_at"])
    trail.append(campaign, kind, actor, before, text, detail)


def _expire(pk: int) -> bool:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=pk)
        if campaign.status != CampaignStatus.PENDING_APPROVAL or not approvals.is_overdue(campaign, database_now()):
            return False
        _close(
            campaign,
            CampaignStatus.EXPIRED,
            CampaignEventKind.EXPIRED,
            trail.SYSTEM,
            "Nobody decided within the approval window.",
        )
    return True


def expire_overdue() -> int:
    now = database_now()
    keys = Campaign.objects.filter(status=CampaignStatus.PENDING_APPROVAL, expires_at__lte=now).values_list(
        "pk", flat=True
    )
    return sum(1 for pk in list(keys) if _expire(pk))


def reverse_hosts(campaign: Campaign) -> list[str]:
    """The hosts whose isolation this campaign submitted (what its reverse releases)."""
    return list(
        campaign.hosts.filter(request__status=Status.SUBMITTED).order_by("position").values_list("host_id", flat=True)
    )


def reverse(key, *, user, source: str = Source.WEB, token=None) -> Campaign:
    """File the release campaign of exactly the hosts whose isolation was submitted, through the same approvals."""
    from campaigns import filing

    campaign = Campaign.objects.get(uuid=key.uuid if isinstance(key, Campaign) else key)
    policy.may_campaign(user, policy.REVERSE, campaign, token=token).enforce()
    hosts = reverse_hosts(campaign)
    if not hosts:
        raise WrongStatus(_("No isolation of this campaign was submitted: there is nothing to release."))
    params = campaign.task_type.undo_params(campaign.params)
    reversal = filing.file_campaign(
        user,
        task=campaign.task,
        params=params,
        hosts=hosts,
        justification=f"Reverse of campaign {campaign.uuid}: {campaign.justification}"[: filing.MAX_JUSTIFICATION],
        external_ref=campaign.external_ref,
        server=campaign.server,
        override_reason=campaign.override_reason if policy.may_override_protected(user) else "",
        break_glass=len(hosts) > _max(),
        source=source,
        token=token,
        reverse_of=campaign,
    )
    with transaction.atomic():
        locked = _locked(campaign)
        trail.append(
            locked,
            CampaignEventKind.REVERSED,
            user.get_username(),
            locked.status,
            "",
            {"reversal": str(reversal.uuid), "hosts": len(hosts)},
        )
    return reversal


def _max() -> int:
    from django.conf import settings

    return settings.CAMPAIGN_MAX


def _advance_soon(pk: int) -> None:
    """Release the first wave right after the commit (the periodic duty would, a little later)."""

    def run() -> None:
        try:
            waves.advance(pk)
        except Exception:  # the duty tries again at its next run
            log.exception("campaign %s: releasing a wave after the decision failed", pk)

    transaction.on_commit(run)
