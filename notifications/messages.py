"""The words of each message, in the recipient's language and the channel's markup.

A message says what is asked, on which host (KSC's name), who asked and why
(shortened), how long it has waited, and links to the request page. It never
carries the parameters' secrets, tokens or the IOC archive: only what the
approval queue already shows, with user-supplied text escaped by markup.user_text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from notifications import markup
from notifications.models import NotificationKind
from responses import isolation
from responses.models import RequestEvent, ResponseRequest

JUSTIFICATION_LIMIT = 300
COMMENT_LIMIT = 500

SUBJECTS = {
    NotificationKind.APPROVAL_NEEDED: gettext_lazy("Approval needed: %(task)s on %(host)s"),
    NotificationKind.REMINDER: gettext_lazy("Still waiting for approval: %(task)s on %(host)s"),
    NotificationKind.APPROVED: gettext_lazy("Approved: %(task)s on %(host)s"),
    NotificationKind.REJECTED: gettext_lazy("Rejected: %(task)s on %(host)s"),
    NotificationKind.EXPIRED: gettext_lazy("Expired without a decision: %(task)s on %(host)s"),
    NotificationKind.FAILED: gettext_lazy("Could not be submitted to KSC: %(task)s on %(host)s"),
    NotificationKind.COMMENT: gettext_lazy("A question or an answer: %(task)s on %(host)s"),
    NotificationKind.ESCALATED: gettext_lazy("Escalated, still waiting for approval: %(task)s on %(host)s"),
    NotificationKind.SNOOZE_ENDED: gettext_lazy("Snoozed reminder, still waiting for approval: %(task)s on %(host)s"),
    NotificationKind.SLA_BREACHED: gettext_lazy("Approval SLA breached: %(task)s on %(host)s"),
    NotificationKind.OUTCOME_COMPLETED: gettext_lazy("Completed on the host: %(task)s on %(host)s"),
    NotificationKind.OUTCOME_WARNING: gettext_lazy("Completed with a warning: %(task)s on %(host)s"),
    NotificationKind.OUTCOME_FAILED: gettext_lazy("Failed on the host: %(task)s on %(host)s"),
    NotificationKind.OUTCOME_NO_TASK: gettext_lazy("No KSC task appeared: %(task)s on %(host)s"),
    NotificationKind.OUTCOME_GONE: gettext_lazy("KSC task gone: %(task)s on %(host)s"),
    NotificationKind.ISOLATION_ENDING: gettext_lazy("Isolation ends soon: %(host)s"),
    NotificationKind.EXTENSION_NEEDED: gettext_lazy("Extension of an isolation waits for approval: %(host)s"),
}
HEADLINES = {
    NotificationKind.APPROVAL_NEEDED: gettext_lazy("%(requester)s asks for an approval. Another approver must decide."),
    NotificationKind.REMINDER: gettext_lazy(
        "This request still waits for an approval; it expires when nobody decides."
    ),
    NotificationKind.APPROVED: gettext_lazy("The request was approved and is on its way to KSC."),
    NotificationKind.REJECTED: gettext_lazy("The request was rejected by %(actor)s; it will not be sent to KSC."),
    NotificationKind.EXPIRED: gettext_lazy("Nobody decided within the approval window; the request expired."),
    NotificationKind.FAILED: gettext_lazy("The portal could not submit the request to KSC; an approver may retry it."),
    NotificationKind.COMMENT: gettext_lazy(
        "%(actor)s wrote on the request (no decision was made; answer on the request page):"
    ),
    NotificationKind.ESCALATED: gettext_lazy(
        "Nobody decided this request within its approval SLA: it is escalated to you. "
        "Its requester cannot approve it; another approver must."
    ),
    NotificationKind.SLA_BREACHED: gettext_lazy(
        "The approval SLA of this request is breached: nobody decided it within twice its SLA."
    ),
    NotificationKind.SNOOZE_ENDED: gettext_lazy(
        "%(actor)s snoozed the reminder of this request; it still waits for an approval."
    ),
    NotificationKind.OUTCOME_COMPLETED: gettext_lazy("KSC reports that the response task completed on the host."),
    NotificationKind.OUTCOME_WARNING: gettext_lazy(
        "KSC reports that the response task completed on the host with a warning."
    ),
    NotificationKind.OUTCOME_FAILED: gettext_lazy("KSC reports that the response task failed on the host."),
    NotificationKind.OUTCOME_NO_TASK: gettext_lazy(
        "KSC shows no response task for this incident: the action may not have reached the host."
    ),
    NotificationKind.OUTCOME_GONE: gettext_lazy(
        "The response task the portal followed is gone from KSC: the outcome on the host is not known."
    ),
    NotificationKind.ISOLATION_ENDING: gettext_lazy(
        "The isolation of this host ends soon and the portal will then release it. On the request page: "
        "Extend (a new end, approved like the isolation), Release now, or Hold (approvers: keep it isolated)."
    ),
    NotificationKind.EXTENSION_NEEDED: gettext_lazy(
        "%(actor)s asks to extend the isolation of this host. Another approver must decide on the request page."
    ),
}
# The event's message is the approver's comment for these kinds, the error for those.
COMMENT_KINDS = (NotificationKind.APPROVED, NotificationKind.REJECTED, NotificationKind.COMMENT)
ERROR_KINDS = (NotificationKind.FAILED,)
# What KSC said of the outcome (the sweep's event message, with KSC's reason).
OUTCOME_DETAIL_KINDS = (
    NotificationKind.OUTCOME_WARNING,
    NotificationKind.OUTCOME_FAILED,
    NotificationKind.OUTCOME_NO_TASK,
    NotificationKind.OUTCOME_GONE,
)


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str


def request_url(request: ResponseRequest) -> str:
    return settings.PORTAL_BASE_URL + reverse("responses:detail", kwargs={"key": request.uuid})


def approve_url(request: ResponseRequest) -> str:
    """A page to confirm who you are and approve (responses/views/decisions.py): a link never decides by itself."""
    return settings.PORTAL_BASE_URL + reverse("responses:approve_link", kwargs={"key": request.uuid})


def _subject(text: str) -> str:
    # One line, whatever a host name holds: a line break in a subject would be refused by Django.
    return markup.shorten(f"[EDR] {text}", 250)


def _finish(body: str, fmt: str) -> str:
    body = body.strip() + "\n"
    return body.replace("\n", "<br>\n") if fmt == markup.HTML else body


def _facts(request: ResponseRequest, fmt: str, now: dt.datetime) -> dict:
    return {
        "task": request.task_type.label_for(request.params),
        "what": markup.user_text(request.task_type.message_words(request.params), fmt, 200),
        "host": markup.user_text(request.target_host_name or request.target_host, fmt, 120),
        "host_id": markup.user_text(request.target_host, fmt, 80),
        "server": markup.user_text(request.server, fmt, 40),  # the KSC server that holds the host
        "requester": markup.user_text(request.requester_username, fmt, 150),
        "justification": markup.user_text(request.justification, fmt, JUSTIFICATION_LIMIT),
        "age": timesince(request.created_at, now),
        "expires_at": request.expires_at,
        "link": request_url(request),
        "approve_link": approve_url(request),
    }


def _isolation_facts(kind: str, request: ResponseRequest, event: RequestEvent | None) -> dict:
    """An isolation's end as approved, and for a warning or an extension the end it is about (UTC and the filer's zone)."""
    facts = {"isolation_end": isolation.describe_end(request.isolation_end)}
    detail = (event.detail or {}) if event is not None else {}
    if kind in (NotificationKind.ISOLATION_ENDING, NotificationKind.EXTENSION_NEEDED) and detail.get("release_at"):
        end = dt.datetime.fromisoformat(detail["release_at"])
        facts["ends_at"] = isolation.both_zones(end, (request.isolation_end or {}).get("tz", ""))
        if kind == NotificationKind.EXTENSION_NEEDED and detail.get("current_end"):
            facts["current_end"] = isolation.both_zones(dt.datetime.fromisoformat(detail["current_end"]))
    if kind == NotificationKind.EXTENSION_NEEDED:
        facts["comment"] = markup.user_text(event.message if event else "", markup.TEXT, COMMENT_LIMIT)
    return facts


def compose(
    kind: str,
    request: ResponseRequest,
    *,
    language: str,
    fmt: str,
    event: RequestEvent | None = None,
    now: dt.datetime | None = None,
) -> Composed:
    """The message of ``kind`` about ``request`` (and the event that caused it)."""
    now = now or timezone.now()
    with translation.override(language):
        facts = _facts(request, fmt, now)
        actor = markup.user_text(event.actor_username if event else "", fmt, 150)
        note = markup.user_text(event.message if event else "", fmt, COMMENT_LIMIT)
        context = {
            **facts,
            "kind": kind,
            "headline": HEADLINES[kind] % {"requester": facts["requester"], "actor": actor},
            "pending": kind
            in (
                NotificationKind.APPROVAL_NEEDED,
                NotificationKind.REMINDER,
                NotificationKind.ESCALATED,
                NotificationKind.SLA_BREACHED,
                NotificationKind.SNOOZE_ENDED,
            ),
            "comment": note if kind in COMMENT_KINDS else "",
            "error": (note or markup.user_text(request.last_error, fmt, COMMENT_LIMIT)) if kind in ERROR_KINDS else "",
            "ksc_said": note if kind in OUTCOME_DETAIL_KINDS else "",
            "actor": actor,
            **_isolation_facts(kind, request, event),
        }
        subject = _subject(str(SUBJECTS[kind] % {"task": facts["task"], "host": facts["host"]}))
        body = render_to_string("notifications/message.txt", context)
    return Composed(subject, _finish(body, fmt))


def compose_digest(requests: Sequence[ResponseRequest], *, language: str, fmt: str) -> Composed:
    """One message for a burst of waiting requests (more than NOTIFY_BURST_LIMIT in a window)."""
    now = timezone.now()
    with translation.override(language):
        entries = [_facts(request, fmt, now) for request in requests]
        subject = _subject(
            ngettext(
                "%(count)d more request waits for approval", "%(count)d more requests wait for approval", len(entries)
            )
            % {"count": len(entries)}
        )
        body = render_to_string(
            "notifications/digest.txt",
            {
                "entries": entries,
                "count": len(entries),
                "queue": settings.PORTAL_BASE_URL + reverse("responses:queue"),
            },
        )
    return Composed(subject, _finish(body, fmt))


def compose_test(*, language: str, fmt: str) -> Composed:
    with translation.override(language):
        subject = _subject(_("Test message"))
        body = render_to_string(
            "notifications/test.txt", {"link": settings.PORTAL_BASE_URL + reverse("account"), "now": timezone.now()}
        )
    return Composed(subject, _finish(body, fmt))
