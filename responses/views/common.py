"""What the portal's pages share: refusals, paging, the visible-or-404 rule, how a message names a request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from responses import (
    workflow,
)
from responses.models import (
    ResponseRequest,
)
from responses.paging import EstimatingPaginator

PAGE_SIZES = (25, 50, 100)


DEFAULT_PAGE_SIZE = 50


# Session key: "<user pk>:<task>" of a form just filed, so its page tells the browser to drop that draft.
DRAFT_FILED = "responses.draft_filed"


def _refused(request: HttpRequest, reason: str, status: int = 403) -> HttpResponse:
    return render(request, "responses/refused.html", {"reason": reason}, status=status)


def _paginate(request: HttpRequest, requests: QuerySet[ResponseRequest]) -> Page:
    """One page of a list: the planner's estimate, at most one count and one SELECT (plus prefetches).

    The same queries whatever the page size (responses/paging.py, EstimatingPaginator).
    """
    try:
        per_page = int(request.GET.get("per_page", DEFAULT_PAGE_SIZE))
    except ValueError:
        per_page = DEFAULT_PAGE_SIZE
    if per_page not in PAGE_SIZES:
        per_page = DEFAULT_PAGE_SIZE
    return EstimatingPaginator(requests, per_page).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _visible_or_404(user, key: Any) -> ResponseRequest:
    """The request if this user may see it; 404 otherwise, so that nobody learns what exists."""
    try:
        return workflow.get_for_user(user, key)
    except ResponseRequest.DoesNotExist:
        raise Http404(_("No such request, or you may not see it.")) from None


def _host_tasks_warning(count: int) -> int:
    """The count worth warning approvers about (KES keeps at most 100 response tasks per host), else 0."""
    return count if count >= settings.HOST_TASKS_WARNING else 0


def _approval_queue(user) -> QuerySet[ResponseRequest]:
    return ResponseRequest.objects.visible_to(user).awaiting_decision()


def request_name(rr: ResponseRequest) -> str:
    """How a message names a request: its task and host, so that a flash after a redirect says which."""
    return _("%(task)s on %(host)s") % {"task": rr.get_task_display(), "host": rr.target_host_name or rr.target_host}
