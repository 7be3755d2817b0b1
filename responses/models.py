"""Models of the response workflow (see DESIGN.md, "The life of a request").

Only responses.workflow changes a request's status; everything else reads.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from responses import catalog


class Status(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    APPROVED = "approved", _("Approved")
    QUEUED = "queued", _("Queued")
    SUBMITTING = "submitting", _("Submitting")
    SUBMITTED = "submitted", _("Submitted")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


# Requests still on their way to KSC (the reconciler and the "in flight" views use this).
IN_FLIGHT = (Status.APPROVED, Status.QUEUED, Status.SUBMITTING)
OPEN = (Status.PENDING_APPROVAL, *IN_FLIGHT)
TERMINAL = (Status.SUBMITTED, Status.REJECTED, Status.CANCELLED, Status.EXPIRED)
# FAILED is neither: an approver may retry it.
STATUS_COLORS = {
    Status.PENDING_APPROVAL: "amber",
    Status.APPROVED: "blue",
    Status.QUEUED: "blue",
    Status.SUBMITTING: "blue",
    Status.SUBMITTED: "green",
    Status.FAILED: "red",
    Status.REJECTED: "grey",
    Status.CANCELLED: "grey",
    Status.EXPIRED: "grey",
}


class Source(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")


def payload_fingerprint(task: str, target_host: str, params) -> str:
    """sha256 of exactly what is approved: task, host and params, canonically serialised."""
    canonical = json.dumps([task, target_host, params], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseRequest(models.Model):
    # Public identifier (URLs, API, RQ job id); the integer key never leaves the server.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task = models.CharField(max_length=32, choices=[(name, task.label) for name, task in catalog.TASKS.items()])
    target_host = models.CharField(max_length=catalog.MAX_HOST_ID, help_text="KSC internal host id")
    target_host_name = models.CharField(max_length=255, blank=True, help_text="display name when filed")
    params = models.JSONField()
    justification = models.TextField()
    external_ref = models.CharField(max_length=255, blank=True)
    fingerprint = models.CharField(max_length=64, editable=False)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="response_requests"
    )
    requester_username = models.CharField(max_length=150)  # survives user deletion
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    status = models.CharField(max_length=20, choices=Status.choices)
    approvals_required = models.PositiveSmallIntegerField()  # fixed when filed

    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # end of the approval window
    approved_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)  # approved, rejected, cancelled or expired
    queued_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # submitted or failed
    updated_at = models.DateTimeField(auto_now=True)

    # KLINCDT_ADDED, fixed before the first attempt so that a re-attempt can find
    # an incident that KSC stored but never confirmed (exactly-once).
    ksc_added = models.DateTimeField(null=True, blank=True)
    ksc_incident_id = models.BigIntegerField(null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every list's order is (created_at, id), newest or oldest first: each filter a list
        # offers has an index that ends in that order, so that a page at a million rows reads
        # its rows from the index instead of sorting the table (benchmarks/lists.py).
        # Substring search (host, q) goes through trigram indexes, made on PostgreSQL only
        # by migration 0009_list_indexes (SQLite has no pg_trgm).
        indexes = [
            # "All requests", the API list, the CSV export
            models.Index(fields=["created_at", "id"], name="rr_created_id_idx"),
            # approval queue (oldest first), status filter, reconciler and expiry sweeps
            models.Index(fields=["status", "created_at", "id"], name="rr_status_created_id_idx"),
            # "My requests"
            models.Index(fields=["requester", "created_at", "id"], name="rr_requester_created_id_idx"),
            models.Index(fields=["task", "created_at", "id"], name="rr_task_created_id_idx"),
            # the requester filter compares case-insensitively (UPPER(...) = UPPER(...))
            models.Index(Upper("requester_username"), "created_at", "id", name="rr_requester_name_upper_idx"),
            # the API's exact host and SIEM-reference filters
            models.Index(fields=["target_host"], name="rr_target_host_idx"),
            models.Index(fields=["external_ref"], name="rr_external_ref_idx"),
            # the hourly cap counts the last hour's submissions before every job
            models.Index(fields=["submitted_at"], name="rr_submitted_at_idx"),
        ]
        constraints = [
            # A re-attempt recognises its own incident in KSC by host, KLINCDT_ADDED and body:
            # two requests with the same task, host and params must never share that time.
            models.UniqueConstraint(fields=["fingerprint", "ksc_added"], name="rr_fingerprint_added_once"),
        ]

    def __str__(self) -> str:
        return f"{self.task} on {self.target_host_name or self.target_host} ({self.uuid})"

    @property
    def task_type(self) -> catalog.TaskType:
        return catalog.TASKS[self.task]

    @property
    def status_color(self) -> str:
        return STATUS_COLORS[Status(self.status)]

    def describe(self) -> str:
        return self.task_type.describe(self.params)


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class Approval(models.Model):
    request = models.ForeignKey(ResponseRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approver_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fingerprint = models.CharField(max_length=64)  # of the task, host and params decided on

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # the auditors' "Decided by" filter compares case-insensitively
            models.Index(Upper("approver_username"), name="approval_approver_upper_idx"),
        ]
        constraints = [
            # one decision per person per request: the same approver twice counts once
            models.UniqueConstraint(fields=["request", "approver_username"], name="approval_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_username}"


class EventKind(models.TextChoices):
    FILED = "filed", _("Filed")
    APPROVED = "approved", _("Approved")
    APPROVAL_ADDED = "approval_added", _("Approval added")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    QUEUED = "queued", _("Queued")
    ENQUEUE_FAILED = "enqueue_failed", _("Could not queue")
    ATTEMPT = "attempt", _("Submission attempt")
    SUBMITTED = "submitted", _("Submitted")
    FAILED = "failed", _("Failed")
    RETRIED = "retried", _("Retried")
    REQUEUED = "requeued", _("Re-queued")
    HELD = "held", _("Held back")


class RequestEvent(models.Model):
    """The domain audit trail: who did what to a request, when, why, before and after.

    Append-only: nothing in the UI, admin or API changes or deletes a row.
    """

    request = models.ForeignKey(ResponseRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    actor_username = models.CharField(max_length=150)  # text, so it survives user deletion; "system" for jobs
    status_before = models.CharField(max_length=20, blank=True)
    status_after = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The tamper-evident chain over every event of every request (verify_audit walks it):
    # seq numbers events without gaps, hash = sha256(prev_hash + this event's canonical content).
    seq = models.PositiveBigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="event_request_created_idx")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_username}"

    def canonical(self, request_uuid: str) -> str:
        """What the chain hash covers, serialised the same way every time."""
        return json.dumps(
            {
                "seq": self.seq,
                "request": request_uuid,
                "kind": self.kind,
                "actor": self.actor_username,
                "before": self.status_before,
                "after": self.status_after,
                "message": self.message,
                "detail": self.detail,
                "at": self.created_at.isoformat(),
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def compute_hash(self, request_uuid: str) -> str:
        return hashlib.sha256((self.prev_hash + self.canonical(request_uuid)).encode("utf-8")).hexdigest()


class AuditChainHead(models.Model):
    """One row: the last event of the chain. Locking it orders concurrent writers of events."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain at {self.last_seq}"


