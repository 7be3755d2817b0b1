from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "responses"
    verbose_name = "EDR responses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # KSC_CERT=false is allowed (Kaspersky's sample does it) but must not go unnoticed.
        from responses.ksc_servers import warn_if_tls_verification_disabled

        warn_if_tls_verification_disabled()

        # A new-request draft kept across the end of a session is dropped when someone else logs in;
        # the checks: the KSC servers' files readable, the users' scopes naming configured servers.
        from responses import (
            checks,  # noqa: F401
            drafts,
        )

        drafts.connect_signals()

        # Queueing receives workflow.entered_approved: every approved request is queued after commit.
        # The outcome sweep and the audit chains' scheduled verification reschedule themselves in
        # Redis; the workers' keeper puts them back when Redis lost them.
        from responses import (
            chain_verification,
            jobs,
            outcomes,
            queueing,  # noqa: F401
        )

        jobs.keep_scheduled(outcomes.schedule_outcome_sweep)
        jobs.keep_scheduled(chain_verification.schedule_check)
