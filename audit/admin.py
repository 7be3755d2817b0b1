"""Admin: the anchors and the kept verifications, read-only; and ``ReadOnlyAdmin``, the base every app's
records of what happened use (nobody changes or deletes evidence through the admin)."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditAnchor, ChainVerification


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at"]


@admin.register(ChainVerification)
class ChainVerificationAdmin(ReadOnlyAdmin):
    list_display = ["finished_at", "source", "username", "intact", "events", "request_chains", "problem_count"]
    list_filter = ["intact", "source"]
