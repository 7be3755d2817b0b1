"""An isolation's end on pages: the request page's schedule and its actions, and "Isolated now" (with its CSV).

Thin: parse, ask responses.policy (through responses.isolation, which enforces it), call, render.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import stepup
from responses import isolation, policy
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import ExtensionStatus, IsolationExtension, ResponseRequest
from responses.views.common import _refused, _visible_or_404


def _back(rr: ResponseRequest) -> HttpResponse:
    return redirect(reverse("responses:detail", kwargs={"key": rr.uuid}) + "#isolation")


def _refusal(request: HttpRequest, rr: ResponseRequest, exc: Exception) -> HttpResponse:
    if isinstance(exc, NotAllowed):
        return _refused(request, exc.message)
    from responses.views.requests import _detail_context  # the page, with the error in place

    rr.refresh_from_db()
    context = _detail_context(request, rr)
    if isinstance(exc, InvalidRequest):
        context["isolation_errors"] = exc.errors
        context["isolation_form"] = request.POST
        status = 400
    else:
        context["action_error"] = exc.message
        status = 409
    return render(request, "responses/detail.html", context, status=status)


@login_required
@require_POST
@stepup.require_step_up(actions=(policy.HOLD,))
def isolation_action(request: HttpRequest, key: Any, action: str) -> HttpResponse:
    """Release now, Hold or Extend an isolation, from its request page (or its release's)."""
    rr = _visible_or_404(request.user, key)
    row = isolation.isolation_of(rr)
    if row is None:
        raise Http404
    try:
        if action == policy.RELEASE_NOW:
            isolation.release_now(row, user=request.user, comment=request.POST.get("comment", ""))
            messages.success(request, _("The release goes out now, on the approval given with the isolation."))
        elif action == policy.HOLD:
            isolation.hold(row, user=request.user, reason=request.POST.get("reason", ""))
            messages.success(request, _("Held: the host stays isolated until someone releases it."))
        elif action == policy.EXTEND:
            data = _end_data(request)
            isolation.extend(row, user=request.user, data=data, justification=request.POST.get("justification", ""))
            messages.success(request, _("The extension waits for approval; the release moves once it is approved."))
        else:
            raise Http404
    except (NotAllowed, WrongStatus, InvalidRequest) as exc:
        return _refusal(request, rr, exc)
    return _back(rr)


def _end_data(request: HttpRequest) -> dict[str, Any]:
    """The extension form: more hours, or a date and time in the user's time zone."""
    choice = request.POST.get("extend_by", "")
    zone = request.POST.get("time_zone", "")
    if choice == "until":
        return {"isolate_until": request.POST.get("until_local", ""), "time_zone": zone, "local": True}
    return {"isolate_hours": choice, "time_zone": zone}


@login_required
@require_POST
@stepup.require_step_up(actions=("approve", "reject"))
def decide_extension(request: HttpRequest, key: Any, action: str) -> HttpResponse:
    """An approver approves or rejects an extension (on the isolation's request page)."""
    extension = get_object_or_404(IsolationExtension.objects.select_related("isolation__request"), uuid=key)
    rr = _visible_or_404(request.user, extension.isolation.request.uuid)
    try:
        isolation.decide_extension(
            extension, user=request.user, approve=action == "approve", comment=request.POST.get("comment", "")
        )
    except (NotAllowed, WrongStatus, InvalidRequest) as exc:
        return _refusal(request, rr, exc)
    extension.refresh_from_db()
    if extension.status == ExtensionStatus.APPROVED:
        messages.success(request, _("Extension approved: the release moved to the new end."))
    elif extension.status == ExtensionStatus.REJECTED:
        messages.success(request, _("Extension rejected: the end stays as it was."))
    else:
        messages.success(request, _("Your approval of the extension is recorded; it needs another approver."))
    return _back(rr)


@login_required
@require_GET
def isolated_now(request: HttpRequest) -> HttpResponse:
    """Every host isolated by the portal's records, soonest end first; ``?host=`` filters."""
    if not policy.may_see_hosts(request.user):
        return _refused(request, _("Only analysts, approvers and auditors see isolated hosts."))
    host = request.GET.get("host", "").strip()
    rows = [row for row in isolation.isolated_now(request.user, table_only=True) if _matches(row, host)]
    return render(request, "responses/isolated.html", {"rows": rows, "host": host, "now": timezone.now()})


def _matches(row: isolation.IsolatedHost, text: str) -> bool:
    text = text.lower()
    return not text or text in row.isolation.host_name.lower() or text in row.isolation.host_id.lower()


CSV_COLUMNS = ("host_id", "host_name", "since", "release_at", "held", "held_by", "ends_by", "request", "release_request")


def csv_rows(rows: list[isolation.IsolatedHost]) -> list[dict[str, str]]:
    return [
        {
            "host_id": item.isolation.host_id,
            "host_name": item.isolation.host_name,
            "since": item.since.isoformat() if item.since else "",
            "release_at": item.release_at.isoformat() if item.release_at else "",
            "held": "yes" if item.held else "no",
            "held_by": item.isolation.held_by,
            "ends_by": "kes_policy" if item.ends_by_kes else ("release" if not item.isolation.until_released else "until_released"),
            "request": str(item.isolation.request.uuid),
            "release_request": str(item.isolation.release.uuid) if item.isolation.release_id else "",
        }
        for item in rows
    ]


@login_required
@require_GET
def isolated_csv(request: HttpRequest) -> HttpResponse:
    if not policy.may_see_hosts(request.user):
        return _refused(request, _("Only analysts, approvers and auditors see isolated hosts."))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="isolated-now.csv"'
    writer = csv.DictWriter(response, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for line in csv_rows(isolation.isolated_now(request.user)):
        # A spreadsheet must not run a host name as a formula.
        writer.writerow({key: ("'" + value if value[:1] in "=+-@\t\r" else value) for key, value in line.items()})
    return response
