"""One request's page: its fields, trail, outcome, the host's facts and the actions this user may take."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from responses import (
    catalog,
    filing,
    filing_hints,
    hosts,
    isolation,
    policy,
    queueing,
    results,
    risk,
)
from responses.host_state import portal_isolation
from responses.models import (
    IN_FLIGHT,
    OPEN,
    EventKind,
    OutcomeState,
    ResponseRequest,
    Status,
)
from responses.outcomes import outcome_of
from responses.views.common import DRAFT_FILED, _host_tasks_warning, _visible_or_404

# A page in flight reloads itself this often (no JavaScript needed).
REFRESH_SECONDS = 5


OUTCOME_REFRESH_SECONDS = 15  # the outcome sweep runs every OUTCOME_SWEEP_INTERVAL (30 s) by default


def _detail_context(request: HttpRequest, rr: ResponseRequest) -> dict[str, Any]:
    prefetch_related_objects([rr], "events", "approvals", "submission_attempts")
    user = request.user
    actions = policy.allowed_actions(user, rr)
    release_url = ""
    undo = rr.task_type.undo_params(rr.params) if rr.status == Status.SUBMITTED else None
    if undo is not None and policy.may(user, policy.FILE):
        # The opposite request (from the catalog), prefilled: a new request that passes the same approvals.
        query = {
            "task": rr.task,
            "target_host": rr.target_host,
            "target_host_name": rr.target_host_name,
            **{f"params-{name}": value for name, value in undo.items()},
        }
        if rr.external_ref:
            query["external_ref"] = rr.external_ref
        release_url = f"{reverse('responses:new')}?{urlencode(query)}"
    # An isolation links forward to its release, and offers no other once the release completed (issue 30, point 2).
    release = filing_hints.release_of(rr, user)
    release_outcome = outcome_of(release) if release is not None else None
    release_completed = release_outcome is not None and release_outcome.state == OutcomeState.COMPLETED
    if release_completed:
        release_url = ""
    task = rr.task_type
    events = list(rr.events.all())
    host_tasks = 0
    if rr.status == Status.PENDING_APPROVAL and (policy.APPROVE in actions or policy.REJECT in actions):
        host_tasks = _host_tasks_warning(queueing.host_task_load([rr.target_host]).get(rr.target_host, 0))
    # KSC is asked about the host only while acting on it still lies ahead (pending or in flight).
    host_facts, host_facts_error = hosts.state(rr.target_host, server=rr.server) if rr.status in OPEN else (None, "")
    return {
        "rr": rr,
        # Questions and answers without deciding (responses/comments.py)
        "thread": [event for event in events if event.kind == EventKind.COMMENT],
        # The escalation ladder (notifications/escalation.py writes these events): tier 2, then SLA breached.
        "escalations": [event for event in events if event.kind == EventKind.ESCALATED],
        "may_comment": bool(policy.may_comment(user, rr)),
        "host_facts": host_facts,
        "host_facts_error": host_facts_error,
        # While it is open: how risky it is, with the host's group as KSC says it (responses/risk.py).
        "risk": risk.of(rr.task, rr.params, host_facts.host.group_name if host_facts is not None else None)
        if rr.status in OPEN
        else None,
        "host_unchecked": filing.host_unchecked(rr, events),
        "protected_override": filing.protected_override(rr, events),
        "isolation": portal_isolation(rr.target_host, rr.server),
        "host_tasks": host_tasks,
        "task": task,
        "fields": [(spec, _param_value(spec, rr.params, rr.archive_names)) for spec in task.fields]
        if not task.list_params
        else [],
        "scan_objects": _scan_objects(rr.params) if task.list_params else [],
        "timeline": [
            {"event": event, "before": _status_label(event.status_before), "after": _status_label(event.status_after)}
            for event in events
        ],
        # Late duplicates a slow KSC made: each removal, and loudly each that failed.
        "duplicate_events": [
            event for event in events if event.kind in (EventKind.DUPLICATE_REMOVED, EventKind.DUPLICATE_KEPT)
        ],
        "unknown_search_until": (
            rr.finished_at + dt.timedelta(seconds=settings.KSC_UNKNOWN_OUTCOME_SEARCH)
            if rr.ksc_outcome_unknown and rr.finished_at
            else None
        ),
        "actions": actions,
        "release_url": release_url,
        "release": release,
        "release_outcome": release_outcome,
        "release_completed": release_completed,
        # Ways out (issue 17, point 6): file again as a copy, the isolation a release ends, what to do.
        "copy_url": filing_hints.copy_url(rr)
        if rr.status in (Status.REJECTED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)
        and policy.may(user, policy.FILE)
        else "",
        "ended_isolation": filing_hints.ended_isolation(rr, user),
        "failure_advice": filing_hints.failure_advice(rr, may_retry=policy.RETRY in actions),
        "ksc_console_url": filing_hints.ksc_console_url(),
        "external_ref_url": filing_hints.external_ref_url(rr.external_ref),
        "in_flight": rr.status in IN_FLIGHT,
        "outcome": (outcome := outcome_of(rr)),
        # What the finished task did: found, isolated, where the file is (responses/results.py)
        "results": results.result_lines(rr, outcome),
        # The page follows the outcome too, until the host's outcome is final.
        "following_outcome": outcome is not None and not outcome.final and outcome.tracking,
        "outcome_refresh_seconds": OUTCOME_REFRESH_SECONDS,
        "refresh_seconds": REFRESH_SECONDS,
        "approvals_given": rr.approvals_given_so_far(),
        # Isolate until: the end as approved, the schedule, Extend / Release now / Hold (responses/views/isolation.py)
        **isolation.page_context(user, rr),
    }


def _status_label(value: str) -> str:
    return str(Status(value).label) if value in Status.values else value


def _scan_objects(params: Any) -> list[dict[str, Any]]:
    objects = []
    for item in params if isinstance(params, list) else []:
        label = catalog.SCAN_OBJECT_TYPES.get(item.get("type"), "")
        # The label alone: KSC's code (22) means nothing to the reader; the raw params keep it.
        objects.append({**item, "type_label": label or item.get("type")})
    return objects


def _param_value(spec: catalog.Field, params: Any, archive_names: Any = None) -> Any:
    if not isinstance(params, dict) or spec.name not in params:
        return None
    value = params[spec.name]
    if spec.kind == catalog.CHOICE and spec.choices and value in spec.choices:
        return str(spec.choices[value])  # in words; the raw value is in the exports
    if catalog.field_kind(spec) == catalog.IOC_ZIP and isinstance(value, str):
        # Shown as on the preview (responses/_ioc_archive.html): file name (web form only), size and digest,
        # never megabytes of base64. A request from the API has no name, and none is made up.
        names = archive_names if isinstance(archive_names, dict) else {}
        return {
            "ioc_archive": True,
            "file_name": catalog.archive_file_name(names.get(spec.name)),
            **catalog.ioc_archive_summary(value),
        }
    return value


@login_required
@require_GET
def request_detail(request: HttpRequest, key: Any) -> HttpResponse:
    rr = _visible_or_404(request.user, key)
    context = _detail_context(request, rr)
    context["draft_filed"] = request.session.pop(DRAFT_FILED, "")
    return render(request, "responses/detail.html", context)
