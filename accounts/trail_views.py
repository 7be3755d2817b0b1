"""The accounts chain's page for auditors: who granted whom which role or reset whose 2FA."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts import account_trail
from accounts.models import AccountEvent
from audit import access, dates

ACCOUNT_EVENTS_PAGE = 50


@login_required
@require_GET
def account_events(request: HttpRequest) -> HttpResponse:
    """GET /audit/accounts/: who granted whom which role or reset whose 2FA, newest first (auditors).

    ``user``: changed or acting; ``since`` / ``until``: a date or a date and time (audit/dates.py). A bad
    date is said beside its field and lists nothing (never a silently wider list), with status 400.
    """
    if not access.may_read(request.user):
        return render(
            request, "responses/refused.html", {"reason": _("Only auditors see account changes.")}, status=403
        )
    events = AccountEvent.objects.order_by("-seq")
    subject = request.GET.get("user", "").strip()
    if subject:
        events = events.filter(Q(subject_username=subject) | Q(actor_username=subject))
    typed = {name: request.GET.get(name, "").strip()[:40] for name in ("since", "until")}
    errors: dict[str, str] = {}
    for name, end in (("since", False), ("until", True)):
        if typed[name]:
            try:
                when = dates.moment(typed[name], end=end)
            except dates.BadDate as exc:
                errors[name] = str(exc)
            else:
                events = events.filter(**{"created_at__gte" if name == "since" else "created_at__lt": when})
    if errors:
        events = events.none()
    page = Paginator(events, ACCOUNT_EVENTS_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.detail_lines = detail_lines(event.detail)
    query = urlencode({key: value for key, value in (("user", subject), *typed.items()) if value})
    return render(
        request,
        "responses/account_events.html",
        {
            "page": page,
            "subject": subject,
            "typed": typed,
            "errors": errors,
            "dates_help": dates.help_text(),
            "query": query,
        },
        status=400 if errors else 200,
    )


def _value(value: Any) -> str:
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _said(label: str, value: str) -> str:
    """"label: value", with the reader's colon (full width in Japanese)."""
    return _("%(label)s: %(value)s") % {"label": label, "value": value}


def detail_lines(detail: Any, words: dict[str, str] | None = None) -> list[str]:
    """An account event's detail (its JSON) as lines a reader understands: "superuser: no → yes", "added to: Approvers"."""
    words = words if words is not None else account_trail.detail_words()
    if not isinstance(detail, dict):
        return [_value(detail)] if detail not in (None, "") else []
    lines = []
    for key, value in detail.items():
        label = words.get(key, key.replace("_", " "))
        if isinstance(value, dict) and set(value) == {"before", "after"} and not isinstance(value["before"], dict):
            lines.append(_said(label, f"{_value(value['before'])} → {_value(value['after'])}"))
        elif isinstance(value, dict):
            lines += [f"{label} · {line}" for line in detail_lines(value, words)] or [_said(label, "—")]
        else:
            lines.append(_said(label, _value(value)))
    return lines
