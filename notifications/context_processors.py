"""The menu's count of requests that wait for this user's decision (lazy: evaluated only where shown)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from responses import workflow
from responses.models import Approval, ResponseRequest, Status


def waiting_for(user) -> list[ResponseRequest]:
    """Pending requests this user may decide now, oldest first: two queries, whatever their number.

    Each is asked of workflow.permission (no self-approval, the role, one decision
    each); the pending list is short (requests expire), so asking each is cheap.
    """
    if not (user and user.is_authenticated):
        return []
    now = timezone.now()
    pending = (
        ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .only("id", "uuid", "status", "requester_id", "requester_username", "updated_at", "created_at")
        .prefetch_related(Prefetch("approvals", queryset=Approval.objects.only("request_id", "approver_username")))
        .order_by("created_at", "id")
    )
    return [rr for rr in pending if workflow.permission(user, workflow.APPROVE, rr)]


def waiting(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"waiting_count": SimpleLazyObject(lambda: len(waiting_for(user)))}
