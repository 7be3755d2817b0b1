"""The campaign pages: list, new (form → dry run → file), the campaign itself with its hosts, decisions.

Thin: parse, ask responses.policy.may_campaign, call campaigns.filing / campaigns.workflow, render.
A campaign the user may not see is a 404.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import stepup
from campaigns import filing, waves
from campaigns import workflow as campaign_workflow
from campaigns.forms import CampaignForm, campaign_tasks, seal, unseal
from campaigns.models import Campaign, CampaignHost, CampaignStatus
from responses import approvals, catalog, policy
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.hosts import os_covered
from responses.models import OutcomeState, Status

PAGE_SIZE = 50
STEP_UP = frozenset({policy.APPROVE, policy.REJECT, policy.RESUME})
ACTIONS = {
    policy.APPROVE: campaign_workflow.approve,
    policy.REJECT: campaign_workflow.reject,
    policy.PAUSE: campaign_workflow.pause,
    policy.RESUME: campaign_workflow.resume,
    policy.ABORT: campaign_workflow.abort,
}


def _visible_or_404(user, key: Any) -> Campaign:
    try:
        return campaign_workflow.get_for_user(user, key)
    except (Campaign.DoesNotExist, ValueError, TypeError):
        raise Http404(_("No such campaign.")) from None


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.all()
    if not policy.sees_all_requests(request.user):
        campaigns = campaigns.filter(requester=request.user)
    status = request.GET.get("status", "")
    if status in CampaignStatus.values:
        campaigns = campaigns.filter(status=status)
    campaigns = campaigns.annotate(size=Count("hosts", filter=Q(hosts__excluded_reason="")))
    page = Paginator(campaigns.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "campaigns/list.html",
        {
            "page": page,
            "statuses": CampaignStatus.choices,
            "status": status,
            "can_file": policy.may_campaign(request.user, policy.FILE),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    verdict = policy.may_campaign(request.user, policy.FILE)
    if not verdict:
        return render(request, "responses/refused.html", {"reason": verdict.reason}, status=403)
    tasks = campaign_tasks()
    name = request.POST.get("task") or request.GET.get("task")
    task = next((t for t in tasks if t.name == name), None)
    if task is None:
        hosts = request.GET.getlist("host")
        return render(request, "campaigns/new_choose.html", {"tasks": tasks, "hosts": hosts})
    if request.method == "POST" and request.POST.get("sealed"):
        return _file(request, task)
    form = CampaignForm(task, request.POST if request.method == "POST" else None, initial={})
    if request.method == "GET":
        form = CampaignForm(task, data=None)
        form.initial_hosts = "\n".join(request.GET.getlist("host"))
        return render(
            request, "campaigns/new_form.html", {"form": form, "task": task, "hosts_text": form.initial_hosts}
        )
    if not form.is_valid():
        return render(request, "campaigns/new_form.html", {"form": form, "task": task}, status=400)
    inputs = form.inputs()
    try:
        draft = filing.prepare(request.user, **inputs)
    except InvalidRequest as exc:
        return render(
            request, "campaigns/new_form.html", {"form": form, "task": task, "errors": _flatten(exc.errors)}, status=400
        )
    except NotAllowed as exc:
        return render(request, "responses/refused.html", {"reason": exc.message}, status=403)
    return render(
        request,
        "campaigns/preview.html",
        {
            "draft": draft,
            "task": task,
            "sealed": seal(request.user, inputs, draft.fingerprint),
            "hosts_shown": draft.hosts[:200],
        },
    )


def _flatten(errors: dict, prefix: str = "") -> list[str]:
    flat = []
    for field, value in errors.items():
        label = f"{prefix}{field}"
        if isinstance(value, dict):
            flat += _flatten(value, f"{label}.")
        else:
            flat += [f"{label}: {message}" for message in value]
    return flat


def _file(request: HttpRequest, task: catalog.TaskType) -> HttpResponse:
    try:
        inputs, fingerprint = unseal(request.user, request.POST["sealed"])
    except signing.BadSignature:
        messages.error(request, _("This preview expired or is not yours; fill in the form again."))
        return redirect(f"{_url('campaigns:new')}?task={task.name}")
    try:
        campaign = filing.file_campaign(request.user, expected_fingerprint=fingerprint, **inputs)
    except InvalidRequest as exc:
        form = CampaignForm(task, data=None)
        return render(
            request,
            "campaigns/new_form.html",
            {"form": form, "task": task, "errors": _flatten(exc.errors), "hosts_text": inputs.get("hosts", "")},
            status=400,
        )
    messages.success(
        request, _("Campaign filed: %(n)d hosts.") % {"n": campaign.hosts.filter(excluded_reason="").count()}
    )
    return redirect("campaigns:detail", key=campaign.uuid)


def _url(name: str, **kwargs) -> str:
    from django.urls import reverse

    return reverse(name, kwargs=kwargs or None)


# --- The campaign's page ----------------------------------------------------------------------


def host_rows(campaign: Campaign, params) -> tuple[Any, dict[str, str]]:
    """The per-host table's rows with the filters of ``params`` (state, outcome, group)."""
    rows = campaign.hosts.select_related("request", "request__outcome").order_by("position")
    chosen = {key: params.get(key, "") for key in ("state", "outcome", "group")}
    state = chosen["state"]
    if state == "waiting":
        rows = rows.filter(request__isnull=True, excluded_reason="")
    elif state == "skipped":
        rows = rows.exclude(excluded_reason="")
    elif state in Status.values:
        rows = rows.filter(request__status=state)
    outcome = chosen["outcome"]
    if outcome == OutcomeState.WAITING:
        rows = rows.filter(request__status=Status.SUBMITTED).filter(
            Q(request__outcome__isnull=True) | Q(request__outcome__state=OutcomeState.WAITING)
        )
    elif outcome in OutcomeState.values:
        rows = rows.filter(request__outcome__state=outcome)
    if chosen["group"]:
        rows = rows.filter(group_name=chosen["group"])
    return rows, chosen


