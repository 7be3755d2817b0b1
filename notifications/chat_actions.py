"""What a button in a chat message does, and what the message says afterwards (issue 29, point 4).

Three safe actions: **Claim** ("I am looking at it"), **Reject** with a reason, **Snooze**
this reminder. None approves: Approve is a link to the portal's step-up page
(responses/views/decisions.py). Each action is taken by the portal user the chat user maps to
(notifications/chat_users.py), through the same functions as the pages (``review.claim``,
``workflow.reject``, ``review.snooze``), so the same policy decides: a requester cannot
reject their own request from chat either. Slack and Mattermost (notifications/slack.py,
notifications/mattermost.py) only verify, parse and render; this module decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notifications import markup, messages
from notifications.models import NotificationKind
from responses import policy, review, workflow
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import EventKind, ResponseRequest, Status

CLAIM, REJECT, SNOOZE = "claim", "reject", "snooze"
ACTIONS = (CLAIM, REJECT, SNOOZE)
# The messages that carry buttons: those asking for a decision. Others (failures, outcomes) are plain.
INTERACTIVE_KINDS = (NotificationKind.APPROVAL_NEEDED, NotificationKind.REMINDER, NotificationKind.SNOOZE_ENDED)


class Refused(Exception):
    """The interaction changed nothing; ``status`` is the HTTP answer, the message what the clicker reads."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Card:
    """A message about a request as it stands now: its words, what happened since, its buttons."""

    kind: str
    request: ResponseRequest
    subject: str
    body: str
    lines: list[str] = field(default_factory=list)
    pending: bool = False
    claimed: bool = False
    labels: dict[str, str] = field(default_factory=dict)


def _time(value) -> str:
    return timezone.localtime(value).strftime("%H:%M")


def status_lines(rr: ResponseRequest, fmt: str) -> list[str]:
    """What approvers did to the request from chat or the page, one line each, in the active language."""
    lines = []
    kinds = (EventKind.REVIEW_CLAIMED, EventKind.SNOOZED, EventKind.REJECTED, EventKind.APPROVED)
    for event in rr.events.filter(kind__in=kinds).order_by("seq"):
        who = markup.user_text(event.actor_username, fmt, 150)
        via = (event.detail or {}).get("via") or "portal"
        if event.kind == EventKind.REVIEW_CLAIMED:
            lines.append(_("Claimed by %(user)s at %(time)s (%(via)s).") % {"user": who, "time": _time(event.created_at), "via": via})
        elif event.kind == EventKind.SNOOZED:
            until = review.snoozed_until(event)
            lines.append(
                _("Reminder snoozed by %(user)s until %(time)s.")
                % {"user": who, "time": _time(until) if until else "?"}
            )
        elif event.kind == EventKind.REJECTED:
            lines.append(
                _("Rejected by %(user)s at %(time)s (%(via)s): %(reason)s")
                % {
                    "user": who,
                    "time": _time(event.created_at),
                    "via": via,
                    "reason": markup.user_text(event.message, fmt, 300),
                }
            )
        else:
            lines.append(_("Approved by %(user)s at %(time)s.") % {"user": who, "time": _time(event.created_at)})
    if rr.status not in (Status.PENDING_APPROVAL, Status.REJECTED) and not any(
        event_kind == EventKind.APPROVED for event_kind in rr.events.values_list("kind", flat=True)
    ):
        lines.append(_("This request is now %(status)s; see the portal.") % {"status": rr.get_status_display().lower()})
    return lines


def card(rr: ResponseRequest, kind: str, *, fmt: str = markup.MARKDOWN, language: str | None = None, event=None) -> Card:
    """The message of ``kind`` about ``rr`` as it should read now (sent, or updated in place after a click)."""
    language = language or settings.NOTIFY_LANGUAGE
    composed = messages.compose(kind, rr, language=language, fmt=fmt, event=event)
    with translation.override(language):
        claimed = rr.events.filter(kind=EventKind.REVIEW_CLAIMED).exists()
        return Card(
            kind=kind,
            request=rr,
            subject=composed.subject,
            body=composed.body,
            lines=status_lines(rr, fmt),
            pending=rr.status == Status.PENDING_APPROVAL and kind in INTERACTIVE_KINDS,
            claimed=claimed,
            labels={
                CLAIM: _("Claim (I am looking at it)"),
                REJECT: _("Reject"),
                SNOOZE: _("Snooze %(minutes)d min") % {"minutes": settings.CHAT_SNOOZE_MINUTES},
                "approve": _("Approve on the portal"),
                "reason": _("Reason to reject"),
                "reason_hint": _("Why it must not happen (the requester reads it)"),
                "approve_url": messages.approve_url(rr),
            },
        )


def decidable(user, key: str) -> ResponseRequest:
    """The request ``key`` if ``user`` may reject it now (before asking them for a reason); raises Refused."""
    with translation.override(settings.NOTIFY_LANGUAGE):
        rr = ResponseRequest.objects.filter(uuid=key).first() if _is_uuid(key) else None
        if rr is None or not policy.may(user, policy.VIEW, rr):
            raise Refused(404, _("No such request, or you may not see it."))
        verdict = policy.may(user, policy.REJECT, rr)
        if not verdict:
            raise Refused(409 if verdict.conflict else 403, verdict.reason)
        return rr


def perform(service: str, user, key: str, action: str, reason: str = "") -> str:
    """Take ``action`` on the request ``key`` as ``user``; returns what to tell them; raises Refused."""
    with translation.override(settings.NOTIFY_LANGUAGE):
        rr = ResponseRequest.objects.filter(uuid=key).first() if _is_uuid(key) else None
        if rr is None or not policy.may(user, policy.VIEW, rr):
            raise Refused(404, _("No such request, or you may not see it."))
        try:
            if action == CLAIM:
                review.claim(rr, user=user, via=service)
                return _("You claimed this request: the other approvers see that you are looking at it.")
            if action == SNOOZE:
                review.snooze(rr, user=user, via=service, minutes=settings.CHAT_SNOOZE_MINUTES)
                return _("Reminder snoozed for %(minutes)d minutes.") % {"minutes": settings.CHAT_SNOOZE_MINUTES}
            if action == REJECT:
                if not (reason or "").strip():
                    raise Refused(400, _("Write the reason to reject first: the requester reads it. Nothing was changed."))
                workflow.reject(rr, user=user, comment=reason, via=service)
                return _("You rejected this request; its requester is told why.")
        except InvalidRequest as exc:
            raise Refused(400, _first_error(exc)) from None
        except NotAllowed as exc:
            raise Refused(403, str(exc)) from None
        except WrongStatus as exc:
            raise Refused(409, str(exc)) from None
        raise Refused(400, _("Chat can claim, reject and snooze; approve on the portal (the Approve link)."))


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _first_error(exc: InvalidRequest) -> str:
    errors = getattr(exc, "errors", None) or getattr(exc, "detail", None)
    if isinstance(errors, dict):
        for value in errors.values():
            if isinstance(value, (list, tuple)) and value:
                return str(value[0])
            if value:
                return str(value)
    return str(exc)
