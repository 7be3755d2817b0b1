"""Template pieces the existing pages include: account settings, the request's messages, live polling."""

from __future__ import annotations

import datetime as dt
import json

from django import template
from django.urls import reverse
from django.utils import timezone

from notifications import channels, routing
from notifications.context_processors import queue_stamp
from notifications.models import USER_CHOICES, Channel, DeliveryStatus, Notification, NotificationKind
from responses import policy
from responses.models import Status

register = template.Library()

# How often the self-refreshing pages poll: often enough for a queue, rare enough to cost nothing.
POLL_SECONDS = 15


def _chat_labels() -> list[str]:
    try:
        return [chat.label for chat in channels.chat_channels()]
    except Exception:  # a URL refused at start never gets here; a page must not fail on it anyway
        return []


@register.inclusion_tag("notifications/_account.html", takes_context=True)
def notification_settings(context) -> dict:
    user = context["request"].user
    prefs = routing.preference(user)
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "enabled": channels.enabled(),
        "email_enabled": channels.email_enabled(),
        "chats": _chat_labels(),
        "address": user.email,
        "language": routing.user_language(user),
        "kinds": [(str(kind), kind.label, prefs.wants_email(kind)) for kind in USER_CHOICES],
    }


# How far back the administrators' notice counts messages given up on.
UNDELIVERED_SHOWN = dt.timedelta(days=7)


@register.inclusion_tag("notifications/_undelivered.html", takes_context=True)
def undelivered_notice(context) -> dict:
    """For administrators, on every page: messages given up on lately, and those still being retried.

    Two counts over the (status, created_at) index, and only for users the policy lets see them.
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not policy.sees_undelivered_notifications(user):
        return {"shown": False}
    failed = Notification.objects.filter(
        status=DeliveryStatus.FAILED, created_at__gte=timezone.now() - UNDELIVERED_SHOWN
    )
    count = failed.count()
    waiting = Notification.objects.filter(status=DeliveryStatus.RETRYING, next_try_at__isnull=False).count()
    latest = failed.order_by("-created_at", "-id").first() if count else None
    return {
        "shown": bool(count or waiting),
        "failed": count,
        "waiting": waiting,
        "latest": latest,
        "url": reverse("admin:notifications_notification_changelist"),
    }


@register.inclusion_tag("notifications/_request.html", takes_context=True)
def request_notifications(context, rr) -> dict:
    """Beside a request's trail: what was sent to whom (auditors, approvers) and, while pending, who can approve."""
    user = context["request"].user
    sees_all = policy.sees_all_requests(user)
    notes = list(Notification.objects.filter(request=rr).order_by("created_at", "id")) if sees_all else []
    deciders = []
    if rr.status == Status.PENDING_APPROVAL and (sees_all or rr.requester_id == user.pk):
        told = {
            note.label: note
            for note in Notification.objects.filter(
                request=rr,
                channel=Channel.EMAIL,
                kind__in=[NotificationKind.APPROVAL_NEEDED, NotificationKind.REMINDER],
            )
        }
        for approver in routing.approvers_of(rr):
            name = approver.get_username()
            wants = bool(approver.email) and routing.preference(approver).wants_email(NotificationKind.APPROVAL_NEEDED)
            deciders.append({"name": name, "emailed": wants and channels.email_enabled(), "note": told.get(name)})
    return {
        "rr": rr,
        "notes": notes,
        "sees_all": sees_all,
        "pending": rr.status == Status.PENDING_APPROVAL,
        "deciders": deciders,
        "chats": _chat_labels() if rr.status == Status.PENDING_APPROVAL else [],
        "enabled": channels.enabled(),
    }


@register.simple_tag
def told_on_cards(entries) -> str:
    """Who was told about each request of an approval-queue page (issue 30, point 1): sets each entry's
    ``told`` (e-mail recipients and chat channels, each named once, the first told first), in one query
    for the page. Shows nothing itself."""
    by_request: dict[int, list[str]] = {}
    ids = [entry["rr"].pk for entry in entries]
    rows = (
        Notification.objects.filter(
            request_id__in=ids, kind__in=[NotificationKind.APPROVAL_NEEDED, NotificationKind.REMINDER]
        )
        .order_by("created_at", "id")
        .values_list("request_id", "label")
        if ids
        else []
    )
    for request_id, label in rows:
        names = by_request.setdefault(request_id, [])
        if label not in names:
            names.append(label)
    for entry in entries:
        entry["told"] = by_request.get(entry["rr"].pk, [])
    return ""


@register.inclusion_tag("notifications/_live.html", takes_context=True)
def live_updates(context, requests=(), queue: bool = False, single=None) -> dict:
    """A hidden element static/notifications.js reads: what to poll, and the states the page shows now."""
    user = context["request"].user
    if single is not None:
        requests = [single]
    stamps = {str(rr.uuid): f"{rr.status}:{rr.updated_at.isoformat()}" for rr in requests}
    watch_queue = bool(queue and policy.sees_all_requests(user))
    return {
        "url": reverse("notifications:live"),
        "interval": POLL_SECONDS,
        "stamps": json.dumps(stamps),
        "queue_stamp": queue_stamp() if watch_queue else "",
        "watch_queue": watch_queue,
    }
