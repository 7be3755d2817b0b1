"""The menu's count of requests that wait for this user's decision (lazy: evaluated only where shown).

Counted in SQL, with the policy's rule as a filter (policy.decidable_filter), in one
query that reads at most WAITING_COUNT_LIMIT + 1 rows: every page of every user costs
the same whether 10 or 10,000 requests wait (a SIEM flood, a campaign). Users who
decide nothing (analysts, auditors) cost no query at all.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from responses import policy
from responses.models import ResponseRequest

# The menu shows "99+" past this: a number nobody reads exactly, and a bound on the count's work.
WAITING_COUNT_LIMIT = 99


def waiting_count(user) -> int:
    """How many requests ``user`` may decide now, at most WAITING_COUNT_LIMIT + 1 (then "99+"): one query, or none."""
    if not policy.decides_anything(user):
        return 0
    rows = ResponseRequest.objects.awaiting_decision().decidable_by(user).values("pk").order_by()
    return rows[: WAITING_COUNT_LIMIT + 1].count()


def waiting_label(count: int) -> str:
    """The badge's text: the count, "99+" past the limit, nothing for none."""
    if count <= 0:
        return ""
    return f"{WAITING_COUNT_LIMIT}+" if count > WAITING_COUNT_LIMIT else str(count)


def queue_stamp() -> str:
    """Changes whenever a request enters or leaves the queue, or one in it changes (an approval added): one query."""
    found = (
        ResponseRequest.objects.awaiting_decision().order_by().aggregate(count=Count("pk"), latest=Max("updated_at"))
    )
    latest = found["latest"]
    return f"{found['count']}:{latest.isoformat() if latest else ''}"


def waiting(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "waiting_count": SimpleLazyObject(lambda: waiting_count(user)),
        "waiting_limit": WAITING_COUNT_LIMIT,
        # `make run`'s mail sink: superusers get a link to the demo's mails beside the simulation banner.
        "demo_mailbox": policy.may_read_demo_mailbox(user),
    }
