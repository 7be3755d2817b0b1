"""The accounts chain's page for auditors: who granted whom which role or reset whose 2FA."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.models import AccountEvent
from audit import access

ACCOUNT_EVENTS_PAGE = 50


@login_required
@require_GET
def account_events(request: HttpRequest) -> HttpResponse:
    """GET /audit/accounts/: who granted whom which role or reset whose 2FA, newest first (auditors)."""
    if not access.may_read(request.user):
        return render(
            request, "responses/refused.html", {"reason": _("Only auditors see account changes.")}, status=403
        )
    events = AccountEvent.objects.order_by("-seq")
    subject = request.GET.get("user", "").strip()
    if subject:
        events = events.filter(Q(subject_username=subject) | Q(actor_username=subject))
    page = Paginator(events, ACCOUNT_EVENTS_PAGE).get_page(request.GET.get("page"))
    query = urlencode({"user": subject}) if subject else ""
    return render(request, "responses/account_events.html", {"page": page, "subject": subject, "query": query})
