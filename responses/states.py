"""The request statuses, the transitions between them, and API token scopes: plain data, apart from the models.

responses.policy decides by them, and the models' ``visible_to`` asks the policy:
keeping the choices in this leaf module is what lets both import without a cycle.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.scopes import TokenScope  # noqa: F401 (its home is accounts/scopes.py; re-exported)

# The KSC server of every row from before several servers (issue 26): today's KSC_* variables are
# the server named "primary", and migration 0026 put every existing request, host and task on it.
# A request on this server keeps the fingerprint it had before servers existed (models.payload_fingerprint).
PRIMARY_SERVER = "primary"
SERVER_NAME_LENGTH = 32  # portal/ksc_servers.py refuses longer names


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
    # The paired release of an approved isolation, waiting for the isolation's end (responses/isolation.py).
    SCHEDULED = "scheduled", _("Scheduled")


# The actions that move a request (responses.policy asks who may take the users' ones).
APPROVE = "approve"
REJECT = "reject"
CANCEL = "cancel"
RETRY = "retry"
# What moves a request from one status to another (actions beyond the users' ACTIONS above).
EXPIRE = "expire"
QUEUE = "queue"
REQUEUE = "requeue"
CLAIM = "claim"
SUCCEED = "succeed"
SCHEDULE_RETRY = "schedule_retry"
FAIL = "fail"
REFUSE_CHANGED = "refuse_changed"  # the row is not what was approved: never sent
REFUSE_UNPROVEN = "refuse_unproven"  # its approvals do not hold up (fail_if_unproven): never sent
REFUSE_PROTECTED = "refuse_protected"  # its host became protected since filing (responses/protected.py): never sent
FOUND_IN_KSC = "found_in_ksc"
WITHDRAW = "withdraw"  # its campaign was aborted before the request was claimed: never sent

# The paired release of an isolation (responses/isolation.py): its end came (or "Release now"), or it stands
# down (a newer isolation change on the host, the isolation failed, the host gone from KSC).
RELEASE_DUE = "release_due"
STAND_DOWN = "stand_down"

# (from-status, action) → to-status: every status change there is. Filing creates a request
# PENDING_APPROVAL, or APPROVED when its task needs no approval; nothing else sets a status.
TRANSITIONS: dict[tuple[str, str], str] = {
    (Status.PENDING_APPROVAL, APPROVE): Status.APPROVED,  # the last approval the request needs
    (Status.PENDING_APPROVAL, REJECT): Status.REJECTED,
    (Status.PENDING_APPROVAL, CANCEL): Status.CANCELLED,
    (Status.PENDING_APPROVAL, EXPIRE): Status.EXPIRED,
    (Status.APPROVED, QUEUE): Status.QUEUED,
    (Status.APPROVED, CLAIM): Status.SUBMITTING,
    (Status.QUEUED, CLAIM): Status.SUBMITTING,
    (Status.APPROVED, REQUEUE): Status.QUEUED,
    (Status.QUEUED, REQUEUE): Status.QUEUED,
    (Status.SUBMITTING, REQUEUE): Status.QUEUED,
    (Status.SUBMITTING, SUCCEED): Status.SUBMITTED,
    (Status.SUBMITTING, SCHEDULE_RETRY): Status.QUEUED,
    (Status.SUBMITTING, FAIL): Status.FAILED,
    (Status.APPROVED, REFUSE_CHANGED): Status.FAILED,
    (Status.QUEUED, REFUSE_CHANGED): Status.FAILED,
    (Status.FAILED, REFUSE_CHANGED): Status.FAILED,
    (Status.APPROVED, REFUSE_UNPROVEN): Status.FAILED,
    (Status.QUEUED, REFUSE_UNPROVEN): Status.FAILED,
    (Status.FAILED, REFUSE_UNPROVEN): Status.FAILED,
    (Status.APPROVED, REFUSE_PROTECTED): Status.FAILED,
    (Status.QUEUED, REFUSE_PROTECTED): Status.FAILED,
    # Through APPROVED (not straight to QUEUED): when Redis is down,
    # the reconciler finds it like any approved request.
    (Status.FAILED, RETRY): Status.APPROVED,
    (Status.FAILED, FOUND_IN_KSC): Status.APPROVED,
    # A campaign's request not yet claimed when the campaign is aborted (campaigns/workflow.py).
    (Status.APPROVED, WITHDRAW): Status.CANCELLED,
    (Status.QUEUED, WITHDRAW): Status.CANCELLED,
    # A scheduled release is approved with its isolation: at its end it goes out on that approval.
    (Status.SCHEDULED, RELEASE_DUE): Status.APPROVED,
    (Status.SCHEDULED, STAND_DOWN): Status.CANCELLED,
}


