"""Admin: superusers administer users; requests and their trail are read-only here.

Nobody changes or deletes a request, a decision or an audit event through the
admin: transitions go through responses.workflow only.
"""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from responses.models import Decision, RequestEvent, ResponseRequest, SubmissionAttempt


class ApprovalInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["approver_username", "decision", "comment", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ResponseRequest)
class ResponseRequestAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "task", "target_host_name", "target_host", "requester_username", "status", "created_at"]
    list_filter = ["status", "task", "source"]
    search_fields = ["uuid", "target_host", "target_host_name", "justification", "external_ref"]
    inlines = [ApprovalInline]


@admin.register(RequestEvent)
class RequestEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "kind", "actor_username", "status_before", "status_after"]
    list_filter = ["kind"]
    search_fields = ["request__uuid", "actor_username", "message"]


@admin.register(SubmissionAttempt)
class SubmissionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["request", "number", "started_at", "outcome", "ksc_incident_id", "error_code"]
