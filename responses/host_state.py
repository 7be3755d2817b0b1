"""The host before acting, as the portal's own records say it (KSC's side is responses.hosts).

Two sources, always labelled apart:

- KSC (responses.hosts: ``state``, ``facts_of``): OS, last seen, group, and the warnings
  an analyst needs before acting;
- the portal (here): isolation is not an attribute KSC documents, so "isolated" is
  only what this portal's own isolateHost requests and their outcomes say,
  until a release whose outcome is completed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from responses.models import OutcomeState, ResponseRequest, Status
from responses.outcomes import outcome_of

# KSC's answer about a host is kept this long for pages (the request page refreshes itself).
HOST_CACHE_SECONDS = 60


@dataclass(frozen=True)
class IsolationNote:
    """The portal's own knowledge: the host was isolated by this request, and no completed release followed."""

    request: ResponseRequest
    at: dt.datetime
    outcome_label: str


def portal_isolation(host_id: str) -> IsolationNote | None:
    """The latest submitted isolation of the host not followed by a release that completed, or None."""
    return portal_isolations([host_id]).get(host_id)


# Outcomes after which an isolation does not hold: it never reached the endpoint.
ISOLATION_DID_NOT_HOLD = (OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE)


def portal_isolations(host_ids: list[str]) -> dict[str, IsolationNote]:
    """The portal's isolation note for each of these hosts that has one, in one query (lists, the picker).

    Per host, the newest submitted request that decides: an isolation that did not fail, or a
    release the endpoint completed; a note when it is an isolation. The database picks that
    one row per host: a year of requests gives a host hundreds of isolations and releases, and
    loading them all for every host of a page took a second at a million requests (issue 24).
    """
    deciding = Q(params__action=1) & (Q(outcome__isnull=True) | ~Q(outcome__state__in=ISOLATION_DID_NOT_HOLD)) | Q(
        params__action=0, outcome__state=OutcomeState.COMPLETED
    )
    newest = (
        ResponseRequest.objects.filter(target_host__in=host_ids, task="isolateHost", status=Status.SUBMITTED)
        .filter(deciding)
        .select_related("outcome")
        .annotate(
            newest=Window(
                RowNumber(), partition_by=[F("target_host")], order_by=[F("submitted_at").desc(), F("id").desc()]
            )
        )
        .filter(newest=1)
    )
    notes: dict[str, IsolationNote] = {}
    for request in newest:
        if not isinstance(request.params, dict) or request.params.get("action") != 1:
            continue  # released, and the endpoint confirmed it
        outcome = outcome_of(request)
        state = outcome.state if outcome else OutcomeState.WAITING
        notes[request.target_host] = IsolationNote(
            request=request, at=request.submitted_at, outcome_label=str(OutcomeState(state).label).lower()
        )
    return notes
