"""The campaigns' periodic duty (worker/duties.py's registry): expire, break, release waves, complete.

Runs in the RQ worker every CAMPAIGN_DUTY_INTERVAL seconds; the keeper puts it back in the
schedule whenever Redis lost it.
"""

from __future__ import annotations

import logging

from campaigns import waves
from worker import duties

log = logging.getLogger(__name__)


@duties.periodic("campaigns-advance", every="CAMPAIGN_DUTY_INTERVAL", job_id="portal-campaigns-advance")
def advance_periodically() -> dict[str, int]:
    counts = waves.advance_campaigns()
    if any(counts.values()):
        log.info("campaigns: %s", counts)
    return counts
