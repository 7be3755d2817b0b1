from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin

from accounts import tenants
from accounts.models import AccountEvent, ApiToken, DirectoryAccount, DirectoryEvent, ServerScope
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


class ServerScopeForm(forms.ModelForm):
    """The servers as a choice of the configured ones: a typo can never scope a user to nothing."""

    servers = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The KSC servers (KSC_SERVERS_FILE) this user works on; ignored with 'every server'.",
    )

    class Meta:
        model = ServerScope
        fields = ["user", "every_server", "servers"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = tenants.configured_servers()
        self.fields["servers"].choices = [(name, name) for name in names]

    def clean(self):
        data = super().clean()
        if data.get("every_server"):
            data["servers"] = []
        user = data.get("user")
        if user is not None and settings.TENANT_GROUPS and DirectoryAccount.objects.filter(user=user).exists():
            raise forms.ValidationError("This user signs in through the directory: TENANT_GROUPS sets their servers.")
        return data


@admin.register(ServerScope)
class ServerScopeAdmin(admin.ModelAdmin):
    """Which KSC servers (tenants) each user works on; each change goes to the accounts chain (account_trail)."""

    form = ServerScopeForm
    list_display = ("user", "every_server", "servers", "from_directory", "updated_at")
    list_filter = ("every_server", "from_directory")
    search_fields = ("user__username",)
    readonly_fields = ("from_directory", "updated_at")


@admin.register(AccountEvent)
class AccountEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "subject_username", "actor_username"]
    list_filter = ["kind"]
    search_fields = ["subject_username", "actor_username"]
