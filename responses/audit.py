"""The domain audit trail as JSON lines, for auditors and SIEMs.

One line per event, in chain order, with its seq, hash and prev_hash so that the
receiving side can check the chain too. ``after_seq`` lets a SIEM pull only what
is new since its last pull. Used by the auditors' download and `manage.py export_audit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from responses import roles
from responses.models import RequestEvent

CHUNK = 2000


def event_line(event: RequestEvent) -> str:
    request = event.request
    return json.dumps(
        {
            "seq": event.seq,
            "at": event.created_at.isoformat(),
            "request": str(request.uuid),
            "task": request.task,
            "target_host": request.target_host,
            "target_host_name": request.target_host_name,
            "kind": event.kind,
            "actor": event.actor_username,
            "status_before": event.status_before,
            "status_after": event.status_after,
            "message": event.message,
            "detail": event.detail,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def event_lines(after_seq: int = 0, since=None) -> Iterator[str]:
    """Every event after ``after_seq`` (and at or after ``since``), a chunk at a time, in chain order."""
    while True:
        events = RequestEvent.objects.select_related("request").filter(seq__gt=after_seq).order_by("seq")
        if since is not None:
            events = events.filter(created_at__gte=since)
        batch = list(events[:CHUNK])
        for event in batch:
            yield event_line(event) + "\n"
        if len(batch) < CHUNK:
            return
        after_seq = batch[-1].seq


def may_export(user) -> bool:
    return bool(user.is_active and (user.is_superuser or roles.has_role(user, roles.AUDITORS)))


@login_required
@require_GET
def export_jsonl(request: HttpRequest) -> HttpResponse:
    """GET /audit/export.jsonl?after_seq=N&since=ISO: the trail as JSON lines (auditors and superusers)."""
    if not may_export(request.user):
        return HttpResponse(_("Only auditors can export the audit trail."), status=403, content_type="text/plain")
    errors = []
    after_raw = request.GET.get("after_seq", "0") or "0"
    if not after_raw.isdigit():
        errors.append(_("after_seq must be a whole number of 0 or more."))
    since_raw = request.GET.get("since", "")
    since = parse_datetime(since_raw) if since_raw else None
    if since_raw and since is None:
        errors.append(_("since must be a date and time such as 2026-11-27T08:00:00Z."))
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain")
    response = StreamingHttpResponse(event_lines(int(after_raw), since), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="edr-portal-audit.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
