from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "responses"
    verbose_name = "EDR responses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # KSC_CERT=false is allowed (Kaspersky's sample does it) but must not go unnoticed.
        from responses.ksc.client import warn_if_tls_verification_disabled

        warn_if_tls_verification_disabled()

        # Two-factor authentication and the login lockout: signal receivers, and the audit of enrolments.
        from responses import account_trail, accounts, twofactor

        accounts.connect_signals()
        # Who grants roles and resets 2FA, in the keyed "accounts" audit chain.
        account_trail.connect_signals()
        twofactor.register_auditlog()

        # Queueing receives workflow.entered_approved: every approved request is queued after commit.
        # The outcome sweep reschedules itself in Redis; the workers' keeper puts it back when Redis lost it.
        from responses import (
            jobs,
            outcomes,
            queueing,  # noqa: F401
        )

        jobs.keep_scheduled(outcomes.schedule_outcome_sweep)
