"""Who hears what (issue 16, "Who hears what"), driven by the audit trail's events.

A request that waits for approval: every approver who may decide it (by
e-mail, asked of ``policy.may_decide``, never a group test of our own) and
the chat channels. Approved, rejected, expired, failed, and (from the outcome
tracking's ``outcome`` events) completed, completed with a warning, failed,
no task appeared or the task vanished on the host: its requester by e-mail;
failures and "no task appeared" also the approvers who approved it and the
chat channels. One reminder for a request still pending after
APPROVAL_REMIND_AFTER goes to approvers and channels (notifications/jobs.py).

New event kinds need an entry in EVENT_KINDS, and something that writes them:
tests/test_notifications_outcomes.py fails on a kind nothing writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from notifications import channels, markup, messages
from notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from responses import policy
from responses.models import Decision, DecisionKind, EventKind, OutcomeState, RequestEvent, ResponseRequest, Status

# The audit trail's event kinds that cause messages, and the message kind each causes.
EVENT_KINDS: dict[str, str] = {
    EventKind.FILED: NotificationKind.APPROVAL_NEEDED,  # only when it waits for approval (kind_for)
    EventKind.APPROVED: NotificationKind.APPROVED,
    EventKind.REJECTED: NotificationKind.REJECTED,
    EventKind.EXPIRED: NotificationKind.EXPIRED,
    EventKind.FAILED: NotificationKind.FAILED,
    # A question of an approver goes to the requester; the requester's answer to those who asked.
    EventKind.COMMENT: NotificationKind.COMMENT,
    # Nobody decided within the approval SLA (notifications/escalation.py): the tier decides the message.
    EventKind.ESCALATED: NotificationKind.ESCALATED,
    # Written by the outcome sweep (responses/outcomes.py) when the [Response] task's state changes;
    # which message (if any) depends on the state it reached: outcome_kind() below.
    EventKind.OUTCOME: NotificationKind.OUTCOME_COMPLETED,
    # Isolate until (responses/isolation.py): the end is near (requester and those who approved it), and an
    # extension waits for an approver.
    EventKind.ISOLATION_ENDING: NotificationKind.ISOLATION_ENDING,
    EventKind.EXTENSION_FILED: NotificationKind.EXTENSION_NEEDED,
}
# The outcome states people are told of, and the message each causes. Pending, running and
# "KSC unreachable" are not news: the request page shows them.
OUTCOME_KINDS: dict[str, str] = {
    OutcomeState.COMPLETED: NotificationKind.OUTCOME_COMPLETED,
    OutcomeState.WARNING: NotificationKind.OUTCOME_WARNING,
    OutcomeState.FAILED: NotificationKind.OUTCOME_FAILED,
    OutcomeState.NO_TASK: NotificationKind.OUTCOME_NO_TASK,
    OutcomeState.GONE: NotificationKind.OUTCOME_GONE,
}
TO_APPROVERS = (NotificationKind.APPROVAL_NEEDED, NotificationKind.REMINDER)
# Those who approved the request hear when it went wrong on the host: they let it through.
TO_DECIDERS = (NotificationKind.OUTCOME_FAILED, NotificationKind.OUTCOME_NO_TASK, NotificationKind.ISOLATION_ENDING)
TO_CHANNELS = (
    NotificationKind.APPROVAL_NEEDED,
    NotificationKind.REMINDER,
    NotificationKind.SNOOZE_ENDED,
    NotificationKind.FAILED,
    NotificationKind.OUTCOME_FAILED,
    NotificationKind.OUTCOME_NO_TASK,
    NotificationKind.EXTENSION_NEEDED,
)
TO_REQUESTER = (
    NotificationKind.APPROVED,
    NotificationKind.REJECTED,
    NotificationKind.EXPIRED,
    NotificationKind.FAILED,
    NotificationKind.ISOLATION_ENDING,
    *OUTCOME_KINDS.values(),
)
# Kinds a burst folds into a digest (a SIEM rule in a loop files dozens of requests a minute).
BURSTY = (NotificationKind.APPROVAL_NEEDED, NotificationKind.REMINDER)
NOTIFY_TYPES = {
    NotificationKind.ESCALATED: "warning",
    NotificationKind.SNOOZE_ENDED: "warning",
    NotificationKind.SLA_BREACHED: "failure",
    NotificationKind.FAILED: "failure",
    NotificationKind.OUTCOME_FAILED: "failure",
    NotificationKind.OUTCOME_NO_TASK: "failure",
    NotificationKind.OUTCOME_COMPLETED: "success",
    NotificationKind.ISOLATION_ENDING: "warning",
    NotificationKind.EXTENSION_NEEDED: "warning",
}


def outcome_kind(event: RequestEvent) -> str | None:
    """The message an ``outcome`` event causes: a change to a state people are told of, once each.

    The sweep writes an event for every change, also pending -> running (no message) and the
    end of tracking (no change: no message). A state reached a second time (failed, then KSC
    unreachable, then failed again) is not news either.
    """
    detail = event.detail or {}
    before, after = detail.get("outcome_before"), detail.get("outcome_after")
    kind = OUTCOME_KINDS.get(after)
    if kind is None or not before or before == after:
        return None
    told_before = RequestEvent.objects.filter(
        request_id=event.request_id, kind=EventKind.OUTCOME, seq__lt=event.seq, detail__outcome_after=after
    ).exclude(detail__outcome_before=after)
    return None if told_before.exists() else kind


def may_cause_message(event: RequestEvent) -> bool:
    """Cheap, without a query: could this event cause a message (kind_for answers for sure)?"""
    if event.kind == EventKind.OUTCOME:
        return (event.detail or {}).get("outcome_after") in OUTCOME_KINDS
    return event.kind in EVENT_KINDS


def may_cause_messages() -> Q:
    """may_cause_message as a filter on RequestEvent (the sweep's catch-up)."""
    others = [kind for kind in EVENT_KINDS if kind != EventKind.OUTCOME]
    return Q(kind__in=others) | Q(kind=EventKind.OUTCOME, detail__outcome_after__in=list(OUTCOME_KINDS))


def kind_for(event: RequestEvent) -> str | None:
    """The message kind an audit event causes, or None (never for a campaign's host: campaigns/notify.py)."""
    kind = _kind_for(event)
    if kind is not None and ResponseRequest.objects.filter(pk=event.request_id, campaign_host__isnull=False).exists():
        return None  # one of a campaign's hosts: the campaign's own messages speak for all of them
    return kind


def _kind_for(event: RequestEvent) -> str | None:
    if event.kind == EventKind.OUTCOME:
        return outcome_kind(event)
    if event.kind == EventKind.ESCALATED:
        tier = (event.detail or {}).get("tier")
        return {2: NotificationKind.ESCALATED, 3: NotificationKind.SLA_BREACHED}.get(tier)
    kind = EVENT_KINDS.get(event.kind)
    if kind == NotificationKind.APPROVAL_NEEDED and event.status_after != Status.PENDING_APPROVAL:
        return None  # filed a task that needs no approval: nobody must act
    if kind == NotificationKind.APPROVED and not event.status_before:
        return None  # approved at filing because it needs no approval: the requester just filed it
    return kind


@dataclass(frozen=True)
class Recipient:
    channel: str
    destination: str
    label: str
    language: str
    body_format: str = markup.TEXT
    address: str = ""
    channel_key: str = ""


def preference(user) -> NotificationPreference:
    try:
        return user.notification_preference  # loaded with the user where approvers_of() loads them
    except NotificationPreference.DoesNotExist:
        return NotificationPreference(user=user)


def user_language(user) -> str:
    language = preference(user).language
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def approvers_of(request: ResponseRequest) -> list:
    """Every user who may decide this request now, as policy.may_decide answers it.

    Every active user is asked rather than a group's members: the policy decides
    (no self-approval, the role, one decision each), not a second rule here. A
    query per user in a background job; portals have hundreds of users, not millions.
    """
    prefetch_related_objects([request], "approvals")  # policy.may_decide reads them for every user
    users = list(
        get_user_model()
        .objects.filter(is_active=True)
        .select_related("notification_preference")
        .prefetch_related("groups")
        .order_by("username")
    )
    policy.prime_roles(users)  # from the prefetch: three queries in all, not one per user
    return [user for user in users if policy.may_decide(user, request)]


def deciders_of(request: ResponseRequest) -> list:
    """The active users who approved this request (told when it went wrong on the host)."""
    approver_ids = Decision.objects.filter(
        request=request, decision=DecisionKind.APPROVE, approver__isnull=False
    ).values("approver_id")
    users = list(
        get_user_model()
        .objects.filter(pk__in=approver_ids, is_active=True)
        .select_related("notification_preference")
        .order_by("username")
    )
    return [user for user in users if policy.may(user, policy.VIEW, request)]


def extension_deciders_of(request: ResponseRequest, event: RequestEvent | None) -> list:
    """The approvers who may decide an isolation's extension (policy.may_decide_extension): never its asker."""
    from responses.models import IsolationExtension

    key = (event.detail or {}).get("extension") if event is not None else None
    extension = IsolationExtension.objects.filter(uuid=key).first() if key else None
    if extension is None:
        return []
    users = list(
        get_user_model()
        .objects.filter(is_active=True)
        .select_related("notification_preference")
        .prefetch_related("groups")
        .order_by("username")
    )
    policy.prime_roles(users)
    return [
        user
        for user in users
        if policy.may(user, policy.VIEW, request) and policy.may_decide_extension(user, extension)
    ]


def email_recipient(user) -> Recipient:
    """A user's e-mail as a destination, in their language (whether they want this kind is asked apart)."""
    return Recipient(
        channel=Channel.EMAIL,
        destination=f"user:{user.get_username()}",
        label=user.get_username(),
        language=user_language(user),
        address=user.email,
    )


def _email_recipient(user, kind: str) -> Recipient | None:
    if not (channels.email_enabled() and user.email):
        return None
    if not preference(user).wants_email(kind):
        return None
    return email_recipient(user)


def chat_recipients(server: str = "") -> list[Recipient]:
    """The chat channels: NOTIFY_URLS through Apprise, and the portal's own Slack and Mattermost senders
    (their messages carry the Claim, Reject and Snooze buttons: notifications/slack.py, mattermost.py).

    These portal-wide channels hear every server's events (the portal operator's: global staff only).
    With ``server``, that server's own channels too (its KSC_SERVERS_FILE entry's notify_urls,
    slack_channels and mattermost_webhook_urls): a tenant's channel hears only its server's events.
    """
    found = []
    for where in ("", server) if server else ("",):
        found += channel_recipients(where)
    return found


def channel_recipients(server: str) -> list[Recipient]:
    """The chat channels of one place: the portal-wide ones (``""``), or that server's own only."""
    own = f" ({server})" if server else ""  # which server's channel, in what auditors read
    found = [
        Recipient(
            channel=Channel.CHAT,
            destination=chat.destination,
            label=chat.label + own,
            language=settings.NOTIFY_LANGUAGE,
            body_format=chat.body_format,
            channel_key=chat.key,
        )
        for chat in channels.chat_channels("chat", server)
    ]
    for index, channel_id in enumerate(channels.configured("slack", server)):
        found.append(
            Recipient(
                channel=Channel.CHAT,
                destination=channels.destination("slack", index, server),
                label=f"Slack {channel_id}{own}",  # a channel id, not a secret
                language=settings.NOTIFY_LANGUAGE,
                body_format=markup.MARKDOWN,
                channel_key=channels.url_key(f"slack:{channel_id}"),
            )
        )
    for index, url in enumerate(channels.configured("mattermost", server)):
        found.append(
            Recipient(
                channel=Channel.CHAT,
                destination=channels.destination("mattermost", index, server),
                label=f"Mattermost webhook {index + 1}{own}",  # never the URL: it is the webhook's secret
                language=settings.NOTIFY_LANGUAGE,
                body_format=markup.MARKDOWN,
                channel_key=channels.url_key(url),
            )
        )
    return found


def askers_of(request: ResponseRequest) -> list:
    """The active approvers who asked a question on this request and may still see it."""
    names = set(
        RequestEvent.objects.filter(request=request, kind=EventKind.COMMENT, detail__by="approver").values_list(
            "actor_username", flat=True
        )
    )
    users = get_user_model().objects.filter(username__in=names, is_active=True).select_related("notification_preference")
    return [user for user in users.order_by("username") if policy.may(user, policy.VIEW, request)]


def tier_two_of(request: ResponseRequest) -> list:
    """ESCALATE_TO's members who may decide this request now (never its requester: policy.may_decide)."""
    if not settings.ESCALATE_TO:
        return []
    return [user for user in approvers_of(request) if policy.in_escalation_tier(user)]


def managers_of(request: ResponseRequest) -> list:
    """SLA_BREACH_TO's active users who may see this request."""
    users = (
        get_user_model()
        .objects.filter(username__in=settings.SLA_BREACH_TO, is_active=True)
        .select_related("notification_preference")
        .order_by("username")
    )
    return [user for user in users if policy.may(user, policy.VIEW, request)]


def oncall_recipients(server: str = "") -> list[Recipient]:
    """ESCALATE_URLS (every server's escalations) and, with ``server``, that server's own escalate_urls."""
    return [
        Recipient(
            channel=Channel.CHAT,
            destination=chat.destination,
            label=f"on-call: {chat.label}" + (f" ({chat.server})" if chat.server else ""),
            language=settings.NOTIFY_LANGUAGE,
            body_format=chat.body_format,
            channel_key=chat.key,
        )
        for where in (("", server) if server else ("",))
        for chat in channels.chat_channels("oncall", where)
    ]


def recipients(kind: str, request: ResponseRequest, event: RequestEvent | None = None) -> list[Recipient]:
    people = []
    if kind == NotificationKind.ESCALATED:
        found = [r for r in (_email_recipient(user, kind) for user in tier_two_of(request)) if r is not None]
        return found + oncall_recipients(request.server)
    if kind == NotificationKind.SLA_BREACHED:
        return [r for r in (_email_recipient(user, kind) for user in managers_of(request)) if r is not None]
    if kind == NotificationKind.COMMENT:
        if event is not None and (event.detail or {}).get("by") == "requester":
            people = askers_of(request)
        elif request.requester is not None and policy.may(request.requester, policy.VIEW, request):
            people = [request.requester]
        people = [user for user in people if user.get_username() != (event.actor_username if event else "")]
    elif kind in TO_APPROVERS:
        people = approvers_of(request)
    elif kind == NotificationKind.SNOOZE_ENDED and event is not None:
        # The approver who snoozed it, by e-mail too, while they may still decide it; the channels below.
        people = [user for user in approvers_of(request) if user.get_username() == event.actor_username]
    elif kind == NotificationKind.EXTENSION_NEEDED:
        people = extension_deciders_of(request, event)
    elif kind in TO_REQUESTER and request.requester is not None:
        if policy.may(request.requester, policy.VIEW, request):  # a disabled account hears nothing
            people = [request.requester]
    if kind in TO_DECIDERS:
        people += [user for user in deciders_of(request) if user not in people]
    found = [r for r in (_email_recipient(user, kind) for user in people) if r is not None]
    if kind in TO_CHANNELS:
        found += chat_recipients(request.server)
    return found


@dataclass
class Plan:
    to_send: list[Notification]
    new_digests: list[Notification]


def _over_burst(destination: str, now: dt.datetime) -> bool:
    since = now - dt.timedelta(seconds=settings.NOTIFY_BURST_WINDOW)
    sent = Notification.objects.filter(
        destination=destination, kind__in=BURSTY, created_at__gte=since, digest__isnull=True
    ).count()
    return sent >= settings.NOTIFY_BURST_LIMIT


def _open_digest(recipient: Recipient, now: dt.datetime) -> tuple[Notification, bool]:
    """The destination's digest still waiting to go out, or a new one (True)."""
    digest = (
        Notification.objects.select_for_update()
        .filter(destination=recipient.destination, kind=NotificationKind.DIGEST, status=DeliveryStatus.PENDING)
        .first()
    )
    if digest is not None:
        return digest, False
    return record(NotificationKind.DIGEST, recipient, None, None, now), True


def record(kind: str, recipient: Recipient, request, event, now: dt.datetime, **fields) -> Notification:
    """The row of one message to one recipient (written before it is sent)."""
    return Notification.objects.create(
        request=request,
        event=event,
        kind=kind,
        channel=recipient.channel,
        destination=recipient.destination,
        label=recipient.label,
        address=recipient.address,
        channel_key=recipient.channel_key,
        language=recipient.language,
        body_format=recipient.body_format,
        created_at=now,
        **fields,
    )


def plan(kind: str, request: ResponseRequest, event: RequestEvent | None = None) -> Plan:
    """Write the messages of ``kind`` about ``request``, one per recipient; the caller sends them.

    Past NOTIFY_BURST_LIMIT approval messages to one destination within
    NOTIFY_BURST_WINDOW seconds, the rest wait in one digest per destination,
    sent when the window ends.
    """
    now = timezone.now()
    result = Plan([], [])
    with transaction.atomic():
        for recipient in recipients(kind, request, event):
            composed = messages.compose(
                kind, request, language=recipient.language, fmt=recipient.body_format, event=event
            )
            fields = {"subject": composed.subject, "body": composed.body}
            if kind in BURSTY and _over_burst(recipient.destination, now):
                digest, new = _open_digest(recipient, now)
                if new:
                    result.new_digests.append(digest)
                record(kind, recipient, request, event, now, status=DeliveryStatus.IN_DIGEST, digest=digest, **fields)
            else:
                result.to_send.append(record(kind, recipient, request, event, now, **fields))
    return result


def notify_type(kind: str) -> str:
    return NOTIFY_TYPES.get(kind, "warning" if kind in BURSTY or kind == NotificationKind.DIGEST else "info")