def _state_of(host: CampaignHost) -> str:
    if host.excluded_reason:
        return "skipped"
    if host.request_id is None:
        return "waiting"
    return host.request.status


def summary(campaign: Campaign) -> dict[str, Any]:
    """Progress, counts, waves and the dry run's facts: two grouped queries, whatever the size."""
    tally = waves.tally(campaign)
    counts = tally["counts"]
    # The set approved: the hosts still in it and those skipped at submission (protected since filing);
    # the protected hosts left out at filing were never part of it.
    skipped_later = tally["skipped_later"]
    total = tally["included"] + skipped_later
    sent = sum(n for status, n in counts["status"].items() if status in waves.SENT)
    wave_rows = tally["waves"]
    stale_after = dt.timedelta(seconds=settings.HOST_STALE_AFTER)
    now = timezone.now()
    facts = list(
        campaign.hosts.filter(excluded_reason="")
        .values("group_name", "os_name")
        .annotate(
            n=Count("id"),
            stale=Count("id", filter=Q(last_seen__isnull=True) | Q(last_seen__lt=now - stale_after)),
        )
        .order_by()
    )
    by_group: Counter[str] = Counter()
    by_os: Counter[str] = Counter()
    for row in facts:
        by_group[row["group_name"] or "—"] += row["n"]
        by_os[row["os_name"] or "—"] += row["n"]
    remaining = (
        max(total - sent - skipped_later, 0)
        if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.PENDING_APPROVAL)
        else 0
    )
    cap = settings.KSC_SUBMIT_HOURLY_CAP
    finish = None
    if remaining and cap:
        finish = now + dt.timedelta(hours=remaining / cap)
    return {
        "counts": counts,
        "total": total,
        "sent": sent,
        "percent": min(100, int(100 * (sent + skipped_later) / total)) if total else 100,
        "waves": wave_rows,
        "by_group": by_group.most_common(),
        "by_os": by_os.most_common(),
        "stale": sum(row["stale"] for row in facts),
        "uncovered": sum(row["n"] for row in facts if not os_covered(row["os_name"])),
        "remaining": remaining,
        "finish": finish,
        "groups": sorted({row["group_name"] for row in facts if row["group_name"]}),
    }


@login_required
@require_GET
def detail(request: HttpRequest, key: Any) -> HttpResponse:
    campaign = _visible_or_404(request.user, key)
    rows, chosen = host_rows(campaign, request.GET)
    if request.GET.get("format") == "csv":
        return _csv(campaign, rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for host in page:
        host.state = _state_of(host)
    decisions = list(campaign.decisions.all())
    context = {
        "campaign": campaign,
        "summary": summary(campaign),
        "page": page,
        "chosen": chosen,
        "states": [("waiting", _("Waiting")), ("skipped", _("Skipped")), *Status.choices],
        "outcomes": OutcomeState.choices,
        "actions": policy.allowed_campaign_actions(request.user, campaign),
        "reasons": [filing.reason_text(r) for r in campaign.approval_reasons],
        "decisions": decisions,
        "approvals_given": len(approvals.approving_people(campaign, decisions)),
        "events": list(campaign.events.order_by("seq")),
        "reversals": list(campaign.reversals.all()),
        "live": campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PENDING_APPROVAL),
        "excluded": list(campaign.hosts.exclude(excluded_reason="").order_by("position")[:200]),
    }
    return render(request, "campaigns/detail.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(campaign: Campaign, rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(
            ["host_id", "display_name", "group", "os", "wave", "state", "request", "outcome", "reason"]
        )
        for host in rows.iterator(chunk_size=500):
            outcome = getattr(host.request, "outcome", None) if host.request_id else None
            yield writer.writerow(
                [
                    _cell(host.host_id),
                    _cell(host.display_name),
                    _cell(host.group_name),
                    _cell(host.os_name),
                    "" if host.wave is None else host.wave,
                    _state_of(host),
                    str(host.request.uuid) if host.request_id else "",
                    outcome.state if outcome is not None else "",
                    _cell(host.excluded_reason or host.held_reason),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.uuid}.csv"'
    return response


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet never runs as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@login_required
@require_POST
@stepup.require_step_up(actions=STEP_UP)
def act(request: HttpRequest, key: Any, action: str) -> HttpResponse:
    campaign = _visible_or_404(request.user, key)
    comment = request.POST.get("comment", "")
    try:
        if action == policy.REVERSE:
            reversal = campaign_workflow.reverse(campaign, user=request.user)
            messages.success(request, _("The release campaign is filed; it needs its approvals."))
            return redirect("campaigns:detail", key=reversal.uuid)
        if action not in ACTIONS:
            raise Http404
        ACTIONS[action](campaign.uuid, user=request.user, comment=comment)
    except NotAllowed as exc:
        return render(request, "responses/refused.html", {"reason": exc.message}, status=403)
    except WrongStatus as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:detail", key=campaign.uuid)
    except InvalidRequest as exc:
        messages.error(request, " ".join(_flatten(exc.errors)))
        return redirect("campaigns:detail", key=campaign.uuid)
    messages.success(request, _("Done: %(action)s.") % {"action": _action_word(action)})
    return redirect("campaigns:detail", key=campaign.uuid)


def _action_word(action: str) -> str:
    return {
        policy.APPROVE: _("approved"),
        policy.REJECT: _("rejected"),
        policy.PAUSE: _("paused"),
        policy.RESUME: _("resumed"),
        policy.ABORT: _("aborted"),
    }.get(action, action)
