from __future__ import annotations

from django.contrib import admin

from accounts.models import AccountEvent, ApiToken, DirectoryAccount, DirectoryEvent
from audit.admin import ReadOnlyAdmin


@admin.register(DirectoryEvent)
class DirectoryEventAdmin(admin.ModelAdmin):
    """The directory's changes to accounts, read-only: nobody edits the audit trail."""

    list_display = ("at", "actor", "username", "source", "action", "detail")
    list_filter = ("action", "source")
    search_fields = ("username",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DirectoryAccount)
class DirectoryAccountAdmin(admin.ModelAdmin):
    """Who each directory account is bound to; read-only: a binding moves only with relink_account (audited)."""

    list_display = ("user", "source", "subject", "person", "deactivated_by_directory", "synced_at")
    search_fields = ("user__username", "subject", "person")
    readonly_fields = ("user", "source", "subject", "person", "deactivated_by_directory", "synced_at")

    def has_add_permission(self, request):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Who holds which token and what it may do (the scope); keys are issued by create_api_token only.

    The key's hash is left out: it is no secret, but nobody needs it here.
    """

    list_display = ["key_prefix", "user", "name", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["scope"]
    search_fields = ["key_prefix", "user__username", "name"]
    fields = ["key_prefix", "user", "name", "scope", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields


@admin.register(AccountEvent)
class AccountEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "subject_username", "actor_username"]
    list_filter = ["kind"]
    search_fields = ["subject_username", "actor_username"]
