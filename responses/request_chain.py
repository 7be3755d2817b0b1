"""The requests' kind of audit chain: one keyed chain per request, its RequestEvents (audit/chain.py).

Appending locks only that request's row, so writers on different requests never wait for each
other. Verifying a request's chain also checks what the chain proves about the row: the filed
content, the path of its statuses through TRANSITIONS, and the approvals it carries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

from audit import chain, export
from audit.chain import GENESIS, Report
from audit.paging import keyset_batches
from responses import approvals
from responses.models import Decision, RequestEvent, ResponseRequest
from responses.states import PRIMARY_SERVER, TRANSITIONS, Status


def append_request_event(event: RequestEvent) -> RequestEvent:
    """Seal and save a new event at the end of its request's chain, in the caller's transaction."""
    # The request's row lock (most callers hold it already) orders the writers of this one chain.
    ResponseRequest.objects.select_for_update().filter(pk=event.request_id).values_list("pk").first()
    last = (
        RequestEvent.objects.filter(request_id=event.request_id).order_by("-seq").values_list("seq", "hash").first()
    )
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    chain.seal(event, prev, seq)
    return event


def _heads_of(request_ids: list[int]) -> dict[str, list]:
    """{request uuid: [last seq, last hash]} for these requests."""
    heads: dict[str, list] = {}
    for start in range(0, len(request_ids), 500):
        rows = (
            RequestEvent.objects.filter(request_id__in=request_ids[start : start + 500])
            .order_by("request_id", "seq")
            .values_list("request__uuid", "seq", "hash")
        )
        for key, seq, digest in rows:
            heads[str(key)] = [seq, digest]
    return heads


def heads(since: dt.datetime | None) -> dict[str, list]:
    """The heads of the requests' chains that moved at or after ``since`` (all when None)."""
    events = RequestEvent.objects.all()
    if since is not None:
        events = events.filter(created_at__gte=since)
    return _heads_of(sorted(set(events.values_list("request_id", flat=True))))


def has_events_before(when: dt.datetime) -> bool:
    return RequestEvent.objects.filter(created_at__lt=when).exists()


def _request_chains() -> Iterator[tuple[ResponseRequest, list[RequestEvent], list[Decision]]]:
    """Every request with its events in seq order and its decisions, a few hundred requests at a time."""
    # A few hundred at a time: params may hold a 10 MiB IOC archive each.
    for batch in keyset_batches(ResponseRequest.objects.all(), "pk", 200):
        events: dict[int, list[RequestEvent]] = {request.pk: [] for request in batch}
        decisions: dict[int, list[Decision]] = {request.pk: [] for request in batch}
        for event in RequestEvent.objects.filter(request_id__in=events).order_by("request_id", "seq"):
            events[event.request_id].append(event)
        for decision in Decision.objects.filter(request_id__in=events).order_by("request_id", "id"):
            decisions[decision.request_id].append(decision)
        for request in batch:
            for event in events[request.pk]:
                event.request = request  # the chain name without a query per event
            yield request, events[request.pk], decisions[request.pk]


def _filed_content_problem(request: ResponseRequest, events: list[RequestEvent]) -> str | None:
    """The row's task, host and params must still be what the (chained) FILED event recorded."""
    filed = next((event for event in events if event.kind == "filed"), None)
    if filed is None:
        return f"request {request.uuid}: its trail has no 'filed' event; events were deleted"
    recorded = filed.detail.get("fingerprint")
    current = request.content_fingerprint()
    if recorded and (recorded != current or request.fingerprint != current):
        return f"request {request.uuid}: its task, host or params were changed after it was filed"
    # What else the FILED event keeps of the row (PostgreSQL freezes these columns, 0020; the
    # tables' owner can switch that off, but cannot rewrite the keyed event to match).
    detail = filed.detail if isinstance(filed.detail, dict) else {}
    differs = []
    if request.requester_username != filed.actor_username:
        differs.append("requester")
    if request.justification != filed.message:
        differs.append("justification")
    if "external_ref" in detail and request.external_ref != detail["external_ref"]:
        differs.append("external_ref")
    if "approvals_required" in detail and request.approvals_required != detail["approvals_required"]:
        differs.append("approvals_required")
    # The server: named in the event when it is not "primary" (trail.append), like the fingerprint.
    if request.server != detail.get("server", PRIMARY_SERVER):
        differs.append("server")
    if differs:
        return "; ".join(f"request {request.uuid}: its {name} differs from what was filed" for name in differs)
    return None


# Every (from, to) a trail event may record: the transitions, and events that change no status.
_MOVES = {(before, after) for (before, _action), after in TRANSITIONS.items()}
_APPROVED_OR_LATER = {Status.APPROVED, Status.QUEUED, Status.SUBMITTING, Status.SUBMITTED, Status.FAILED}


