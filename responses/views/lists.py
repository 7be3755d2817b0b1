"""The request lists: "My requests" and "All requests" (one FilterSet), rows at a fixed query cost."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from audit import verification
from responses import (
    policy,
)
from responses.filtersets import RequestFilterSet
from responses.models import (
    Decision,
    DecisionKind,
    ResponseRequest,
    Status,
)
from responses.views.common import PAGE_SIZES, _paginate, _query_without_page, _refused


def _list_rows(requests: QuerySet[ResponseRequest]) -> QuerySet[ResponseRequest]:
    # Everything a row shows is on the request itself (requester_username, target_host_name)
    # or in this one subquery: no per-row query, so a page costs the same whatever its size.
    # A correlated subquery rather than a JOIN + GROUP BY: the database computes it for the
    # rows of the page only, after sorting and LIMIT, and the COUNT leaves it out.
    # Counted as responses.approvals counts them: by a user who still exists, on the request's fingerprint
    # (a requester's own approval, which the policy never lets anyone record, is not looked for here).
    given = (
        Decision.objects.filter(
            request=OuterRef("pk"),
            decision=DecisionKind.APPROVE,
            approver__isnull=False,
            fingerprint=OuterRef("fingerprint"),
        )
        .order_by()
        .values("request")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        requests.select_related("outcome")
        .annotate(approvals_given=Coalesce(Subquery(given), 0))
        .order_by("-created_at", "-id")
    )


@login_required
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    user = request.user
    requests = ResponseRequest.objects.visible_to(user).filter(requester=user)
    status = request.GET.get("status", "")
    if status in Status.values:
        requests = requests.filter(status=status)
    page = _paginate(request, _list_rows(requests))
    return render(
        request,
        "responses/my_requests.html",
        {
            "page": page,
            "statuses": Status.choices,
            "status": status,
            "query": _query_without_page(request),
            "page_sizes": PAGE_SIZES,
            "can_file": bool(policy.may(user, policy.FILE)),
        },
    )


@login_required
@require_GET
def all_requests(request: HttpRequest) -> HttpResponse:
    """Every request (approvers, auditors, superusers), filtered and searchable; read-only."""
    allowed = policy.may_open(request.user, policy.ALL_REQUESTS_PAGE)
    if not allowed:
        return _refused(request, allowed.reason)
    filters = RequestFilterSet(request.GET, queryset=ResponseRequest.objects.visible_to(request.user))
    page = _paginate(request, _list_rows(filters.rows()))
    query = _query_without_page(request)
    return render(
        request,
        "responses/all_requests.html",
        {
            "page": page,
            "filters": filters.form,
            "query": query,
            "export_query": urlencode([(k, v) for k, v in request.GET.items() if k not in ("page", "per_page")]),
            "page_sizes": PAGE_SIZES,
            "chain": verification.standing_for(request.user),
            # Open the folded filters when one is set (they show what the list is narrowed by).
            "filters_used": any(v for k, v in request.GET.items() if k not in ("page", "per_page")),
        },
    )
