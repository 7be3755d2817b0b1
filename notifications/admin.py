"""Admin: every message and its delivery result, read-only (failed deliveries across all requests at a glance)."""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "channel", "label", "status", "attempts", "next_try_at", "last_error", "request"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["label", "request__uuid", "last_error"]
    list_select_related = ["request"]
    # The body is what was sent; the address and the channel's key identify where, never the URL.
    fields = [
        "uuid",
        "request",
        "kind",
        "channel",
        "label",
        "address",
        "language",
        "body_format",
        "subject",
        "body",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "next_try_at",
        "digest",
    ]
    readonly_fields = fields
