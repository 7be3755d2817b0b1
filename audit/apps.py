from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The keyed audit chains: appending, anchors, verification, the export and their pages.

    Each app registers its chain kind (audit/chain.py, ``register_kind``): the requests'
    (responses/request_chain.py) and the accounts' (accounts/account_chain.py), so that this app names
    no other app's models.
    """

    name = "audit"
    verbose_name = "Audit chains"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The keeper's duties (worker/duties.py): the anchor at each beat, the scheduled verification.
        from audit import chain, verification  # noqa: F401
