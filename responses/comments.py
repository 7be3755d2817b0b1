"""Questions and answers on a pending request, without deciding it (issue 29, "Comment without deciding").

An approver who needs more information asks on the request instead of rejecting
it; its requester is told and answers on the page; the approvers who asked are
told of the answer. Each comment is an event of the request's keyed trail
(kind ``comment``): it changes no status and counts as no decision.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from responses import policy, trail
from responses.errors import InvalidRequest
from responses.models import EventKind, RequestEvent, ResponseRequest

MAX_COMMENT = 2000


def clean(text: Any) -> str:
    """The comment as kept: text, no control characters but line breaks, 1 to MAX_COMMENT characters."""
    if not isinstance(text, str):
        raise InvalidRequest({"comment": [_("The comment must be text.")]})
    if any(ord(ch) < 32 and ch not in "\n\r\t" or ord(ch) == 127 for ch in text):
        raise InvalidRequest({"comment": [_("The comment must not contain control characters.")]})
    text = text.strip()
    if not text:
        raise InvalidRequest({"comment": [_("Write the question or the answer.")]})
    if len(text) > MAX_COMMENT:
        raise InvalidRequest(
            {"comment": [_("The comment is longer than %(max)d characters.") % {"max": MAX_COMMENT}]}
        )
    return text


def add(rr: ResponseRequest, *, user, text: Any) -> RequestEvent:
    """Append a question (approver) or an answer (requester) to the request's trail; its status is unchanged."""
    text = clean(text)
    with transaction.atomic():
        locked = ResponseRequest.objects.select_for_update().get(pk=rr.pk)
        policy.may_comment(user, locked).enforce()  # under the lock: the request may have been decided meanwhile
        role = "requester" if locked.requester_id == user.pk else "approver"
        return trail.append(locked, EventKind.COMMENT, user.get_username(), locked.status, text, {"by": role})


def thread(rr: ResponseRequest) -> list[RequestEvent]:
    """The request's questions and answers, oldest first."""
    return [event for event in rr.events.all() if event.kind == EventKind.COMMENT]
