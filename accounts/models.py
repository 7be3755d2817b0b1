"""Who came from the directory, what the directory changed (its own audit events), and the API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.scopes import TokenScope  # noqa: F401 (one home: accounts/scopes.py; re-exported here)
from audit.models import SingleChainRecord


class Source(models.TextChoices):
    LDAP = "ldap", "LDAP / Active Directory"
    OIDC = "oidc", "OpenID Connect"


class DirectoryAccount(models.Model):
    """Marks a user as the directory's: its roles follow the directory, it has no local password.

    The account is bound to one person of one directory, (source, subject), for good: a
    sign-in of the same username by another subject, or from the other source, is refused
    (accounts/directory.py, ``bind``); only an administrator moves a binding
    (``manage.py relink_account``). A local account (no row here) is never taken over.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_account")
    source = models.CharField(max_length=8, choices=Source.choices)
    # What the directory calls this person, immutably: "<OIDC_ISSUER>#<sub>" for OpenID Connect;
    # "entryUUID:<uuid>", "objectGUID:<uuid>" (LDAP_ID_ATTRIBUTE), or "dn:<dn>" when the entry has no such id.
    subject = models.CharField(max_length=512)
    # The value of IDENTITY_LINK_ATTRIBUTE (normalised): accounts of one person in both sources share it,
    # and the two-person rule counts them as one person (responses/policy.py, same_person). Empty: not linked.
    person = models.CharField(max_length=512, blank=True, default="", db_index=True)
    # Only a deactivation by the directory is undone by the directory: an administrator's stays.
    deactivated_by_directory = models.BooleanField(default=False)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "subject"], name="directory_account_one_subject")]

    def __str__(self) -> str:
        return f"{self.user} ({self.source})"


class DirectoryEvent(models.Model):
    """A change the directory made to a portal account; the actor is always the directory, never a person."""

    class Action(models.TextChoices):
        CREATED = "created", "account created"
        ROLE_ADDED = "role_added", "role added"
        ROLE_REMOVED = "role_removed", "role removed"
        DEACTIVATED = "deactivated", "deactivated"
        REACTIVATED = "reactivated", "reactivated"
        REFUSED = "refused", "sign-in refused"
        TOKENS_REVOKED = "tokens_revoked", "API tokens revoked"
        REBOUND = "rebound", "bound to the immutable id"

    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=32, default="directory")
    # Text, not a foreign key: the trail outlives the account.
    username = models.CharField(max_length=150)
    source = models.CharField(max_length=16)  # ldap or oidc (at a login), sync (sync_directory_roles)
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        # The admin's list and an auditor's "what did the directory do to this person".
        indexes = [models.Index(fields=["username", "at"], name="directory_event_user_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor}: {self.username} {self.action} {self.detail}"


class ApiToken(models.Model):
    """A key a SIEM or script authenticates to the API with (``Authorization: Token <key>``).

    Only the key's sha256 is stored: the key itself is shown once, when issued
    (``manage.py create_api_token``), and cannot be read back from the database.
    The key is 256 random bits, so a plain (unsalted, fast) hash is enough.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="what the token is for, e.g. the SIEM's name")
    # The key's first characters, so that people can tell their tokens apart without the key.
    key_prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    scope = models.CharField(max_length=16, choices=TokenScope.choices, default=TokenScope.FILE)

    class Meta:
        # The table kept its name when the model moved here from responses (migration 0002).
        db_table = "responses_apitoken"
        ordering = ["user", "-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… of {self.user}" + (f" ({self.name})" if self.name else "")


def _register_api_auditlog() -> None:
    from auditlog.registry import auditlog
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    # Who issued or revoked which token is audited; the hash and the use stamp are not.
    auditlog.register(ApiToken, exclude_fields=["key_hash", "last_used_at"])
    # Accounts and roles: field-level diffs; password hashes and login times are never logged,
    # sessions are not registered at all.
    auditlog.register(get_user_model(), exclude_fields=["password", "last_login"], m2m_fields={"groups"})
    auditlog.register(Group, m2m_fields={"permissions"})


_register_api_auditlog()


class ServerScope(models.Model):
    """The KSC servers (tenants) a user works on: responses/policy.py reads it (``servers_of``), nothing else.

    ``every_server``: a global auditor or administrator, set explicitly. Otherwise ``servers``
    lists server names of KSC_SERVERS. No row: every server while one is configured, none from
    the second on (accounts/tenants.py). Directory users' rows follow TENANT_GROUPS
    (``from_directory``); local users' are set in the admin or with ``manage.py scope_user``.
    Every change is an AccountEvent in the accounts chain (accounts/account_trail.py).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="server_scope")
    every_server = models.BooleanField(
        default=False, help_text="Works on every KSC server (a global auditor or administrator)."
    )
    servers = models.JSONField(default=list, blank=True, help_text="The KSC servers' names (KSC_SERVERS) this user works on.")
    from_directory = models.BooleanField(default=False, help_text="Set from TENANT_GROUPS at sign-in and sync.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {'every server' if self.every_server else ', '.join(self.servers) or 'no server'}"

    def describe(self) -> dict:
        """What the accounts chain records of it."""
        return {"every_server": self.every_server, "servers": sorted(self.servers)}


class AccountEventKind(models.TextChoices):
    USER_CREATED = "user_created", _("Account created")
    USER_CHANGED = "user_changed", _("Account changed")
    USER_DELETED = "user_deleted", _("Account deleted")
    GROUPS_CHANGED = "groups_changed", _("Groups changed")
    DEVICE_ADDED = "device_added", _("2FA device added")
    DEVICE_REMOVED = "device_removed", _("2FA device removed")
    SIGN_IN_REFUSED = "sign_in_refused", _("Directory sign-in refused")
    IDENTITY_RELINKED = "identity_relinked", _("Directory identity relinked")
    SCOPE_CHANGED = "scope_changed", _("KSC servers (tenants) changed")


class AccountEvent(SingleChainRecord):
    """Who granted whom which role (groups, superuser, staff, active) and who reset whose 2FA.

    "No superuser bypass" holds only while somebody watches who creates approvers:
    these events are the trail for that, in their own keyed chain named "accounts".
    """

    CHAIN = "accounts"

    kind = models.CharField(max_length=20, choices=AccountEventKind.choices)
    actor_username = models.CharField(max_length=150)  # "system" when no logged-in user acted (a command)
    subject_username = models.CharField(max_length=150)
    detail = models.JSONField(default=dict, blank=True)  # before/after of what changed

    class Meta(SingleChainRecord.Meta):
        db_table = "responses_accountevent"  # moved from responses (0028): the table, its rows and triggers stay

    def __str__(self) -> str:
        return f"{self.kind} of {self.subject_username} by {self.actor_username}"

    def content(self) -> dict:
        return {
            "kind": self.kind,
            "actor": self.actor_username,
            "subject": self.subject_username,
            "detail": self.detail,
            "at": self.created_at.isoformat(),
        }
