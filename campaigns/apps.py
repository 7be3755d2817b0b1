from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """Response campaigns: one request for many hosts, a parent of ordinary per-host requests."""

    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # jobs registers the wave duty with worker.duties; notify connects the campaign's messages.
        from campaigns import jobs, notify  # noqa: F401
