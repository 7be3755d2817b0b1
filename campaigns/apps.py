from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Response campaigns: one request for many hosts, a parent of ordinary per-host requests."""

    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from campaigns import jobs, notify  # noqa: F401  (notify connects the campaign notifications)
        from responses import jobs as request_jobs

        request_jobs.keep_scheduled(jobs.schedule_duty)
