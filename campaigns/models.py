"""Response campaigns: one task for many hosts, approved as one set (README, "Campaigns").

A campaign carries the task, params, justification, reference, server and the host set frozen
at filing, and the approvals; each host gets an ordinary ``ResponseRequest`` of its own when its
wave is released (own incident, outcome, trail and exactly-once machinery), linked here through
``CampaignHost.request``. responses/ never imports this app: campaigns stand above it.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from responses import catalog
from responses.models import ResponseRequest, Source


class CampaignStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    ABORTED = "aborted", _("Aborted")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


OPEN = (CampaignStatus.PENDING_APPROVAL, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
ACTIVE = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
STATUS_COLORS = {
    CampaignStatus.PENDING_APPROVAL: "amber",
    CampaignStatus.RUNNING: "blue",
    CampaignStatus.PAUSED: "amber",
    CampaignStatus.COMPLETED: "green",
    CampaignStatus.ABORTED: "grey",
    CampaignStatus.REJECTED: "grey",
    CampaignStatus.EXPIRED: "grey",
}


def campaign_fingerprint(task: str, params, server: str, host_keys) -> str:
    """sha256 of what approvers approve: the task, params, server and the sorted host keys."""
    canonical = json.dumps(
        [task, params, server, sorted(host_keys)], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Campaign(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task = models.CharField(max_length=32)
    params = models.JSONField()
    justification = models.TextField()
    external_ref = models.CharField(max_length=255, blank=True)
    server = models.CharField(max_length=64, default="primary", help_text="KSC server name")
    fingerprint = models.CharField(max_length=64, editable=False)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requester_username = models.CharField(max_length=150)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    status = models.CharField(max_length=20, choices=CampaignStatus.choices)
    approvals_required = models.PositiveSmallIntegerField()
    # Why N approvals: a list of {"code": ..., args} rendered in the reader's language (campaigns.sizing).
    approval_reasons = models.JSONField(default=list, blank=True)
    break_glass = models.BooleanField(default=False)  # filed above CAMPAIGN_MAX under the break-glass permission
    override_reason = models.TextField(blank=True)  # protected hosts included on purpose, and why
    # Lines of the pasted list that named no host, or more than one: [{"line", "reason"}]
    unresolved = models.JSONField(default=list, blank=True)
    canary_size = models.PositiveIntegerField(default=0)
    wave_size = models.PositiveIntegerField(default=50)
    # Hosts finished when an approver last resumed: the breaker judges the hosts that finish after it.
    breaker_baseline = models.PositiveIntegerField(default=0)
    reverse_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")

    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("file_large_campaign", "Can file a campaign above CAMPAIGN_MAX hosts (break glass)"),
            ("override_protected_hosts", "Can include protected hosts in a request or campaign"),
        ]
        indexes = [
            # the campaign list, newest first; the wave duty's RUNNING campaigns
            models.Index(fields=["status", "created_at", "id"], name="campaign_status_created_idx"),
            models.Index(fields=["created_at", "id"], name="campaign_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task} on {self.hosts.count()} hosts ({self.uuid})"

    @property
    def task_type(self) -> catalog.TaskType:
        return catalog.TASKS[self.task]

    def describe(self) -> str:
        return self.task_type.describe(self.params)

    @property
    def status_color(self) -> str:
        return STATUS_COLORS[CampaignStatus(self.status)]


class CampaignHost(models.Model):
    """One host of a campaign's frozen set, and its request once its wave was released."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="hosts")
    position = models.PositiveIntegerField()  # the release order
    host_id = models.CharField(max_length=catalog.MAX_HOST_ID)
    display_name = models.CharField(max_length=255, blank=True)
    group_name = models.CharField(max_length=500, blank=True)
    os_name = models.CharField(max_length=255, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    request = models.OneToOneField(
        ResponseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="campaign_host"
    )
    wave = models.PositiveIntegerField(null=True, blank=True)  # 0: the canary
    # Excluded at filing (protected, not in the set approved) or skipped at submission: why, in English.
    excluded_reason = models.TextField(blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    # Held at release (another isolation change in flight, the host's task budget): why, for the page.
    held_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "host_id"], name="campaign_host_once")]
        indexes = [
            # the release: the next hosts of a campaign without a request, in order
            models.Index(fields=["campaign", "wave", "position"], name="campaign_host_wave_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.host_id

    @property
    def excluded(self) -> bool:
        return bool(self.excluded_reason)


class CampaignDecision(models.Model):
    """One approver's approval or rejection of a campaign (the two-person rule of responses.approvals)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approver_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=8)  # responses.approvals.APPROVED / REJECTED
    comment = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "approver"], name="campaign_decision_once")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_username}"


class CampaignEventKind(models.TextChoices):
    FILED = "filed", _("Filed")
    APPROVAL_ADDED = "approval_added", _("Approval added")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    WAVE_RELEASED = "wave_released", _("Wave released")
    HOST_SKIPPED = "host_skipped", _("Host skipped")
    PAUSED = "paused", _("Paused")
    BREAKER = "breaker", _("Paused by the circuit breaker")
    RESUMED = "resumed", _("Resumed")
    ABORTED = "aborted", _("Aborted")
    COMPLETED = "completed", _("Completed")
    REVERSED = "reversed", _("Reverse filed")


class CampaignEvent(models.Model):
    """The campaign's trail: a keyed hash chain of its own (named ``campaign:<uuid>``)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=CampaignEventKind.choices)
    actor_username = models.CharField(max_length=150)
    status_before = models.CharField(max_length=20, blank=True)
    status_after = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["campaign", "seq"]
        constraints = [models.UniqueConstraint(fields=["campaign", "seq"], name="campaign_event_seq_once")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_username}"

    @property
    def chain(self) -> str:
        return f"campaign:{self.campaign.uuid}"

    def content(self) -> dict:
        return {
            "kind": self.kind,
            "actor": self.actor_username,
            "before": self.status_before,
            "after": self.status_after,
            "message": self.message,
            "detail": self.detail,
            "at": self.created_at.isoformat(),
        }
