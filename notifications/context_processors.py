"""The menu's count of requests that wait for this user's decision (lazy: evaluated only where shown)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from responses import policy
from responses.models import Decision, ResponseRequest


def pending_requests() -> list[ResponseRequest]:
    """Every request pending approval and not past its window, oldest first, with its approvals: two queries.

    The list is short (requests expire, and REQUEST_RATE_LIMIT bounds filing), and
    only the columns policy.may_decide reads are loaded.
    """
    return list(
        ResponseRequest.objects.awaiting_decision()
        .only("id", "uuid", "status", "requester_id", "requester_username", "updated_at", "created_at")
        .prefetch_related(
            Prefetch("approvals", queryset=Decision.objects.only("request_id", "approver_id", "approver_username"))
        )
        .order_by("created_at", "id")
    )


def waiting_for(user, pending: list[ResponseRequest]) -> list[ResponseRequest]:
    """The pending requests this user may decide now, as policy.may_decide answers (no self-approval...)."""
    if not (user and user.is_authenticated):
        return []
    return [rr for rr in pending if policy.may_decide(user, rr)]


def queue_stamp(pending: list[ResponseRequest]) -> str:
    """Changes whenever a request enters or leaves the queue, or one in it changes (an approval added)."""
    latest = max((rr.updated_at for rr in pending), default=None)
    return f"{len(pending)}:{latest.isoformat() if latest else ''}"


def pending_for(request: HttpRequest) -> list[ResponseRequest]:
    """The pending list, loaded once per HTTP request (the menu, the queue's stamp and the live JSON share it)."""
    cached = getattr(request, "_portal_pending", None)
    if cached is None:
        cached = request._portal_pending = pending_requests()
    return cached


def waiting(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "waiting_count": SimpleLazyObject(lambda: len(waiting_for(user, pending_for(request)))),
        # `make run`'s mail sink: superusers get a link to the demo's mails beside the simulation banner.
        "demo_mailbox": policy.may_read_demo_mailbox(user),
    }
