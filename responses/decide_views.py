"""The Approve link of e-mails and chat (issue 29, point 4): one page to confirm who you are and approve.

The link never approves by itself (a GET changes nothing): it opens a page with the
request's summary and one form that posts to the ordinary approve URL, carrying the
step-up proof (the authenticator's code, or the password) when the session's proof
is not fresh. The approve view checks that proof and the policy as for any approval,
so chat and e-mail can lead to a decision but never make one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts import stepup
from responses import policy
from responses.views import _visible_or_404


@login_required
@require_GET
def approve_link(request: HttpRequest, key: Any) -> HttpResponse:
    rr = _visible_or_404(request.user, key)
    verdict = policy.may(request.user, policy.APPROVE, rr)
    if not verdict:
        # Decided meanwhile, one's own request, no approver role: the request page says where it stands.
        messages.info(request, verdict.reason)
        return redirect("responses:detail", key=rr.uuid)
    fresh = stepup.is_fresh(request)
    here = reverse("responses:approve_link", kwargs={"key": rr.uuid})
    context = {
        "rr": rr,
        "task": rr.task_type,
        "fresh": fresh,
        "uses_code": stepup.has_code(request.user),
        "provider_url": "" if fresh else stepup.provider_step_up_url(request, here),
        "code_field": stepup.CODE_FIELD,
        "password_field": stepup.PASSWORD_FIELD,
        "approvals_given": rr.approvals_given_so_far(),
    }
    response = render(request, "responses/approve_link.html", context)
    response["Cache-Control"] = "no-store"
    return response
