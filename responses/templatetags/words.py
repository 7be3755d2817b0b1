"""Words on pages: a request named from its id (the step-up page), trail texts, actors and roles in the reader's language."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from accounts import roles
from responses import ksc_words, policy, trail_text
from responses.models import ResponseRequest

register = template.Library()


@register.simple_tag
def visible_request(user: Any, key: Any) -> ResponseRequest | None:
    """The request with this id if ``user`` may see it (ResponseRequest.objects.visible_to), else None."""
    if not key or not getattr(user, "is_authenticated", False):
        return None
    return ResponseRequest.objects.visible_to(user).filter(uuid=key).first()


@register.filter
def sees_request(user: Any, request: Any) -> bool:
    """Whether ``user`` may open ``request``'s page (policy.may_see_request): link it only then."""
    return request is not None and policy.may_see_request(user, request)


@register.filter
def in_reader_language(event: Any) -> str:
    """A trail event's message, in the reader's language when the system wrote it (trail_text)."""
    return trail_text.translate_event(event)


def _japanese() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "").startswith("ja")


@register.filter
def listed(items) -> str:
    """Items joined as the reader's language lists them: 「a、b」 in Japanese, "a, b" in English."""
    return ("、" if _japanese() else ", ").join(str(item) for item in items or [])


@register.simple_tag
def colon() -> str:
    """The colon between a label and its text: full width inside Japanese (「分離：ホスト…」)."""
    return "：" if _japanese() else ": "


@register.filter
def age(value) -> str:
    """How long ago, in words: "just now" (「たった今」) under a minute, never "0 minutes"."""
    from django.utils import timezone
    from django.utils.timesince import timesince

    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return _("just now")
    return timesince(value)


@register.filter
def time_left(value) -> str:
    """How long until ``value``, in words: "23 hours, 59 minutes"; 「23時間、59分」 in Japanese."""
    from django.utils.timesince import timeuntil

    if not value:
        return ""
    text = timeuntil(value)
    return text.replace(", ", "、") if _japanese() else text


@register.filter
def system_words(text: str) -> str:
    """A text the system wrote in English (an outcome's reason), in the reader's language when it is one of its messages."""
    return trail_text.translate(text or "")


@register.filter
def matched_by_words(text: str) -> str:
    """How a KSC task was recognised as the request's, in the reader's language."""
    return trail_text.matched_by(text or "")


@register.filter
def actor_name(username: str) -> str:
    """The trail's actor; "system" (the portal's jobs) and "directory" in the reader's language."""
    return {"system": _("system"), "directory": _("directory")}.get(username, username)


@register.filter
def role_label(role: str) -> str:
    """A role's group name (Analysts, Approvers, Auditors) in the reader's language."""
    return roles.label(role)


@register.filter
def ksc_error_for(text: Any, request: Any) -> str:
    """KSC's trouble as the page's reader may read it (responses/ksc_words.py): the configuration's
    variables for administrators only, a refused login said once per page."""
    return ksc_words.for_reader(text, getattr(request, "user", None), request)
