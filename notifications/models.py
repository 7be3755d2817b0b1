"""What the portal told whom about a request, and whether it arrived (README, "Notifications").

Every message is a row, written before it is sent and updated with each try's
result, so auditors see beside a request's trail "e-mail to bob: delivered" or
"JSON: failed, HTTP 403". The bodies are kept as sent: they carry no secrets by
construction (notifications/messages.py puts in only what the request page shows).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from responses.models import RequestEvent, ResponseRequest


class NotificationKind(models.TextChoices):
    APPROVAL_NEEDED = "approval_needed", _("A request waits for my approval")
    REMINDER = "reminder", _("A request still waits for approval (one reminder)")
    APPROVED = "approved", _("My request was approved")
    REJECTED = "rejected", _("My request was rejected")
    EXPIRED = "expired", _("My request expired")
    FAILED = "failed", _("My request could not be submitted to KSC")
    OUTCOME_COMPLETED = "outcome_completed", _("My request completed on the host")
    OUTCOME_WARNING = "outcome_warning", _("My request completed on the host with a warning")
    OUTCOME_FAILED = "outcome_failed", _("A request of mine, or one I approved, failed on the host")
    OUTCOME_NO_TASK = "outcome_no_task", _("No KSC task appeared for a request of mine, or one I approved")
    OUTCOME_GONE = "outcome_gone", _("The KSC task of my request vanished")
    ESCALATED = "escalated", _("A request escalated to me (tier 2) because nobody approved it in time")
    SLA_BREACHED = "sla_breached", _("An approval SLA was breached (for named managers)")
    COMMENT = "comment", _("A question about my request, or an answer to my question")
    SNOOZE_ENDED = "snooze_ended", _("A request whose reminder I snoozed still waits for approval")
    ISOLATION_ENDING = "isolation_ending", _("An isolation I asked for or approved ends soon")
    EXTENSION_NEEDED = "extension_needed", _("An isolation's extension waits for my approval")
    DIGEST = "digest", _("Digest of waiting requests")
    TEST = "test", _("Test message")


# What a user may turn off for their own e-mail (the digest follows approval_needed; tests are asked for).
USER_CHOICES = [kind for kind in NotificationKind if kind not in (NotificationKind.DIGEST, NotificationKind.TEST)]


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    CHAT = "chat", _("Chat")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("waiting to be sent")
    SENDING = "sending", _("sending")
    RETRYING = "retrying", _("failed, will retry")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")
    IN_DIGEST = "in_digest", _("sent in a digest")


class Notification(models.Model):
    """One message to one destination (a user's e-mail, or one chat channel) and its delivery result."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # also the RQ job id
    request = models.ForeignKey(
        ResponseRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    event = models.ForeignKey(RequestEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # "user:bob" or "chat:0" (the position in NOTIFY_URLS): what the burst limit and digests count by.
    destination = models.CharField(max_length=160)
    # What auditors read: the username, or the chat service's name. Never the Apprise URL (it holds tokens).
    label = models.CharField(max_length=200)
    address = models.EmailField(blank=True)  # e-mail only
    # For chat: a short hash of the URL it was planned for, so a changed NOTIFY_URLS is noticed, not misrouted.
    channel_key = models.CharField(max_length=16, blank=True)
    language = models.CharField(max_length=8)
    body_format = models.CharField(max_length=10, default="text")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # While RETRYING after its quick tries: when the sweep sends it again (NOTIFY_GIVE_UP_AFTER).
    next_try_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="parts")

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # the request page's "Notifications" beside the trail
            models.Index(fields=["request", "created_at"], name="notif_request_created_idx"),
            # the burst limit: recent messages of a kind to one destination
            models.Index(fields=["destination", "kind", "created_at"], name="notif_dest_kind_created_idx"),
            # the sweep: messages whose job Redis lost
            models.Index(fields=["status", "created_at"], name="notif_status_created_idx"),
        ]
        constraints = [
            # one message per event and destination, however often the event is dispatched
            models.UniqueConstraint(
                fields=["event", "destination"], condition=Q(event__isnull=False), name="notif_once_per_event"
            ),
            # one reminder per request and destination
            models.UniqueConstraint(
                fields=["request", "destination"], condition=Q(kind="reminder"), name="notif_one_reminder"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.label}: {self.status}"

    @property
    def give_up_at(self):
        """When the portal stops trying to deliver it (created_at + NOTIFY_GIVE_UP_AFTER)."""
        return self.created_at + dt.timedelta(seconds=settings.NOTIFY_GIVE_UP_AFTER)

    @property
    def outcome(self) -> str:
        """In words, for auditors: "delivered", "failed, HTTP 403"."""
        text = str(self.get_status_display())
        if self.last_error and self.status in (DeliveryStatus.FAILED, DeliveryStatus.RETRYING):
            text = f"{text}: {self.last_error}"
        return text


class EventDispatch(models.Model):
    """An audit event whose messages were planned: the marker that makes dispatching happen once."""

    event = models.OneToOneField(RequestEvent, on_delete=models.PROTECT, related_name="+")
    dispatched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"event {self.event_id} dispatched"


class NotificationPreference(models.Model):
    """A user's language for messages and the kinds of e-mail they turned off (all on by default)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    language = models.CharField(max_length=8, blank=True)  # empty: LANGUAGE_CODE
    email_off = models.JSONField(default=list, blank=True)  # NotificationKind values
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    def wants_email(self, kind: str) -> bool:
        # A digest stands for approval_needed messages; a test is asked for on purpose.
        if kind == NotificationKind.DIGEST:
            kind = NotificationKind.APPROVAL_NEEDED
        return kind not in (self.email_off or [])