class AttemptOutcome(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ADOPTED = "adopted", _("Adopted an incident KSC already had")
    RETRYING = "retrying", _("Failed, will retry")
    FAILED = "failed", _("Failed")


class SubmissionAttempt(models.Model):
    """One try at AddIncident + UpdateIncident, for the request's timeline."""

    request = models.ForeignKey(ResponseRequest, on_delete=models.PROTECT, related_name="submission_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=AttemptOutcome.choices, blank=True)
    ksc_incident_id = models.BigIntegerField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)  # KSC's PxgError code
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["request", "number"]
        constraints = [models.UniqueConstraint(fields=["request", "number"], name="attempt_number_once")]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.outcome}"


# django-auditlog keeps field-level diffs beside the domain events. Password
# hashes and login times are never logged; sessions are not registered at all.
def _register_auditlog() -> None:
    from auditlog.registry import auditlog
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    auditlog.register(ResponseRequest)
    auditlog.register(Approval)
    auditlog.register(get_user_model(), exclude_fields=["password", "last_login"], m2m_fields={"groups"})
    auditlog.register(Group, m2m_fields={"permissions"})


_register_auditlog()


# --- The REST API (responses/api/) ----------------------------------------------------------


class ApiToken(models.Model):
    """A key a SIEM or script authenticates to the API with (``Authorization: Token <key>``).

    Only the key's sha256 is stored: the key itself is shown once, when issued
    (``manage.py create_api_token``), and cannot be read back from the database.
    The key is 256 random bits, so a plain (unsalted, fast) hash is enough.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="what the token is for, e.g. the SIEM's name")
    # The key's first characters, so that people can tell their tokens apart without the key.
    key_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… of {self.user}" + (f" ({self.name})" if self.name else "")


class IdempotencyKey(models.Model):
    """The first answer to a POST that carried an ``Idempotency-Key`` header, kept 24 hours.

    A retried POST with the same key gets this answer back instead of acting
    twice. The row is written in the same transaction as the action, so either
    both are kept or neither; the unique constraint makes a concurrent twin wait
    for the first and then replay its answer.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of the method, path and JSON body
    response_status = models.PositiveSmallIntegerField(null=True)
    # The answer as JSON text, not jsonb: an answer may quote what the client sent, and
    # PostgreSQL's jsonb refuses a \u0000 that JSON text carries as six harmless characters.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]
        indexes = [
            # the purge of a user's expired keys before each keyed POST
            models.Index(fields=["user", "created_at"], name="idempotency_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of {self.user_id}"


def _register_api_auditlog() -> None:
    from auditlog.registry import auditlog

    # Who issued or revoked which token is audited; the hash and the use stamp are not.
    auditlog.register(ApiToken, exclude_fields=["key_hash", "last_used_at"])


_register_api_auditlog()
