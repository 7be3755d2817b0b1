"""The campaigns' periodic duty in the worker's schedule: expire, break, release waves, complete.

Kept in the schedule by the keeper's beat (responses.jobs.keep_scheduled) until the one
registry of periodic duties (worker/) takes it; runs every CAMPAIGN_DUTY_INTERVAL seconds.
"""

from __future__ import annotations

import logging

from django.conf import settings

from campaigns import waves
from responses import jobs

log = logging.getLogger(__name__)

DUTY_JOB_ID = "portal-campaigns-advance"


def advance_periodically() -> dict[str, int]:
    try:
        counts = waves.advance_campaigns()
        if any(counts.values()):
            log.info("campaigns: %s", counts)
        return counts
    finally:
        schedule_duty(force=True)


def schedule_duty(force: bool = False) -> bool:
    """Keep the duty in the schedule (idempotent unless ``force``)."""
    return jobs.schedule_periodic(DUTY_JOB_ID, advance_periodically, settings.CAMPAIGN_DUTY_INTERVAL, force=force)
