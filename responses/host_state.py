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

from django.db import connection
from django.db.models import F, Q, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from responses.models import OutcomeState, ResponseRequest, Status
from responses.outcomes import outcome_of


@dataclass(frozen=True)
class IsolationNote:
    """The portal's own knowledge: the host was isolated by this request, and no completed release followed."""

    request: ResponseRequest
    at: dt.datetime
    outcome_label: str


def portal_isolation(host_id: str, server: str | None = None) -> IsolationNote | None:
    """The latest submitted isolation of the host (on ``server``) not followed by a release that completed, or None."""
    return portal_isolations([host_id], server).get(host_id)


# Outcomes after which an isolation does not hold: it never reached the endpoint.
ISOLATION_DID_NOT_HOLD = (OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE)


def portal_isolations(host_ids: list[str], server: str | None = None) -> dict[str, IsolationNote]:
    """The portal's isolation note for each of these hosts that has one, in one query (lists, the picker).

    Per host, the newest submitted request that decides: an isolation that did not fail, or a
    release the endpoint completed; a note when it is an isolation. The database picks that
    one row per host: a year of requests gives a host hundreds of isolations and releases, and
    loading them all for every host of a page took a second at a million requests (issue 24).
    """
    return _notes(_newest_deciding(host_ids, server))


# The portal's word on a host's isolation (the host list's and the host page's badge, issue 30 point 2).
ISOLATED = "isolated"
RELEASED = "released"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class HostMark:
    """What the portal's own records say of a host: isolated by ``request``, or released by it (completed)."""

    state: str  # ISOLATED or RELEASED; a host without a mark is UNKNOWN
    request: ResponseRequest
    at: dt.datetime  # isolated: when it was submitted; released: when the endpoint completed the release
    by: str  # who filed the deciding request

    @property
    def isolated(self) -> bool:
        return self.state == ISOLATED


def portal_marks(host_ids: list[str], server: str | None = None) -> dict[str, HostMark]:
    """Per host, the portal's mark (isolated, released) from the same newest deciding request; none: unknown."""
    marks: dict[str, HostMark] = {}
    for request in _newest_deciding(host_ids, server):
        action = request.params.get("action") if isinstance(request.params, dict) else None
        if action == 1:
            marks[request.target_host] = HostMark(ISOLATED, request, request.submitted_at, request.requester_username)
        elif action == 0:
            outcome = outcome_of(request)
            at = outcome.since if outcome is not None else request.submitted_at
            marks[request.target_host] = HostMark(RELEASED, request, at, request.requester_username)
    return marks


def _newest_deciding(host_ids: list[str], server: str | None):
    """The newest deciding request (an isolation that held, or a completed release) of each host: one query."""
    if connection.vendor == "postgresql":
        newest = (
            ResponseRequest.objects.filter(pk__in=RawSQL(NEWEST_DECIDING_SQL, _newest_deciding_params(host_ids, server)))
            .select_related("outcome")
            .order_by()
        )
        return newest
    deciding = Q(params__action=1) & (Q(outcome__isnull=True) | ~Q(outcome__state__in=ISOLATION_DID_NOT_HOLD)) | Q(
        params__action=0, outcome__state=OutcomeState.COMPLETED
    )
    newest = (
        ResponseRequest.objects.filter(target_host__in=host_ids, task="isolateHost", status=Status.SUBMITTED)
        .filter(**({"server": server} if server is not None else {}))
        .filter(deciding)
        .select_related("outcome")
        .annotate(
            newest=Window(
                RowNumber(), partition_by=[F("target_host")], order_by=[F("submitted_at").desc(), F("id").desc()]
            )
        )
        .filter(newest=1)
    )
    return newest


# The same rule as the window query above, per host through rr_isolation_host_idx (a partial index on
# host, submitted_at, id of the submitted isolateHost requests): a LATERAL subquery stops at the
# host's newest deciding row, where the window query read and sorted every isolation and release of
# every host of the page (a year of history: about 10,000 rows for the 50 hosts of a page, 60-100 ms
# at a million requests; benchmarks/lists.py, "approval queue"). Static SQL, every value a parameter; the task
# and status are written out because the partial index's condition must match them as the planner sees them.
NEWEST_DECIDING_SQL = """
    SELECT newest.id FROM unnest(%s::varchar[]) AS host(id) CROSS JOIN LATERAL (
        SELECT request.id FROM responses_responserequest AS request
        LEFT JOIN responses_responseoutcome AS outcome ON outcome.request_id = request.id
        WHERE request.target_host = host.id AND request.task = 'isolateHost' AND request.status = 'submitted'
          AND (%s::varchar IS NULL OR request.server = %s::varchar)
          AND (
            (request.params -> 'action' = '1'::jsonb AND (outcome.state IS NULL OR outcome.state <> ALL(%s)))
            OR (request.params -> 'action' = '0'::jsonb AND outcome.state = %s)
          )
        ORDER BY request.submitted_at DESC, request.id DESC
        LIMIT 1
    ) AS newest
"""


def _newest_deciding_params(host_ids: list[str], server: str | None = None) -> list:
    """The SQL's values: the host ids, the server (None: any; host ids are unique per server only), the states."""
    did_not_hold = [str(state) for state in ISOLATION_DID_NOT_HOLD]
    return [list(host_ids), server, server, did_not_hold, str(OutcomeState.COMPLETED)]


def _notes(newest) -> dict[str, IsolationNote]:
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
