"""Who is looking at a waiting request: claims and snoozed reminders (issue 29, "Safe actions from chat").

A claim ("I am looking at it") tells the other approvers that someone has started, so two do
not both start; it decides nothing and holds nobody back: anyone who may decide the request
still may. A snooze puts a reminder off for CHAT_SNOOZE_MINUTES: the notifications sweep sends
it again then (notifications/jobs.py, ``remind_snoozed``); expiry and escalation are unchanged.
Both are events of the request's keyed trail, under the row lock, asked of the same policy as
the pages (``policy.may_claim``), whoever's button (Slack, Mattermost, the page) caused them.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from responses import policy, trail, trail_messages
from responses.errors import WrongStatus
from responses.models import EventKind, RequestEvent, ResponseRequest

# Where a claim or a snooze came from: kept in the event's detail, shown in the trail.
VIA = ("slack", "mattermost", "portal")


def _locked(rr: ResponseRequest) -> ResponseRequest:
    return ResponseRequest.objects.select_for_update().get(pk=rr.pk)


def claim_of(rr: ResponseRequest) -> RequestEvent | None:
    """The request's claim, if someone claimed it (the first one stands)."""
    return rr.events.filter(kind=EventKind.REVIEW_CLAIMED).order_by("seq").first()


def claim(rr: ResponseRequest, *, user, via: str) -> RequestEvent:
    """Record that ``user`` is looking at ``rr``; refused when somebody claimed it already."""
    if via not in VIA:
        raise ValueError(f"unknown origin {via!r}")
    with transaction.atomic():
        locked = _locked(rr)
        policy.may_claim(user, locked).enforce()
        earlier = claim_of(locked)
        if earlier is not None:
            if earlier.actor_username == user.get_username():
                raise WrongStatus(_("You claimed this request already."))
            raise WrongStatus(
                _("%(user)s claimed this request already, at %(time)s.")
                % {"user": earlier.actor_username, "time": timezone.localtime(earlier.created_at).strftime("%H:%M")}
            )
        message = trail_messages.say(gettext_noop("Looking at it (claimed from %(via)s)."), via=via)
        return trail.append(locked, EventKind.REVIEW_CLAIMED, user.get_username(), locked.status, message, {"via": via})


def snooze(rr: ResponseRequest, *, user, via: str, minutes: int) -> RequestEvent:
    """Put the request's reminder off for ``minutes``: it is sent again then, if the request still waits."""
    if via not in VIA:
        raise ValueError(f"unknown origin {via!r}")
    with transaction.atomic():
        locked = _locked(rr)
        policy.may_claim(user, locked).enforce()
        until = timezone.now() + dt.timedelta(minutes=minutes)
        if locked.expires_at is not None and until >= locked.expires_at:
            raise WrongStatus(
                _("This request expires before the snooze would end; decide it on the portal or let it expire.")
            )
        message = trail_messages.say(gettext_noop("Reminder snoozed for %(minutes)d min (from %(via)s)."), minutes=minutes, via=via)
        return trail.append(
            locked,
            EventKind.SNOOZED,
            user.get_username(),
            locked.status,
            message,
            {"via": via, "until": until.isoformat(), "minutes": minutes},
        )


def snoozed_until(event: RequestEvent) -> dt.datetime | None:
    value = (event.detail or {}).get("until")
    return parse_datetime(value) if isinstance(value, str) else None
