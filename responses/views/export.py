"""The filtered "All requests" list as CSV, streamed in chunks."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from responses import (
    catalog,
    policy,
)
from responses.filtersets import RequestFilterSet
from responses.models import (
    Decision,
    ResponseRequest,
)
from responses.outcomes import outcome_of
from responses.views.common import _refused

CSV_COLUMNS = (
    "uuid",
    "created_at",
    "task",
    "action",
    "server",  # the KSC server (its name in the servers file) that holds the host and the incident
    "target_host",
    "target_host_name",
    "requester",
    "source",
    "status",  # in words, in the exporting reader's language
    "status_code",  # the code (pending_approval, submitted...), for scripts
    "approvals_required",
    "decisions",
    "decided_at",
    "submitted_at",
    "ksc_incident_id",
    "attempts",
    "last_error",
    "external_ref",
    "justification",
    "params",  # JSON; an IOC archive as its size and SHA-256, never the archive itself
    # The outcome on the host, from KSC's task (responses/outcomes.py); empty before the request reached KSC.
    "outcome_state",  # the code (waiting, running, completed, warning, failed...), for scripts
    "outcome_label",  # in words, in the exporting reader's language
    "outcome_since",  # when the outcome last changed
    "ksc_task_id",
    "campaign",  # the campaign's id when the request is one of a campaign's hosts
)


EXPORT_CHUNK = 1000


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (justifications are free text)."""
    text = "" if value is None else str(value)
    # Full-width ＝ ＋ － ＠ too: spreadsheets in East Asian locales read them as the ASCII signs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20"):
        return "'" + text
    return text


def _csv_rows(requests: QuerySet[ResponseRequest]) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    # Streamed in chunks: each chunk is one SELECT and one prefetch of its decisions.
    for rr in requests.iterator(chunk_size=EXPORT_CHUNK):
        decisions = "; ".join(f"{a.approver_username}:{a.decision}" for a in rr.approvals.all())
        outcome = outcome_of(rr)
        campaign_host = getattr(rr, "campaign_host", None)  # the reverse one-to-one: None when not a campaign's
        yield [
            _cell(value)
            for value in (
                rr.uuid,
                rr.created_at.isoformat(),
                rr.task,
                rr.describe(),
                rr.server,
                rr.target_host,
                rr.target_host_name,
                rr.requester_username,
                rr.source,
                rr.get_status_display(),
                rr.status,
                rr.approvals_required,
                decisions,
                rr.decided_at.isoformat() if rr.decided_at else "",
                rr.submitted_at.isoformat() if rr.submitted_at else "",
                rr.ksc_incident_id,
                rr.attempts,
                rr.last_error,
                rr.external_ref,
                rr.justification,
                json.dumps(catalog.params_for_listing(rr.task, rr.params), ensure_ascii=False, sort_keys=True),
                outcome.state if outcome else "",
                outcome.label if outcome else "",
                outcome.since.isoformat() if outcome and outcome.since else "",
                (outcome.ksc_task_id or "") if outcome else "",
                campaign_host.campaign.uuid if campaign_host is not None else "",
            )
        ]


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    """The filtered "All requests" list as CSV (every matching row, not one page)."""
    allowed = policy.may_open(request.user, policy.EXPORT_PAGE)
    if not allowed:
        return _refused(request, allowed.reason)
    filters = RequestFilterSet(request.GET, queryset=ResponseRequest.objects.visible_to(request.user))
    if not filters.is_valid():
        return _refused(request, _("The filters are not valid; correct them on the list first."), status=400)
    requests = (
        filters.rows()
        .select_related("outcome", "campaign_host__campaign")
        .prefetch_related(Prefetch("approvals", queryset=Decision.objects.order_by("created_at", "id")))
    )
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _csv_rows(requests)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="edr-requests-{stamp}.csv"'
    return response
