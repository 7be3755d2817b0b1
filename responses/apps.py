from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "responses"
    verbose_name = "EDR responses"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # KSC_CERT=false is allowed (Kaspersky's sample does it) but must not go unnoticed.
        from responses.ksc_servers import warn_if_tls_verification_disabled

        warn_if_tls_verification_disabled()

        # A new-request draft kept across the end of a session is dropped when someone else logs in.
        from responses import drafts

        drafts.connect_signals()

        # The admin's protected hosts: every change in django-auditlog's history.
        from responses import protected

        protected.register_auditlog()

        # Queueing receives workflow.entered_approved: every approved request is queued after commit.
        # The duties of the workers' keeper register themselves (worker/duties.py): the reconciler and
        # the due tries (jobs), the outcome sweep, the previewed IOC archives' expiry, the isolations' ends
        # (isolation, which also receives entered_approved: an approved isolation gets its paired release); and
        # the requests' kind of audit chain (audit/chain.py).
        # The audit pages ask the one policy who may read and verify the chains.
        from audit import access
        from responses import (  # noqa: F401
            checks,  # system checks: per-task settings, the KSC servers' files, the users' scopes
            ioc_store,
            isolation,
            jobs,
            outcomes,
            policy,
            queueing,
            request_chain,
        )

        access.set_reader_rule(policy.may_export_audit)
        # The accounts' admin and scope_user ask the configured KSC servers' names through it.
        from accounts import tenants

        tenants.set_server_names(policy.server_names)
