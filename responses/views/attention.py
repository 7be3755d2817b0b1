"""The "Needs attention" page (responses/attention.py decides what is on it)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from responses import attention, policy
from responses.models import OutcomeState, Status

# The auditors' saved filters: links into the request list, which does the filtering (one FilterSet).
AUDIT_LINKS = (
    (_("Could not be submitted to KSC"), {"status": Status.FAILED}),
    (_("Failed on the host"), {"outcome": OutcomeState.FAILED}),
    (_("No KSC task appeared"), {"outcome": OutcomeState.NO_TASK}),
    (_("KSC task gone"), {"outcome": OutcomeState.GONE}),
    (_("Rejected"), {"status": Status.REJECTED}),
    (_("Expired without a decision"), {"status": Status.EXPIRED}),
)


def audit_links(user) -> list[dict]:
    if not policy.sees_all_requests(user):
        return []
    base = reverse("responses:all")
    return [{"label": label, "url": f"{base}?{urlencode(query)}"} for label, query in AUDIT_LINKS]


@login_required
@require_GET
def needs_attention(request: HttpRequest) -> HttpResponse:
    user = request.user
    found = attention.for_user(user)
    return render(
        request,
        "responses/attention.html",
        {
            "attention": found,
            "attention_days": settings.ATTENTION_DAYS,
            "can_file": bool(policy.may(user, policy.FILE)),
            "is_approver": policy.is_approver(user),
            "audit_links": audit_links(user),
        },
    )
