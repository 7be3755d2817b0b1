"""The "Isolated now" list: every host isolated according to the portal's records, since when, by what.

The portal's own knowledge, as the host page words it (responses.host_state): per host, the
newest submitted request that decides (an isolation that did not fail, or a release the endpoint
completed); the host is listed when that one is an isolation. Filled by single requests and
campaigns alike; the campaign, when there is one, is linked.
"""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery

from responses.host_state import ISOLATION_DID_NOT_HOLD
from responses.models import OutcomeState, ResponseRequest, Status


def isolated_now(user, text: str = "") -> QuerySet[ResponseRequest]:
    """The deciding isolation request of each host isolated now, newest first, as ``user`` may see them."""
    deciding = Q(params__action=1) & (Q(outcome__isnull=True) | ~Q(outcome__state__in=ISOLATION_DID_NOT_HOLD)) | Q(
        params__action=0, outcome__state=OutcomeState.COMPLETED
    )
    decisive = ResponseRequest.objects.filter(task="isolateHost", status=Status.SUBMITTED).filter(deciding)
    # Per host, the newest deciding request (a correlated subquery on the host index); listed when it isolates.
    newest_of_host = (
        decisive.filter(target_host=OuterRef("target_host")).order_by("-submitted_at", "-id").values("pk")[:1]
    )
    newest = (
        ResponseRequest.objects.visible_to(user)
        .filter(task="isolateHost", status=Status.SUBMITTED, params__action=1)
        .filter(pk=Subquery(newest_of_host))
        .select_related("outcome", "campaign_host__campaign")
        .order_by("-submitted_at", "-id")
    )
    if text:
        newest = newest.filter(Q(target_host_name__icontains=text) | Q(target_host__icontains=text))
    return newest
