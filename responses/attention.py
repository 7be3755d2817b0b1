"""What needs a person's attention (issue 29, "Needs attention"): the page, the menu's count, the home page.

- Analysts: their own requests of the last ATTENTION_DAYS that could not be
  submitted, failed on the host, got no [Response] task, or were rejected.
- Approvers: the requests waiting for their decision, oldest first (the same
  rule as the Approve button, policy.may_decide), and failures on the host or at
  submission of what they approved in the last ATTENTION_DAYS.
- Auditors: saved filters of the request list (responses/views/attention.py).

Read-only: nothing here changes a request; each list is one bounded query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from responses import policy
from responses.models import Decision, DecisionKind, OutcomeState, ResponseRequest, Status

# Outcomes on the host that someone must look at.
BAD_OUTCOMES = (OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE)
# The most rows one list on the page shows (the list pages have the rest, with filters).
LIMIT = 50


def _since(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=settings.ATTENTION_DAYS)


def _problem() -> Q:
    """A request that went wrong after it was decided: not submitted, failed on the host, no task."""
    return Q(status=Status.FAILED) | Q(status=Status.SUBMITTED, outcome__state__in=BAD_OUTCOMES)


def own_problems(user, now: dt.datetime | None = None) -> QuerySet[ResponseRequest]:
    """The user's own recent requests that failed, failed on the host, got no task, or were rejected."""
    if not policy.may(user, policy.FILE):
        return ResponseRequest.objects.none()
    return (
        ResponseRequest.objects.visible_to(user)
        .filter(requester=user, updated_at__gte=_since(now))
        .filter(_problem() | Q(status=Status.REJECTED))
        .select_related("outcome")
        .order_by("-updated_at", "-id")
    )


def approved_problems(user, now: dt.datetime | None = None) -> QuerySet[ResponseRequest]:
    """Recent requests this approver approved that then failed at submission or on the host."""
    if not policy.is_approver(user):
        return ResponseRequest.objects.none()
    approved = Decision.objects.filter(approver=user, decision=DecisionKind.APPROVE).values("request_id")
    return (
        ResponseRequest.objects.visible_to(user)
        .filter(pk__in=approved, updated_at__gte=_since(now))
        .filter(_problem())
        .select_related("outcome")
        .order_by("-updated_at", "-id")
    )


def waiting_for_decision(user) -> list[ResponseRequest]:
    """The requests this user may decide now, oldest first (the rule of policy.may_decide, as the menu counts)."""
    # may_decide's rule in SQL (policy.decidable_filter, held equal to it by tests/test_policy_sql.py)
    return list(ResponseRequest.objects.visible_to(user).awaiting_decision().decidable_by(user))


@dataclass
class Attention:
    own: list[ResponseRequest] = field(default_factory=list)
    approved: list[ResponseRequest] = field(default_factory=list)
    waiting: list[ResponseRequest] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.own) + len(self.approved) + len(self.waiting)


def for_user(user, now: dt.datetime | None = None) -> Attention:
    return Attention(
        own=list(own_problems(user, now)[:LIMIT]),
        approved=list(approved_problems(user, now)[:LIMIT]),
        waiting=waiting_for_decision(user),
    )


def count_for(user, now: dt.datetime | None = None) -> int:
    """The menu's number: what went wrong for this user, in one count (the approval queue has its own badge)."""
    if not (user and user.is_authenticated):
        return 0
    mine = Q(pk__in=own_problems(user, now).values("pk"))
    approved = Q(pk__in=approved_problems(user, now).values("pk"))
    return ResponseRequest.objects.filter(mine | approved).count()
