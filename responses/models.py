"""Models of the response workflow (docs/architecture.md, "The life of a request").

Only responses.workflow changes a request's status; everything else reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models.functions import Now, Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from responses import approvals, catalog, policy
from responses.states import PRIMARY_SERVER, SERVER_NAME_LENGTH, Status

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
    # Blue, not green: "submitted" is not "done"; only the outcome on the host turns green.
    Status.SUBMITTED: "blue",
    Status.FAILED: "red",
    Status.REJECTED: "grey",
    Status.CANCELLED: "grey",
    Status.EXPIRED: "grey",
    Status.SCHEDULED: "blue",
}


class Source(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")


def payload_fingerprint(
    task: str, target_host: str, params, server: str = PRIMARY_SERVER, isolation_end: dict | None = None
) -> str:
    """sha256 of exactly what is approved: task, host and params, canonically serialised, and the KSC server.

    The server enters only when it is not ``primary``: every request filed before several servers
    (all of them on ``primary``) keeps the fingerprint its FILED audit event holds
    (docs/audit-chain.md), and a request on another server can never share one with it.
    An isolation's end (``ResponseRequest.isolation_end``, responses/isolation.py) is part of what
    approvers approve: when there is one it is hashed too; without one the hash is what it always was.
    """
    content = [task, target_host, params] if server == PRIMARY_SERVER else [task, target_host, params, server]
    if isolation_end is not None:
        content.append({"isolation_end": isolation_end})
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseRequestQuerySet(models.QuerySet):
    def visible_to(self, user) -> ResponseRequestQuerySet:
        """The requests ``user`` may see, as responses.policy decides."""
        rule = policy.visible_filter(user)
        return self if rule is None else self.filter(rule)

    def decidable_by(self, user) -> ResponseRequestQuerySet:
        """The requests ``user`` may approve or reject now, as responses.policy.may_decide decides (in SQL)."""
        rule = policy.decidable_filter(user)
        return self.none() if rule is None else self.filter(rule)

    def awaiting_decision(self) -> ResponseRequestQuerySet:
        """The approval queue: pending approval and still in their window, oldest first.

        Requests past their approval window are left out: they can only expire now.
        """
        return (
            self.filter(status=Status.PENDING_APPROVAL)
            .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=Now()))  # the database's clock
            .order_by("created_at", "id")
        )


class ResponseRequest(models.Model):
    # Public identifier (URLs, API, RQ job id); the integer key never leaves the server.
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task = models.CharField(max_length=32, choices=[(name, task.label) for name, task in catalog.TASKS.items()])
    # The KSC server (an entry's name in KSC_SERVERS) that holds the host and gets the incident: host ids,
    # incident ids and task ids are unique per server, not portal-wide (README, "Several KSC servers").
    server = models.CharField(max_length=SERVER_NAME_LENGTH, default=PRIMARY_SERVER)
    target_host = models.CharField(max_length=catalog.MAX_HOST_ID, help_text="KSC internal host id")
    target_host_name = models.CharField(max_length=255, blank=True, help_text="display name when filed")
    params = models.JSONField()
    justification = models.TextField()
    external_ref = models.CharField(max_length=255, blank=True)
    # The uploaded file name of each IOC archive in params, by field ({"ioc": "iocs.zip"}): web form only,
    # shown beside the archive's size and SHA-256; never sent to KSC, not part of the fingerprint.
    archive_names = models.JSONField(default=dict, blank=True)
    # An isolation's end as filed and approved (responses/isolation.py): {"hours": 4},
    # {"until": "<UTC ISO 8601>", "tz": "<the filer's time zone>"} or {"until_released": "<reason>"};
    # None for every other request. Part of the fingerprint; the live schedule is its Isolation row.
    isolation_end = models.JSONField(null=True, blank=True)
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
    ksc_incident_id = models.BigIntegerField(null=True, blank=True)  # unique per server (Meta)
    # When an attempt last ended without knowing whether KSC carried out its AddIncident
    # (a read timeout, a connection dropped after sending, a fault after sending, an attempt
    # whose end was never recorded); None while nothing is unknown. A re-attempt does not
    # add again until KSC_ADD_SETTLE has passed since; a FAILED request with it set is
    # looked for in KSC for KSC_UNKNOWN_OUTCOME_SEARCH after it failed.
    ksc_unknown_since = models.DateTimeField(null=True, blank=True)
    # When to look in KSC once more for late copies of this request's incident (set on
    # success after an outcome-unknown failure; None when no check is due).
    ksc_recheck_at = models.DateTimeField(null=True, blank=True)
    # When the last outcome-unknown AddIncident of a request that then succeeded was given up: KSC
    # may carry it out at any later time, so late copies are looked for (ksc_recheck_at, growing
    # intervals) until KSC_UNKNOWN_OUTCOME_SEARCH after it; None when no search runs.
    ksc_search_from = models.DateTimeField(null=True, blank=True)
    ksc_search_checks = models.PositiveIntegerField(default=0)  # late duplicate checks made so far
    # A QUEUED request that waits: when its next try is due (by the database's clock) and why
    # (WaitReason). The keeper queues it then, whatever Redis and the local clock hold.
    next_try_at = models.DateTimeField(null=True, blank=True)
    wait_reason = models.CharField(max_length=16, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = ResponseRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every list's order is (created_at, id), newest or oldest first: each filter a list
        # offers has an index that ends in that order, so that a page at a million rows reads
        # its rows from the index instead of sorting the table (benchmarks/lists.py).
        # Substring search (host, q) goes through trigram indexes, made on PostgreSQL only
        # by migration 0015_list_indexes (SQLite has no pg_trgm).
        indexes = [
            # "All requests", the API list, the CSV export
            models.Index(fields=["created_at", "id"], name="rr_created_id_idx"),
            # approval queue (oldest first), status filter, reconciler and expiry sweeps
            models.Index(fields=["status", "created_at", "id"], name="rr_status_created_id_idx"),
            # "My requests"
            models.Index(fields=["requester", "created_at", "id"], name="rr_requester_created_id_idx"),
            # a tenant's lists (policy.visible_filter's server__in), the per-server caps and sweeps
            models.Index(fields=["server", "created_at", "id"], name="rr_server_created_id_idx"),
            models.Index(fields=["task", "created_at", "id"], name="rr_task_created_id_idx"),
            # the requester filter compares case-insensitively (UPPER(...) = UPPER(...))
            models.Index(Upper("requester_username"), "created_at", "id", name="rr_requester_name_upper_idx"),
            # the API's exact host and SIEM-reference filters
            models.Index(fields=["target_host"], name="rr_target_host_idx"),
            # the host filter: the names the host directory matched (responses/host_directory.py)
            models.Index(fields=["target_host_name"], name="rr_target_host_name_idx"),
            models.Index(fields=["external_ref"], name="rr_external_ref_idx"),
            # the hourly cap counts the last hour's submissions before every job
            models.Index(fields=["submitted_at"], name="rr_submitted_at_idx"),
            # the portal's isolation note per host (responses/host_state.py): the newest submitted isolation or release
            models.Index(
                fields=["target_host", "submitted_at", "id"],
                name="rr_isolation_host_idx",
                condition=models.Q(task="isolateHost", status="submitted"),
            ),
            # "Needs attention" and its menu count: the requester's requests changed in the last ATTENTION_DAYS
            models.Index(fields=["requester", "updated_at"], name="rr_requester_updated_idx"),
            # the keeper's look for due tries (every second) and the late duplicate checks
            models.Index(
                fields=["next_try_at"], name="rr_next_try_at_idx", condition=models.Q(next_try_at__isnull=False)
            ),
            models.Index(
                fields=["ksc_recheck_at"], name="rr_ksc_recheck_at_idx", condition=models.Q(ksc_recheck_at__isnull=False)
            ),
        ]
        constraints = [
            # A re-attempt recognises its own incident in KSC by host, KLINCDT_ADDED and body:
            # two requests with the same task, host and params must never share that time.
            models.UniqueConstraint(fields=["fingerprint", "ksc_added"], name="rr_fingerprint_added_once"),
            # One incident belongs to one request; two servers may each have an incident 17.
            models.UniqueConstraint(fields=["server", "ksc_incident_id"], name="rr_incident_once_per_server"),
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

    def content_fingerprint(self) -> str:
        """The fingerprint of the row's content now (compared with the one filed and approved)."""
        return payload_fingerprint(self.task, self.target_host, self.params, self.server, self.isolation_end)

    @property
    def ksc_outcome_unknown(self) -> bool:
        """FAILED, but KSC may have created the incident: the reconciler keeps looking for it."""
        return self.status == Status.FAILED and self.ksc_incident_id is None and self.ksc_unknown_since is not None

    @property
    def outcome_view(self):
        """The outcome on the host for pages (outcome_of below); None before SUBMITTED."""
        return outcome_of(self)

    def approvals_given_so_far(self) -> int:
        """How many approvals it has (read from prefetched approvals when there are): the "1 of 2" on pages.

        Lists annotate the same count in SQL instead (responses.views.lists._list_rows).
        """
        return len(approvals.approving_people(self, self.approvals.all()))


