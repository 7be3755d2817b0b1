"""The in-portal side of notifications: preferences, the live JSON, the demo mailbox (the language switch is accounts/language.py)."""

from __future__ import annotations

import mailbox
import uuid as uuid_module
from email.header import decode_header, make_header
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from notifications.context_processors import queue_stamp, waiting_count, waiting_label
from notifications.models import USER_CHOICES, NotificationPreference
from responses import policy
from responses.models import ResponseRequest

MAX_POLLED = 100  # request ids one poll may ask about


@login_required
@require_POST
def preferences(request: HttpRequest) -> HttpResponse:
    """Which kinds of e-mail the user gets (all by default), from the account page."""
    wanted = set(request.POST.getlist("email"))
    unknown = wanted - {str(kind) for kind in USER_CHOICES}
    if unknown:
        messages.error(request, _("Unknown kind of notification: %(kinds)s.") % {"kinds": ", ".join(sorted(unknown))})
        return redirect("account")
    off = [str(kind) for kind in USER_CHOICES if str(kind) not in wanted]
    NotificationPreference.objects.update_or_create(user=request.user, defaults={"email_off": off})
    messages.success(request, _("Your notification settings are saved."))
    return redirect("account")


def _leaves_the_session_alone(view):
    """A poll is not activity: it must not push back the session's inactivity timeout.

    SESSION_SAVE_EVERY_REQUEST makes every response save the session and extend its
    expiry; a page left open on the queue would then never log out. The poll's own
    session object does not save (nothing it does changes the session).
    """

    def wrapped(request: HttpRequest, *args, **kwargs):
        session = getattr(request, "session", None)
        if session is not None:
            session.save = lambda *save_args, **save_kwargs: None
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@_leaves_the_session_alone
@never_cache
@login_required
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    """What the self-refreshing pages poll: the menu's count, the queue's stamp, and the asked requests' states.

    Three small queries, none of which grows with the queue: the count (bounded, approvers
    only), the queue's stamp (one aggregate), and the states of the asked ids this user may see.
    """
    user = request.user
    keys = []
    for raw in request.GET.get("requests", "").split(",")[:MAX_POLLED]:
        try:
            keys.append(uuid_module.UUID(raw.strip()))
        except ValueError:
            continue
    count = waiting_count(user)
    data: dict = {"waiting": count, "waiting_label": waiting_label(count), "requests": {}}
    if policy.sees_all_requests(user):  # they see the whole queue
        data["queue"] = queue_stamp()
    if keys:
        rows = ResponseRequest.objects.visible_to(user).filter(uuid__in=keys).values_list("uuid", "status", "updated_at")
        data["requests"] = {str(key): f"{status}:{updated.isoformat()}" for key, status, updated in rows}
    return JsonResponse(data)


# --- The demo mailbox (`make run`'s SMTP sink; simulated mode only) --------------------------


def _header(value: str | None) -> str:
    return str(make_header(decode_header(value))) if value else ""


def _text_of(message) -> str:
    part = next((p for p in message.walk() if p.get_content_type() == "text/plain"), None)
    payload = part.get_payload(decode=True) if part is not None else b""
    return payload.decode(part.get_content_charset() or "utf-8", "replace") if payload else ""


@never_cache
@login_required
@require_GET
def mailbox_view(request: HttpRequest) -> HttpResponse:
    """The mails `make run`'s local SMTP sink received: superusers only, and only with the simulated KSC."""
    if not policy.may_read_demo_mailbox(request.user):
        raise Http404
    box = mailbox.Maildir(Path(settings.MAIL_SINK_DIR), create=False) if Path(settings.MAIL_SINK_DIR).is_dir() else {}
    mails = []
    for key in box.keys() if box else []:
        message = box[key]
        mails.append(
            {
                "date": _header(message["Date"]),
                "to": _header(message["To"]),
                "subject": _header(message["Subject"]),
                "body": _text_of(message),
                "sort": message.get_date() if hasattr(message, "get_date") else 0,
            }
        )
    mails.sort(key=lambda mail: mail["sort"], reverse=True)
    return render(request, "notifications/mailbox.html", {"mails": mails[:200], "total": len(mails)})
