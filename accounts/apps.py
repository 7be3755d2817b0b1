from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who people are and what they may prove: login, two-factor, step-up, roles, API tokens, directory sign-in."""

    name = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Two-factor authentication, step-up and the login lockout: signal receivers, and the audit of enrolments.
        from accounts import account_trail, account_views, checks, stepup, twofactor  # noqa: F401 (checks: registers)

        account_views.connect_signals()
        twofactor.connect_signals()
        stepup.connect_signals()
        # Who grants roles and resets 2FA, in the keyed "accounts" audit chain.
        account_trail.connect_signals()
        twofactor.register_auditlog()

        # The directory sync: a periodic duty of the workers' keeper (worker/duties.py), registered on import.
        # The accounts' kind of audit chain (audit/chain.py).
        from accounts import (
            account_chain,  # noqa: F401
            sync,  # noqa: F401
        )
