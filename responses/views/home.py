"""The home page: what needs this user first, their recent requests, the chain's standing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import verification
from responses import (
    attention,
    policy,
)
from responses.models import (
    ResponseRequest,
)
from responses.views.common import _approval_queue


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_file = bool(policy.may(user, policy.FILE))
    context: dict[str, Any] = {
        "can_file": can_file,
        "can_view_all": policy.sees_all_requests(user),
        "is_approver": policy.is_approver(user),
    }
    if can_file:
        context["recent"] = list(ResponseRequest.objects.visible_to(user).filter(requester=user)[:5])
    if context["is_approver"]:
        context["pending_count"] = _approval_queue(user).count()
    context["chain"] = verification.standing_for(user)
    # The home page leads with what needs this user (responses/attention.py).
    context["attention"] = attention.for_user(user)
    context["attention_days"] = settings.ATTENTION_DAYS
    return render(request, "responses/home.html", context)
