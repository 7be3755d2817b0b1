"""The audit chains' pages: the chain's standing and "Verify now", the history of verifications,
the JSON-lines export (auditors; who they are is the policy's answer, audit/access.py).

The URLs stay under the requests' namespace (responses/urls.py) where they always were.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit import access, verification
from audit.export import event_lines
from audit.models import AuditAnchor, VerificationSource


def _refuse_chain(request: HttpRequest) -> HttpResponse:
    return render(request, "responses/refused.html", {"reason": _("Only auditors verify the audit chain.")}, status=403)


@login_required
@require_http_methods(["GET", "POST"])
def chain_status(request: HttpRequest) -> HttpResponse:
    """GET /audit/chain/: the last verification and the newest anchor; POST: verify every chain now (auditors).

    The POST keeps the result (audit/verification.py) and leads back to the page, which shows it.
    """
    if not access.may_read(request.user):
        return _refuse_chain(request)
    if request.method == "POST":
        verification.verify_and_record(source=VerificationSource.USER, user=request.user)
        return redirect("responses:audit_chain")
    return render(
        request,
        "responses/audit_chain.html",
        {
            "latest_anchor": AuditAnchor.objects.order_by("-seq").first(),
            "chain": verification.standing(),
        },
    )


@login_required
@require_GET
def chain_history(request: HttpRequest) -> HttpResponse:
    """GET /audit/chain/history/: the last verifications, newest first (auditors)."""
    if not access.may_read(request.user):
        return _refuse_chain(request)
    return render(
        request,
        "responses/audit_chain_history.html",
        {"verifications": verification.history(), "limit": verification.HISTORY},
    )


@login_required
@require_GET
def export_jsonl(request: HttpRequest) -> HttpResponse:
    """GET /audit/export.jsonl?since=ISO: the trail as JSON lines (auditors and superusers)."""
    if not access.may_read(request.user):
        return HttpResponse(_("Only auditors can export the audit trail."), status=403, content_type="text/plain")
    errors = []
    since_raw = request.GET.get("since", "")
    since = parse_datetime(since_raw) if since_raw else None
    if since_raw and since is None:
        errors.append(_("since must be a date and time such as 2026-11-27T08:00:00Z."))
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain")
    response = StreamingHttpResponse(event_lines(since), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="edr-portal-audit.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
