"""The audit chains' pages: the chain's standing and "Verify now", the history of verifications,
the JSON-lines export (auditors; who they are is the policy's answer, audit/access.py).

The URLs stay under the requests' namespace (responses/urls.py) where they always were.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from audit import access, dates, verification
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
            "dates_help": dates.help_text(),
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
    """GET /audit/export.jsonl?since=…&until=…&request=…: the trail as JSON lines (auditors and superusers).

    ``since`` / ``until``: a date or a date and time (audit/dates.py; a date as ``until`` takes in the
    whole day); ``request``: one request's id, its events only. A bad value is refused (400), never
    exported wider.
    """
    if not access.may_read(request.user):
        return HttpResponse(_("Only auditors can export the audit trail."), status=403, content_type="text/plain")
    errors = []
    bounds = {}
    for name, end in (("since", False), ("until", True)):
        raw = request.GET.get(name, "").strip()
        if raw:
            try:
                bounds[name] = dates.moment(raw, end=end)
            except dates.BadDate as exc:
                errors.append(f"{name}: {exc}")
    chain = request.GET.get("request", "").strip()
    if chain:
        try:
            chain = str(uuid.UUID(chain))
        except ValueError:
            errors.append(_("request: “%(text)s” is not a request's id (a UUID).") % {"text": chain[:40]})
    if bounds.get("since") and bounds.get("until") and bounds["since"] >= bounds["until"]:
        errors.append(_("since must be before until."))
    if errors:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
    lines = event_lines(bounds.get("since"), until=bounds.get("until"), chain=chain or None)
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="edr-portal-audit.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
