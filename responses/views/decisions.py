"""Deciding: approve, reject, cancel or retry one request, and the approval queue."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import stepup
from responses import (
    approval_card,
    approvals,
    policy,
    queueing,
    risk,
    workflow,
)
from responses.forms.words import in_words
from responses.host_state import portal_isolations
from responses.models import (
    Decision,
    ResponseRequest,
    Status,
)
from responses.templatetags.list_tags import host_url, uuid_url
from responses.views.common import (
    PAGE_SIZES,
    _approval_queue,
    _host_tasks_warning,
    _paginate,
    _query_without_page,
    _refused,
    _visible_or_404,
    request_name,
)
from responses.views.requests import _detail_context

ACTIONS = {
    policy.APPROVE: workflow.approve,
    policy.REJECT: workflow.reject,
    policy.CANCEL: workflow.cancel,
    policy.RETRY: workflow.retry,
}


def _action_message(action: str, rr: ResponseRequest) -> str:
    name = {"request": request_name(rr)}
    if action == policy.APPROVE:
        if rr.status == Status.PENDING_APPROVAL:
            return _("Your approval of %(request)s is recorded; it needs another approver.") % name
        return _("Approved: %(request)s is on its way to KSC.") % name
    return {
        policy.REJECT: _("Rejected: %(request)s."),
        policy.CANCEL: _("Cancelled: %(request)s."),
        policy.RETRY: _("%(request)s will be sent to KSC again."),
    }[action] % name


@login_required
@require_POST
# A decision in the browser needs a fresh proof of identity (cancelling one's own request does not).
@stepup.require_step_up(actions=approvals.STEP_UP_ACTIONS)
def act(request: HttpRequest, key: Any, action: str) -> HttpResponse:
    """Approve, reject, cancel or retry one request; the workflow decides who may."""
    rr = _visible_or_404(request.user, key)
    comment = request.POST.get("comment", "")  # the workflow checks it (required to reject, length)
    if action == policy.APPROVE and policy.may(request.user, policy.APPROVE, rr):
        refused = _unconfirmed_high_risk(request, rr, comment)
        if refused is not None:
            return refused
    try:
        done = ACTIONS[action](rr.uuid, user=request.user, comment=comment)
    except workflow.NotAllowed as exc:
        return _refused(request, exc.message)
    except workflow.WrongStatus as exc:
        rr.refresh_from_db()
        context = _detail_context(request, rr)
        context["action_error"] = exc.message
        return render(request, "responses/detail.html", context, status=409)
    except workflow.InvalidRequest as exc:
        rr.refresh_from_db()
        errors = [in_words(message, {"comment": _("Comment")}) for message in exc.errors.get("comment", [])]
        target = request.POST.get("next", "")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            # From the queue: back to the queue, at this request's card, with the reason; the approver
            # stays where they were deciding (nothing was typed to lose: the comment was empty or refused).
            for message in errors:
                messages.error(request, f"{rr.get_task_display()} — {rr.target_host_name or rr.target_host}: {message}")
            return redirect(f"{target}#q-{rr.uuid}")
        context = _detail_context(request, rr)
        # The message goes next to the comment field of the form that was sent, with what was typed.
        context.update(failed_action=action, failed_comment=comment, comment_errors=errors)
        return render(request, "responses/detail.html", context, status=400)
    messages.success(request, _action_message(action, done))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("responses:detail", key=done.uuid)


def _unconfirmed_high_risk(request: HttpRequest, rr: ResponseRequest, comment: str) -> HttpResponse | None:
    """A high-risk approval without its confirmation (responses/risk.py): refused, nothing recorded; None when fine.

    The pages' Approve forms carry a required check box for a high-risk request, so this is what a
    page without it (an old tab, a hand-made POST) gets: the reason, and the form again.
    """
    if request.POST.get(risk.CONFIRM_FIELD) == "1":
        return None
    judged = approval_card.risk_now(rr)
    if not judged.high:
        return None
    message = _(
        "%(request)s is high risk: tick “I have checked the host and the action” to approve it. Nothing was approved."
    ) % {"request": request_name(rr)}
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        messages.error(request, message)
        return redirect(f"{target}#q-{rr.uuid}")
    context = _detail_context(request, rr)
    context.update(failed_action=policy.APPROVE, failed_comment=comment, comment_errors=[message])
    return render(request, "responses/detail.html", context, status=400)


@login_required
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Requests pending approval, oldest first; each decided on its own (no bulk approval)."""
    user = request.user
    allowed = policy.may_open(user, policy.APPROVAL_QUEUE_PAGE)
    if not allowed:
        return _refused(request, allowed.reason)
    # Prefetched approvals: policy.may reads them for each entry without a query.
    # The card's events (filing, claims) too: a page costs the same queries whatever its size.
    requests = _approval_queue(user).prefetch_related(
        Prefetch("approvals", queryset=Decision.objects.order_by("id")), approval_card.card_events_prefetch()
    )
    page = _paginate(request, requests)
    cards = approval_card.cards(list(page))
    # One query for the whole page: how many response tasks KES may already hold per host.
    load = queueing.host_task_load({rr.target_host for rr in page})
    isolations = portal_isolations(list({rr.target_host for rr in page}))
    # Each entry's four links, reversed once per page (responses/templatetags/list_tags.py).
    detail, approve, reject, host = (
        uuid_url("responses:detail"),
        uuid_url("responses:approve"),
        uuid_url("responses:reject"),
        host_url(),
    )
    entries = []
    for rr in page:
        # One verdict per request (approve and reject share the rule): not one per action and one more for the reason.
        actions, verdict = policy.decision_verdict(user, rr)
        entries.append(
            {
                "rr": rr,
                "host_tasks": _host_tasks_warning(load.get(rr.target_host, 0)),
                "isolation": isolations.get(rr.target_host),
                "actions": actions,
                **cards[rr.pk],
                "approvals_given": rr.approvals_given_so_far(),
                "refusal": verdict.reason,
                "detail_url": detail(rr.uuid),
                "approve_url": approve(rr.uuid),
                "reject_url": reject(rr.uuid),
                "host_url": host(rr.server, rr.target_host),
            }
        )
    return render(
        request,
        "responses/queue.html",
        {
            "page": page,
            "entries": entries,
            "here": request.get_full_path(),  # each decision's way back (its "next")
            "query": _query_without_page(request),
            "page_sizes": PAGE_SIZES,
            "confirm_field": risk.CONFIRM_FIELD,
        },
    )


# The Approve link of e-mails and chat (issue 29, point 4): one page to confirm who you are and approve.
#
# The link never approves by itself (a GET changes nothing): it opens a page with the
# request's summary and one form that posts to the ordinary approve URL, carrying the
# step-up proof (the authenticator's code, or the password) when the session's proof
# is not fresh. The approve view checks that proof and the policy as for any approval,
# so chat and e-mail can lead to a decision but never make one.
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
        "risk": approval_card.risk_now(rr),
    }
    response = render(request, "responses/approve_link.html", context)
    response["Cache-Control"] = "no-store"
    return response