def _status_path_problem(request: ResponseRequest, events: list[RequestEvent]) -> str | None:
    """The trail's statuses must follow TRANSITIONS from the filing, and end where the row's status is.

    A status set by hand (the portal's own role may UPDATE the table) has no event that leads to it.
    """
    current = None
    for event in events:
        before, after = event.status_before, event.status_after
        where = f"request {request.uuid}, event seq {event.seq} ({event.kind})"
        if current is None:
            # SCHEDULED: an isolation's paired release, filed by its approval (responses/isolation.py)
            if event.kind != "filed" or after not in (Status.PENDING_APPROVAL, Status.APPROVED, Status.SCHEDULED):
                return f"{where}: a trail starts with its filing, pending approval, approved or scheduled"
        elif not before:
            # The filing's own approval of a task that needs none names no status before it.
            if after != current:
                return f"{where}: it moves the request to {after} from {current} without saying so"
        elif before != current:
            return f"{where}: it starts from {before}, but the trail before it ends at {current}"
        elif after != before and (before, after) not in _MOVES:
            return f"{where}: {before} to {after} is no transition the portal makes"
        current = after
    if current is not None and request.status != current:
        return (
            f"request {request.uuid}: its status is {request.status} but its trail ends at {current}; "
            "the status was changed outside the portal"
        )
    return None


def _approvers_problem(request: ResponseRequest, events: list[RequestEvent], decisions: list[Decision]) -> str | None:
    """An approved (or later) request must carry the approvals of as many people as it was filed needing."""
    reached = request.status in _APPROVED_OR_LATER or any(event.status_after == Status.APPROVED for event in events)
    if not reached:
        return None
    filed = next((event for event in events if event.kind == "filed"), None)
    frozen = filed.detail.get("approvals_required") if filed is not None and isinstance(filed.detail, dict) else None
    required = max(request.approvals_required, frozen if isinstance(frozen, int) else 0)
    if filed is not None:  # a decision under the name that filed it is the requester's, whatever the row says now
        decisions = [d for d in decisions if d.approver_username != filed.actor_username]
    people = approvals.approving_people(request, decisions)
    # An approver deleted since (approver NULL) still counts here, once, by the username kept on the
    # decision, unless that name is already counted or is the requester's: the trail proved it then.
    names = {name for name in people.values()} | {request.requester_username}
    gone = {
        decision.approver_username
        for decision in decisions
        if decision.approver_id is None
        and decision.decision == approvals.APPROVED
        and decision.fingerprint == request.fingerprint
        and decision.approver_username not in names
    }
    given = len(people) + len(gone)
    if given < required:
        return f"request {request.uuid}: it was approved with {given} of the {required} approvals it needs"
    return None


def verify(report: Report, anchored: dict[str, tuple[int, str]]) -> set[str]:
    """Walk every request's chain; the chain names seen."""
    seen: set[str] = set()
    for request, events, decisions in _request_chains():
        name = str(request.uuid)
        seen.add(name)
        count, problem = chain.walk(
            events,
            name,
            lambda event: f"event seq {event.seq} (id {event.pk}, request {event.request.uuid}, {event.kind})",
            anchored.get(name),
        )
        report.events += count
        report.request_chains += 1
        problem = problem or _filed_content_problem(request, events)
        if problem:
            report.problems.append(problem)
        else:
            for check in (_status_path_problem(request, events), _approvers_problem(request, events, decisions)):
                if check:
                    report.problems.append(check)
        if events and (name not in anchored or anchored[name][0] < events[-1].seq):
            report.unanchored += 1
    return seen


def gone(name: str, seq: int) -> str | None:
    """A request's chain (named by its UUID) an anchor signed, whose request and events are gone."""
    try:
        uuid.UUID(name)
    except ValueError:
        return None
    return f"chain {name}: an anchor signed it with {seq} events, but its request and events are gone (deleted)"


def event_line(event: RequestEvent) -> str:
    request = event.request
    return export.line(
        "event",
        event,
        request=str(request.uuid),
        task=request.task,
        target_host=request.target_host,
        target_host_name=request.target_host_name,
        kind=event.kind,
        actor=event.actor_username,
        status_before=event.status_before,
        status_after=event.status_after,
        message=event.message,
        detail=event.detail,
    )


def export_lines(window: export.Window) -> Iterator[str]:
    """Every request event in ``window`` (its dates; its chain: one request's id) as a JSON line, a chunk at a time."""
    # Not the request's params: an IOC archive would be read again for every one of its events.
    events = window.within(RequestEvent.objects.select_related("request").defer("request__params"))
    if window.chain is not None:
        events = events.filter(request__uuid=window.chain)
    for event in export.chunked(events, "id"):
        yield event_line(event)


def stored(keys: set[tuple[str, str, int]]) -> dict[tuple[str, str, int], str]:
    """The hashes the database holds of the requests' chains an export named."""
    found: dict[tuple[str, str, int], str] = {}
    request_chains = sorted({name for record, name, _seq in keys if record == "event"})
    for start in range(0, len(request_chains), 500):
        rows = RequestEvent.objects.filter(request__uuid__in=request_chains[start : start + 500])
        for name, seq, digest in rows.values_list("request__uuid", "seq", "hash"):
            found[("event", str(name), seq)] = digest
    return found


chain.register_kind(
    chain.ChainKind(
        name="requests",
        heads=heads,
        has_events_before=has_events_before,
        verify=verify,
        gone=gone,
        export=export_lines,
        stored=stored,
        order=10,
    )
)