class HostDirectoryEntry(models.Model):
    """A name the portal has known a KSC host by: one row per host id and display name.

    Filled when a request is filed (the name KSC gave at filing) and whenever KSC answers a
    host look-up (the host search, the filing's check, the host page), and once from every
    existing request by migration 0021. The auditors' host filter searches here, where the
    hosts are few (thousands), by trigram, then reads the requests by host id through the
    btree index rr_target_host_idx, instead of a trigram search over a million requests
    (responses/host_directory.py). A renamed host keeps a row per name, so a search by the
    name a request was filed under still finds it.
    """

    host_id = models.CharField(max_length=catalog.MAX_HOST_ID, help_text="KSC internal host id")
    display_name = models.CharField(max_length=255, blank=True)
    fqdn = models.CharField(max_length=255, blank=True)
    # The KSC server (its name in KSC_SERVERS) that holds the host: host ids are unique per server only.
    server = models.CharField(max_length=255, default=PRIMARY_SERVER)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "responses_hostdirectory"
        # Substring search on host_id, display_name and fqdn goes through trigram indexes made on
        # PostgreSQL by migration 0023_host_directory (like 0015's for the requests).
        constraints = [
            # One row per host and name; the unique index also serves "every name of this host".
            models.UniqueConstraint(fields=["server", "host_id", "display_name"], name="hostdir_server_host_name_once"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.host_id} ({self.host_id})"


class DecisionKind(models.TextChoices):
    """What an approver decided: approve or reject."""

    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class Decision(models.Model):
    """One approver's decision on a request: an approval or a rejection (``kind`` of it in ``decision``).

    Called Approval before 0017; the table keeps its name (responses_approval), so the
    append-only triggers of 0005 and the audit history stay attached to it.
    """

    request = models.ForeignKey(ResponseRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approver_username = models.CharField(max_length=150)  # as at the decision: for display, and after deletion
    decision = models.CharField(max_length=8, choices=DecisionKind.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    fingerprint = models.CharField(max_length=64)  # of the task, host and params decided on

    class Meta:
        db_table = "responses_approval"
        ordering = ["created_at", "id"]
        indexes = [
            # the auditors' "Decided by" filter compares case-insensitively
            models.Index(Upper("approver_username"), name="approval_approver_upper_idx"),
        ]
        constraints = [
            # One decision per person per request, by user id: a username can be changed (an
            # admin renaming an approver must not let them approve twice) and a deleted user's
            # rows (approver NULL, the username kept for display) never collide with anyone's.
            models.UniqueConstraint(fields=["request", "approver"], name="approval_once_per_user"),
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
    # Before the split into claimed, adopted and retry_scheduled: kept so that older rows stay readable
    # (the audit chain hashes rows as written: they are never rewritten). Nothing writes it now.
    ATTEMPT = "attempt", _("Submission attempt")
    CLAIMED = "claimed", _("Submission attempt started")
    ADOPTED = "adopted", _("Incident found in KSC adopted")
    RETRY_SCHEDULED = "retry_scheduled", _("Retry scheduled")
    SUBMITTED = "submitted", _("Submitted")
    FAILED = "failed", _("Failed")
    RETRIED = "retried", _("Retried")
    REQUEUED = "requeued", _("Re-queued")
    HELD = "held", _("Held back")
    DUPLICATE_CHECK = "duplicate_check", _("Checked KSC for duplicates")
    DUPLICATE_REMOVED = "duplicate_removed", _("Duplicate removed")
    DUPLICATE_KEPT = "duplicate_kept", _("Duplicate NOT removed")
    FOUND_IN_KSC = "found_in_ksc", _("Found in KSC")
    SEARCH_ENDED = "search_ended", _("Stopped looking in KSC")
    OUTCOME = "outcome", _("Outcome on the host")
    # A question or an answer on a pending request, without deciding (responses/comments.py).
    COMMENT = "comment", _("Comment")
    # Nobody decided within the approval SLA: told tier 2 and on-call, then named managers (notifications/escalation.py).
    ESCALATED = "escalated", _("Escalated")
    # An approver said "I am looking at it" (from chat or the page), so that two do not both start (responses/review.py).
    REVIEW_CLAIMED = "review_claimed", _("Claimed for review")
    # An approver snoozed a waiting request's reminder from chat: it comes back at detail["until"].
    SNOOZED = "snoozed", _("Reminder snoozed")
    # An isolation's end and its paired release (responses/isolation.py).
    RELEASE_SCHEDULED = "release_scheduled", _("Release scheduled")
    RELEASE_MOVED = "release_moved", _("Release moved")
    STOOD_DOWN = "stood_down", _("Scheduled release stood down")
    ISOLATION_ENDING = "isolation_ending", _("Isolation ends soon")
    ISOLATION_HELD = "isolation_held", _("Isolation held")
    EXTENSION_FILED = "extension_filed", _("Extension asked")
    EXTENSION_DECIDED = "extension_decided", _("Extension decided")


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
    # When the system worded ``message``: which message it is and its arguments (responses/trail_messages.py),
    # so that pages show it in the reader's language. Not hashed: shown only when they give back ``message``.
    message_id = models.TextField(blank=True, default="")
    message_args = models.JSONField(default=dict, blank=True)
    # Each request's events form their own keyed hash chain (docs/audit-chain.md):
    # seq numbers them 1, 2, 3... without gaps, hash = HMAC(AUDIT_CHAIN_KEY, prev_hash + canonical).
    # One chain per request lets workers and web processes append to different requests in parallel.
    seq = models.PositiveIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="event_request_created_idx")]
        constraints = [
            # the chain never forks: a second writer with the same seq fails instead of branching
            models.UniqueConstraint(fields=["request", "seq"], name="event_seq_once_per_request"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_username}"

    @property
    def chain(self) -> str:
        return str(self.request.uuid)

    def content(self) -> dict:
        """What the chain's HMAC covers, besides the chain name, seq and prev_hash."""
        return {
            "kind": self.kind,
            "actor": self.actor_username,
            "before": self.status_before,
            "after": self.status_after,
            "message": self.message,
            "detail": self.detail,
            "at": self.created_at.isoformat(),
        }


class AttemptOutcome(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ADOPTED = "adopted", _("Adopted an incident KSC already had")
    RETRYING = "retrying", _("Failed, will retry")
    FAILED = "failed", _("Failed")
    # Its end was never recorded (the database or the worker failed first); closed at the next chance.
    INTERRUPTED = "interrupted", _("Interrupted; KSC may have created the incident")


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


class OutcomeState(models.TextChoices):
    """What happened on the endpoint after SUBMITTED, as KSC's ``[Response]`` task tells it (docs/outcomes.md)."""

    WAITING = "waiting", _("Waiting for the KSC task")
    PENDING = "pending", _("Pending on the host")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    WARNING = "warning", _("Completed with warning")
    FAILED = "failed", _("Failed")
    NO_TASK = "no_task", _("No task appeared")
    GONE = "gone", _("Task gone")
    UNKNOWN = "unknown", _("Unknown (KSC unreachable)")


# Outcomes after which the request page stops refreshing. NO_TASK is final for people,
# but the sweep still adopts a task that appears late, until tracking ends.
OUTCOME_FINAL = (
    OutcomeState.COMPLETED,
    OutcomeState.WARNING,
    OutcomeState.FAILED,
    OutcomeState.NO_TASK,
    OutcomeState.GONE,
)
OUTCOME_COLORS = {
    OutcomeState.WAITING: "blue",
    OutcomeState.PENDING: "blue",
    OutcomeState.RUNNING: "blue",
    OutcomeState.COMPLETED: "green",
    OutcomeState.WARNING: "amber",
    OutcomeState.FAILED: "red",
    OutcomeState.NO_TASK: "red",
    OutcomeState.GONE: "grey",
    OutcomeState.UNKNOWN: "amber",
}


class ResponseOutcome(models.Model):
    """The endpoint's outcome of a submitted request: the ``[Response]`` task the portal follows.

    Written only by responses.outcomes (the sweep); one row per SUBMITTED request.
    """

    request = models.OneToOneField(ResponseRequest, on_delete=models.PROTECT, related_name="outcome")
    # The request's server, copied here so that a task id is unique per server (Meta).
    server = models.CharField(max_length=SERVER_NAME_LENGTH, default=PRIMARY_SERVER)
    state = models.CharField(max_length=12, choices=OutcomeState.choices, default=OutcomeState.WAITING)
    since = models.DateTimeField(default=timezone.now)  # when the state last changed
    # KSC's task id (a decimal string); unique per server, so two requests can never claim one task.
    ksc_task_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: no task yet, never equal
    ksc_task_name = models.CharField(max_length=255, blank=True)
    ksc_task_created = models.DateTimeField(null=True, blank=True)
    matched_by = models.CharField(max_length=255, blank=True)  # how the task was recognised as this request's
    reason = models.TextField(blank=True)  # KSC's reason for a failure or warning, or why tracking stopped
    checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)  # tracking ended (final state, or 30 days passed)

    class Meta:
        indexes = [
            # the sweep: open outcomes due for a check, soonest first
            models.Index(fields=["closed_at", "next_check_at"], name="outcome_open_due_idx"),
            # list filters by outcome
            models.Index(fields=["state"], name="outcome_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["server", "ksc_task_id"], name="outcome_task_once_per_server"),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()} ({self.request_id})"

    @property
    def color(self) -> str:
        return OUTCOME_COLORS[OutcomeState(self.state)]

    @property
    def is_final(self) -> bool:
        return self.state in OUTCOME_FINAL or self.closed_at is not None


# django-auditlog keeps field-level diffs beside the domain events (users and groups: accounts/models.py).
def _register_auditlog() -> None:
    from auditlog.registry import auditlog

    auditlog.register(ResponseRequest)
    auditlog.register(Decision)


_register_auditlog()


# --- The REST API (responses/api/) ----------------------------------------------------------


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


# --- The new-request form (responses/ioc_store.py) ---------------------------------------------


class StoredIocArchive(models.Model):
    """An IOC archive uploaded with a preview, kept here until it is filed, by its SHA-256.

    The signed preview names the archive by its digest instead of carrying 14 MB of base64
    to the browser and back (issue 23, point 16). Kept for PREVIEW_MAX_AGE, a few per user;
    the keeper deletes older ones. A filed request keeps its archive in its own params.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()
    stored_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "sha256"], name="stored_ioc_archive_once_per_user")]

    def __str__(self) -> str:
        return f"{self.sha256} of {self.user_id}"


# --- reading outcomes (responses.outcomes follows them in KSC) --------------------------------


@dataclass(frozen=True)
class OutcomeView:
    """An outcome as pages and the API show it; a submitted request without a row yet reads as waiting."""

    state: str
    label: str
    color: str
    since: dt.datetime | None
    ksc_task_id: str | None
    ksc_task_name: str
    reason: str
    matched_by: str
    final: bool
    tracking: bool


def outcome_of(request: ResponseRequest) -> OutcomeView | None:
    """The request's outcome, or None before it reached KSC (only SUBMITTED requests have one)."""
    outcome = getattr(request, "outcome", None) if _has_outcome_row(request) else None
    if outcome is None:
        if request.status != Status.SUBMITTED:
            return None
        state = OutcomeState.WAITING
        return OutcomeView(
            state=state.value,
            label=str(state.label),
            color="blue",
            since=request.submitted_at,
            ksc_task_id=None,
            ksc_task_name="",
            reason="",
            matched_by="",
            final=False,
            tracking=True,
        )
    return OutcomeView(
        state=outcome.state,
        label=str(OutcomeState(outcome.state).label),
        color=outcome.color,
        since=outcome.since,
        ksc_task_id=outcome.ksc_task_id,
        ksc_task_name=outcome.ksc_task_name,
        reason=outcome.reason,
        matched_by=outcome.matched_by,
        final=outcome.is_final,
        tracking=outcome.closed_at is None,
    )


def _has_outcome_row(request: ResponseRequest) -> bool:
    try:
        request.outcome  # noqa: B018 - the reverse one-to-one raises when there is no row
    except ResponseOutcome.DoesNotExist:
        return False
    return True


# --- Protected hosts (responses/protected.py) -------------------------------------------------


class ProtectedHostRule(models.Model):
    """A host, KSC group or name pattern that no request or campaign acts on without an override.

    The admin-managed half of the protected hosts; the other half is PROTECTED_HOSTS_FILE.
    Exactly one of host_id, group and name is set. ``tasks`` empty: every task that changes the
    endpoint. Every change is kept by django-auditlog (who, when, before and after).
    """

    host_id = models.CharField(max_length=catalog.MAX_HOST_ID, blank=True, help_text="KSC internal host id")
    group = models.CharField(max_length=500, blank=True, help_text="KSC administration group path or name")
    name = models.CharField(max_length=255, blank=True, help_text="display name pattern, * and ? as wildcards")
    tasks = models.JSONField(default=list, blank=True, help_text="task names; empty: every task that changes the host")
    reason = models.CharField(max_length=500)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (~models.Q(host_id="") & models.Q(group="") & models.Q(name=""))
                    | (models.Q(host_id="") & ~models.Q(group="") & models.Q(name=""))
                    | (models.Q(host_id="") & models.Q(group="") & ~models.Q(name=""))
                ),
                name="protected_rule_one_target",
            )
        ]

    def __str__(self) -> str:
        return self.host_id or self.group or self.name

    def as_rule(self) -> dict:
        rule = {"host": self.host_id} if self.host_id else {"group": self.group} if self.group else {"name": self.name}
        if self.tasks:
            rule["tasks"] = list(self.tasks)
        return rule

# --- Isolate until (responses/isolation.py) -------------------------------------------------


class IsolationKind(models.TextChoices):
    PORTAL = "portal", _("Isolation with an end the portal keeps")
    # iocScan with isolateHost: KES isolates when an IOC is found and may end it by its own policy.
    IOC_SCAN = "ioc_scan", _("Isolation set by the IOC scan, ends by KES policy")


class IsolationState(models.TextChoices):
    AWAITING = "awaiting", _("Approved, not yet in effect")
    ACTIVE = "active", _("Isolated")
    RELEASING = "releasing", _("Release on its way")
    RELEASED = "released", _("Released")
    SUPERSEDED = "superseded", _("Superseded by a newer isolation change")
    FAILED = "failed", _("Isolation did not take effect")


ISOLATION_OPEN = (IsolationState.AWAITING, IsolationState.ACTIVE, IsolationState.RELEASING)


class Isolation(models.Model):
    """An approved isolation and the schedule of its end: one row per isolating request.

    Written only by responses.isolation. The end as approved is the request's ``isolation_end``
    (in its fingerprint); this row is the live schedule: when the isolation took effect, the
    planned end (moved only by an approved extension), a hold, and the paired release request
    that the keeper submits at ``release_at`` (claimed with select_for_update(skip_locked)).
    """

    request = models.OneToOneField(ResponseRequest, on_delete=models.PROTECT, related_name="isolation")
    release = models.OneToOneField(
        ResponseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="released_isolation"
    )
    kind = models.CharField(max_length=10, choices=IsolationKind.choices, default=IsolationKind.PORTAL)
    state = models.CharField(max_length=12, choices=IsolationState.choices, default=IsolationState.AWAITING)
    host_id = models.CharField(max_length=catalog.MAX_HOST_ID)
    host_name = models.CharField(max_length=255, blank=True)
    since = models.DateTimeField(null=True, blank=True)  # when it took effect (task completed, or submitted)
    release_at = models.DateTimeField(null=True, blank=True)  # the planned end; None: until released, or not yet known
    until_released = models.BooleanField(default=False)
    until_released_reason = models.TextField(blank=True)
    held_by = models.CharField(max_length=150, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    warned_for = models.DateTimeField(null=True, blank=True)  # the end the last warning was about
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # the keeper's look for due releases and due warnings (responses.isolation.run_due_releases)
            models.Index(fields=["state", "release_at"], name="isolation_state_release_idx"),
            # "Isolated now" and the host page: a host's open isolations
            models.Index(fields=["host_id", "state"], name="isolation_host_state_idx"),
        ]

    def __str__(self) -> str:
        return f"isolation of {self.host_name or self.host_id} ({self.state})"


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Withdrawn")
    EXPIRED = "expired", _("Expired")


class IsolationExtension(models.Model):
    """A new end for an isolation, approved like the isolation (responses.approvals' NeedsApprovals)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    isolation = models.ForeignKey(Isolation, on_delete=models.PROTECT, related_name="extensions")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requester_username = models.CharField(max_length=150)
    release_at = models.DateTimeField()  # the new end asked for (UTC)
    time_zone = models.CharField(max_length=64, blank=True)  # the asker's, to show the end as they typed it
    justification = models.TextField()
    fingerprint = models.CharField(max_length=64)
    approvals_required = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=ExtensionStatus.choices, default=ExtensionStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"extension of {self.isolation_id} to {self.release_at.isoformat()} ({self.status})"


class ExtensionDecision(models.Model):
    """One approver's decision on an extension (responses.approvals reads it like a Decision)."""

    extension = models.ForeignKey(IsolationExtension, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    approver_username = models.CharField(max_length=150)
    decision = models.CharField(max_length=8, choices=DecisionKind.choices)
    comment = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["extension", "approver"], name="extension_decision_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_username}"


# --- Several KSC servers (issue 26, point 6) ---------------------------------------------------


class KscServerState(models.Model):
    """What the portal last knew of one KSC server: its last contact, its last login, whether it is unreachable.

    One row per server name, written by responses/server_state.py when the submission job, the
    outcome sweep or ``manage.py ksc_check`` talk to it; the admin's "KSC servers" page lists
    them with each server's queue. No credential and no KSC answer body is kept here.
    """

    server = models.CharField(max_length=SERVER_NAME_LENGTH, unique=True)
    last_contact = models.DateTimeField(null=True, blank=True)  # the last call KSC answered
    last_login_ok = models.BooleanField(null=True, blank=True)  # None: never tried
    last_login_at = models.DateTimeField(null=True, blank=True)
    unreachable_since = models.DateTimeField(null=True, blank=True)  # None while it answers
    last_error = models.TextField(blank=True)  # the portal's words for the last trouble (never a secret)
    last_probe = models.TextField(blank=True)  # the result of the last ksc_check --probe

    class Meta:
        ordering = ["server"]
        verbose_name = "KSC server"

    def __str__(self) -> str:
        return self.server
