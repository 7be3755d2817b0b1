"""Admin: superusers administer users; requests and their trail are read-only here.

Nobody changes or deletes a request, a decision or an audit event through the
admin: transitions go through responses.workflow only.
"""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from responses.models import (
    Decision,
    KscServerState,
    ProtectedHostRule,
    RequestEvent,
    ResponseRequest,
    SubmissionAttempt,
)


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


@admin.register(ProtectedHostRule)
class ProtectedHostRuleAdmin(admin.ModelAdmin):
    """The admin's protected hosts (responses/protected.py); django-auditlog keeps every change."""

    list_display = ["__str__", "tasks", "reason", "created_by", "created_at"]
    fields = ["host_id", "group", "name", "tasks", "reason"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

@admin.register(KscServerState)
class KscServerStateAdmin(ReadOnlyAdmin):
    """The KSC servers: each configured one with its last contact, its login result and its queue (issue 26).

    Every configured server is listed, a row made for one never contacted; the queue depth is
    the requests on their way to it (approved, queued, submitting). Credentials are never shown.
    """

    list_display = [
        "server",
        "where",
        "last_contact",
        "login",
        "unreachable_since",
        "queue_depth",
        "last_error",
        "last_probe",
    ]
    fields = list_display
    readonly_fields = list_display

    def get_queryset(self, request):
        from responses import policy

        names = policy.server_names()
        KscServerState.objects.bulk_create(
            [KscServerState(server=name) for name in names], ignore_conflicts=True
        )
        from responses import server_state

        self._depths = server_state.queue_depths()
        return super().get_queryset(request).filter(server__in=names)

    @admin.display(description="Where")
    def where(self, state: KscServerState) -> str:
        from django.conf import settings

        entry = next((e for e in getattr(settings, "KSC_SERVERS", []) if e.name == state.server), None)
        if entry is None:
            return "KSC_HOST" if state.server == "primary" else "not configured"
        if entry.vserver:
            return f"{entry.url} (virtual server {entry.vserver})"
        if entry.route:
            return f"{entry.url} (secondary {' > '.join(map(str, entry.route))} through the gateway)"
        return entry.url or "KSC_HOST"

    @admin.display(description="Login")
    def login(self, state: KscServerState) -> str:
        if state.last_login_ok is None:
            return "not tried yet"
        when = state.last_login_at.strftime("%Y-%m-%d %H:%M") if state.last_login_at else ""
        return f"{'accepted' if state.last_login_ok else 'REFUSED'} {when}".strip()

    @admin.display(description="Queue")
    def queue_depth(self, state: KscServerState) -> int:
        return getattr(self, "_depths", {}).get(state.server, 0)
