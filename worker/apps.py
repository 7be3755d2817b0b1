from django.apps import AppConfig


class WorkerConfig(AppConfig):
    """The RQ worker, its keeper and the one registry of the cluster's periodic duties (worker/duties.py).

    The lowest app of the order (docs/architecture.md): it imports none of the portal's apps; they
    register their duties with it.
    """

    name = "worker"
    verbose_name = "Worker"

    def ready(self):
        from worker import housekeeping  # noqa: F401 (registers the expired sessions' beat duty)
