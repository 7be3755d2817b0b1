from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in: for now the directory (LDAP / Active Directory and OpenID Connect) and its roles."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The directory sync reschedules itself in Redis; the workers' keeper puts it back when Redis lost it.
        from accounts import sync
        from responses import jobs

        jobs.keep_scheduled(sync.schedule_sync)
