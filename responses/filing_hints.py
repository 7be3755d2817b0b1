"""Ways out of a request page (issue 17, point 6): a copy to file again, the isolation a release
ends, what to do about a failure, and links to the KSC Web Console and the external reference.

Presentation helpers over the models; who may do what stays responses.policy's to decide.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from responses import catalog
from responses.models import OPEN, ResponseRequest, Status
from responses.states import PRIMARY_SERVER


def copy_url(rr: ResponseRequest) -> str:
    """The new-request form prefilled with this request's task, host, params and reasons (not filed)."""
    query: dict[str, Any] = {"task": rr.task, "target_host": rr.target_host, "target_host_name": rr.target_host_name}
    if isinstance(rr.params, dict):
        for spec in catalog.TASKS[rr.task].fields:
            value = rr.params.get(spec.name)
            if value is None or catalog.field_kind(spec) == catalog.IOC_ZIP:
                continue  # an archive cannot ride in a link: it is attached again
            if spec.kind == catalog.BOOL:
                if value:
                    query[f"params-{spec.name}"] = "on"
            else:
                query[f"params-{spec.name}"] = value
    for key in ("justification", "external_ref"):
        if getattr(rr, key):
            query[key] = getattr(rr, key)
    return f"{reverse('responses:new')}?{urlencode(query)}"


def ended_isolation(rr: ResponseRequest, user: Any) -> ResponseRequest | None:
    """For a release (isolateHost, action 0): the latest isolation of the same host filed before it
    that ``user`` may see."""
    if rr.task != "isolateHost" or not isinstance(rr.params, dict) or rr.params.get("action") != 0:
        return None
    return (
        ResponseRequest.objects.visible_to(user)
        .filter(task="isolateHost", target_host=rr.target_host, params__action=1, created_at__lt=rr.created_at)
        .order_by("-created_at")
        .first()
    )


def release_of(rr: ResponseRequest, user: Any) -> ResponseRequest | None:
    """For a submitted isolation (isolateHost, action 1): the first release of the same host on the same
    server filed after it that ``user`` may see (its paired release included), else None."""
    if (
        rr.task != "isolateHost"
        or rr.status != Status.SUBMITTED
        or not isinstance(rr.params, dict)
        or rr.params.get("action") != 1
    ):
        return None
    return (
        ResponseRequest.objects.visible_to(user)
        .filter(
            task="isolateHost", server=rr.server, target_host=rr.target_host, params__action=0, created_at__gt=rr.created_at
        )
        .exclude(status__in=(Status.REJECTED, Status.CANCELLED, Status.EXPIRED))
        .select_related("outcome")
        .order_by("created_at")
        .first()
    )


def failure_advice(rr: ResponseRequest, *, may_retry: bool) -> str:
    """What to do about a failed submission, for this reader."""
    if rr.status != Status.FAILED:
        return ""
    if may_retry:
        return _(
            "KSC did not take this request. Check what KSC said above (a host or account problem is not fixed by "
            "trying again), then retry the submission; it is sent again as approved."
        )
    return _(
        "KSC did not take this request. An approver can retry it: ask one of the Approvers (the queue shows "
        "who decided), or file it again as a copy if it must change."
    )


def ksc_console_url() -> str:
    """The KSC Web Console (KSC_CONSOLE_URL), where an incident id can be looked up; empty when unset."""
    return settings.KSC_CONSOLE_URL


def external_ref_url(ref: str) -> str:
    """EXTERNAL_REF_URL with the reference put in (URL-quoted); empty when unset or no reference."""
    template = settings.EXTERNAL_REF_URL
    return template.replace("{ref}", quote(ref, safe="")) if template and ref else ""


def same_pending(task: str, target_host: str, params: Any, server: str = PRIMARY_SERVER) -> list[ResponseRequest]:
    """Open requests (pending or on their way) for the same task, host and params, newest first.

    Filing such a request again is usually a second analyst on the same alert; the preview says
    who filed it and when, and filing needs a confirmation (issue 17, point 6).

    "The same params" is judged on what they mean, not on their stored form: an optional yes/no
    left out and the same one sent as "no", or an empty hash left out and sent empty, are the same
    request (the web form sends every field, the API and the tests only the ones they set, so their
    fingerprints differ). An isolation's end is not compared: the same isolation with another end
    is the same.
    """
    server = server or PRIMARY_SERVER  # the form leaves it empty while one server is configured
    wanted = comparable_params(params)
    same = ResponseRequest.objects.filter(task=task, target_host=target_host, server=server, status__in=OPEN)
    return [rr for rr in same.order_by("-created_at")[:50] if comparable_params(rr.params) == wanted][:5]


def comparable_params(params: Any) -> Any:
    """Params as compared for "the same request": a dict without its empty, "no" and absent values."""
    if not isinstance(params, dict):
        return params
    return {key: value for key, value in params.items() if not (value is None or value is False or value == "")}


def same_pending_words(found: list[ResponseRequest]) -> str:
    """ "bob filed the same 2 minutes ago" for the newest of them."""
    if not found:
        return ""
    newest = found[0]
    return _("%(who)s filed the same request %(ago)s ago; it is %(status)s.") % {
        "who": newest.requester_username,
        "ago": timesince(newest.created_at),
        "status": newest.get_status_display().lower(),
    }
