"""The request statuses and API token scopes: plain choices, apart from the models.

responses.policy decides by them, and the models' ``visible_to`` asks the policy:
keeping the choices in this leaf module is what lets both import without a cycle.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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


class TokenScope(models.TextChoices):
    """What an API token may do beyond what its user's roles allow.

    A SIEM files and reads; a decision (approve, reject, retry) through the API skips
    the browser's second factor and step-up, so only a token issued for it may decide.
    """

    FILE = "file", _("File and read")
    DECISIONS = "decisions", _("File, read and decide (approve, reject, retry)")
