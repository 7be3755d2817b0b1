"""The portal's pages: thin views over responses.catalog and responses.workflow.

Each view parses, asks responses.policy / ResponseRequest.objects.visible_to / get_for_user
whether the user may (never a rule of its own), calls the workflow, and
renders. GET never changes anything; every action is a POST with a CSRF token.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Page
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import stepup
from ksc_client.errors import KscError
from ksc_client.hosts import Host
from responses import (
    approvals,
    attention,
    catalog,
    chain_verification,
    drafts,
    filing,
    filing_hints,
    host_directory,
    policy,
    queueing,
    throttle,
    workflow,
)
from responses.filtersets import RequestFilterSet
from responses.forms import (
    NewRequestForm,
    approval_rule,
    archives_from_references,
    in_words,
    preview,
    seal,
    unseal,
)
from responses.host_state import facts_of, ksc_facts, portal_isolation, portal_isolations
from responses.ksc_servers import get_client
from responses.models import (
    IN_FLIGHT,
    OPEN,
    Decision,
    DecisionKind,
    EventKind,
    ResponseRequest,
    Source,
    Status,
)
from responses.outcomes import outcome_of
from responses.paging import BoundedPaginator

log = logging.getLogger(__name__)

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
# A page in flight reloads itself this often (no JavaScript needed).
REFRESH_SECONDS = 5
OUTCOME_REFRESH_SECONDS = 15  # the outcome sweep runs every OUTCOME_SWEEP_INTERVAL (30 s) by default
# Shortest query the host search sends to KSC: one letter would list the whole estate.
MIN_HOST_QUERY = 2
# Longest: no host name, FQDN, address or id is longer (the API's HostQuerySerializer says the same).
MAX_HOST_QUERY = 255
# Session key: "<user pk>:<task>" of a form just filed, so its page tells the browser to drop that draft.
DRAFT_FILED = "responses.draft_filed"
HOST_RESULTS = 25


def _refused(request: HttpRequest, reason: str, status: int = 403) -> HttpResponse:
    return render(request, "responses/refused.html", {"reason": reason}, status=status)


def _paginate(request: HttpRequest, requests: QuerySet[ResponseRequest]) -> Page:
    """One page of a list: a bounded COUNT and one SELECT (plus prefetches), whatever the page size."""
    try:
        per_page = int(request.GET.get("per_page", DEFAULT_PAGE_SIZE))
    except ValueError:
        per_page = DEFAULT_PAGE_SIZE
    if per_page not in PAGE_SIZES:
        per_page = DEFAULT_PAGE_SIZE
    return BoundedPaginator(requests, per_page).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _visible_or_404(user, key: Any) -> ResponseRequest:
    """The request if this user may see it; 404 otherwise, so that nobody learns what exists."""
    try:
        return workflow.get_for_user(user, key)
    except ResponseRequest.DoesNotExist:
        raise Http404(_("No such request, or you may not see it.")) from None


# --- Home ------------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_file = bool(policy.may(user, policy.FILE))
    context: dict[str, Any] = {
        "can_file": can_file,
        "can_view_all": policy.sees_all_requests(user),
        "is_approver": policy.is_approver(user),
    }
    if can_file:
        context["recent"] = list(ResponseRequest.objects.visible_to(user).filter(requester=user)[:5])
    if context["is_approver"]:
        context["pending_count"] = _approval_queue(user).count()
    context["chain"] = chain_verification.standing_for(user)
    # The home page leads with what needs this user (responses/attention.py).
    context["attention"] = attention.for_user(user)
    context["attention_days"] = settings.ATTENTION_DAYS
    return render(request, "responses/home.html", context)


# --- Filing ----------------------------------------------------------------------------------


def _task_choices() -> list[dict[str, Any]]:
    return [{"task": task, "rule": approval_rule(task)} for task in catalog.TASKS.values()]


def _render_form(request: HttpRequest, form: NewRequestForm, status: int = 200, **extra: Any) -> HttpResponse:
    form.carry_by_reference(request.user)  # the page carries a kept archive's digest, not its base64
    context = {
        "form": form,
        "task": form.task,
        "rule": approval_rule(form.task),
        "host_suggestion": None,
        # Who the form is shown to, signed: a draft kept after the session ends goes back to this user only.
        "owner": drafts.owner_token(request.user),
        # The language switch posts this form, so that what was typed survives it without JavaScript.
        "keep_form": "request-form",
        **extra,
    }
    return render(request, "responses/new_form.html", context, status=status)


def _render_choose(request: HttpRequest, status: int = 200, error: str = "") -> HttpResponse:
    carried = {key: request.GET.get(key, "") for key in ("target_host", "target_host_name")}
    return render(
        request,
        "responses/new_choose.html",
        {"choices": _task_choices(), "carried": carried, "error": error},
        status=status,
    )


def new_request(request: HttpRequest) -> HttpResponse:
    """Step 1: choose a task, then fill its form. Step 2 (POST "preview"): see what KSC gets. Step 3: file it."""
    if not request.user.is_authenticated:
        # As login_required, but the session ended while filing: what was typed waits in the new session for
        # its owner's login (responses/drafts.py); nothing is filed. Without a draft the login leads back as before.
        kept = drafts.keep(request, drafts.SESSION_ENDED) if request.method == "POST" else None
        return redirect_to_login(_form_url(kept) if kept else request.get_full_path())
    return _new_request(request)


@require_http_methods(["GET", "POST"])
def _new_request(request: HttpRequest) -> HttpResponse:
    allowed = policy.may(request.user, policy.FILE)
    if not allowed:
        return _refused(request, allowed.reason)
    if request.method == "POST":
        return _new_request_post(request)
    task = catalog.TASKS.get(request.GET.get("task", ""))
    draft = drafts.take(request)
    if draft is not None and task in (None, draft.task):
        return _render_form(
            request,
            NewRequestForm.from_draft(draft.task, draft.data),
            q=draft.data.get("q", ""),
            kept_draft=draft.reason,
            file_again=draft.archive_dropped,
        )
    if task is None:
        return _render_choose(request)
    return _render_form(request, NewRequestForm.from_query(task, request.GET))


def _form_url(task_name: str) -> str:
    return f"{reverse('responses:new')}?{urlencode({'task': task_name})}"


def _new_request_post(request: HttpRequest) -> HttpResponse:
    step = request.POST.get("step", "preview")
    if step in ("file", "edit"):
        try:
            sealed, sealed_at = unseal(request.user, request.POST.get("sealed", ""))
        except signing.BadSignature:
            return _render_choose(
                request, status=400, error=_("This preview has expired or is not valid: fill in the request again.")
            )
        task = catalog.TASKS[sealed["task"]]
        if step == "edit":
            return _render_form(request, NewRequestForm.from_filing(task, sealed))
        return _file(request, task, sealed, sealed_at)
    task = catalog.TASKS.get(request.POST.get("task", ""))
    if task is None:
        return _render_choose(request, status=400, error=_("Choose a task type."))
    # Enter in a field "clicks" the form's first button, Search: with nothing to search, it means Preview.
    if (step == "search" and request.POST.get("q", "").strip()) or "use_host" in request.POST:
        return _search_in_form(request, task)
    try:
        # Before the form unpacks and tests an IOC archive: over a limit, nothing is looked at.
        workflow.check_filing_limit(request.user)
        throttle.count(request.user, throttle.PREVIEW)
    except workflow.RateLimited as exc:
        return _refused(request, exc.message, status=429)
    data, archive_gone = archives_from_references(request.user, request.POST)
    form = NewRequestForm(task, data, request.FILES)
    if not form.is_valid():
        return _render_form(request, form, status=400, file_again=archive_gone)
    check = filing.check_host(form.filing.target_host)
    if check.unknown:
        # A display name typed where the id goes: offer the one host of that name, never swap it in unseen.
        named = _hosts_named(form.filing.target_host)
        if len(named) == 1:
            form.common.add_error(
                "target_host",
                _("This is not a KSC host id, but one host is named %(name)s. Did you mean it? Select it below.")
                % {"name": named[0].display_name},
            )
            suggestion = {"host": named[0], "use_url": _use_host_url(named[0], task.name)}
            return _render_form(request, form, status=400, host_suggestion=suggestion)
        form.common.add_error("target_host", filing.unknown_host_message())
        return _render_form(request, form, status=400)
    host, host_error = check.host, check.error
    # The preview shows KSC's name; filing asks KSC again and stores its name then.
    form.filing.target_host_name = check.display_name
    return render(
        request,
        "responses/new_preview.html",
        {
            "filing": form.filing,
            "task": task,
            "host": host,
            "host_error": host_error,
            "host_facts": facts_of(host) if host is not None else None,
            "isolation": portal_isolation(form.filing.target_host),
            "preview": preview(form.filing),
            "sealed": seal(request.user, form.filing),
            "keep_form": "preview-form",
            # Someone already asked for exactly this (issue 17, point 6): say who and when; filing asks to confirm.
            "same_pending": filing_hints.same_pending_words(
                filing_hints.same_pending(form.filing.task, form.filing.target_host, form.filing.params)
            ),
        },
    )


def _search_in_form(request: HttpRequest, task: catalog.TaskType) -> HttpResponse:
    """The host search without JavaScript (issue 17, point 1): the form posts itself, so what was typed stays.

    "Search" lists KSC's hosts as buttons of the same form; "Use" puts the host in and keeps the rest.
    Nothing is validated or filed here. A file chosen for an IOC archive is not kept (browsers never refill
    a file input); the form asks for it again.
    """
    data, archive_gone = archives_from_references(request.user, request.POST)
    data = data.copy()
    extra: dict[str, Any] = {"q": data.get("q", "").strip()}
    status = 200
    if len(extra["q"]) > MAX_HOST_QUERY or len(data.get("use_host", "")) > catalog.MAX_HOST_ID:
        # Not sent to KSC, not logged, not shown back (issue 23, point 7): the API refuses the same.
        extra["q"] = data["q"] = ""
        data.pop("use_host", None)
        extra["host_search_error"] = _too_long_query()
        status = 400
    elif "use_host" in data:
        host_id = data["use_host"].strip()
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
        except workflow.RateLimited as exc:
            extra["host_search_error"] = exc.message
            status = 429
        else:
            host = filing.check_host(host_id).host  # the name shown is KSC's, never the browser's
            data["target_host"] = host_id
            data["target_host_name"] = (host.display_name or host.fqdn or host.id) if host is not None else ""
    elif len(extra["q"]) >= MIN_HOST_QUERY:
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
            extra["host_hits"] = _find_hosts(extra["q"])
        except workflow.RateLimited as exc:
            extra["host_search_error"] = exc.message
            status = 429
        except ImproperlyConfigured:
            extra["host_search_error"] = _("KSC is not configured (KSC_HOST), so hosts cannot be looked up.")
        except KscError as exc:
            log.warning("host search for %r failed: %s", throttle.for_log(extra["q"]), exc)
            extra["host_search_error"] = _("The host search in KSC failed: %(error)s") % {"error": exc}
    else:
        extra["host_search_error"] = _("Type at least 2 characters.")
    takes_archive = any(catalog.field_kind(spec) == catalog.IOC_ZIP for spec in task.fields)
    extra["file_again"] = takes_archive and (bool(request.FILES) or archive_gone)
    return _render_form(request, NewRequestForm.from_query(task, data, carried=True), status=status, **extra)


def _hosts_named(name: str) -> list[Host]:
    """Up to two hosts with this display name; none when KSC cannot be asked (the id error stands)."""
    try:
        return get_client().hosts_named(name)
    except (ImproperlyConfigured, KscError):
        return []


def _file(request: HttpRequest, task: catalog.TaskType, sealed: dict[str, Any], sealed_at: Any) -> HttpResponse:
    try:
        fields = {key: value for key, value in sealed.items() if key != "target_host_name"}
        filed = filing.file_request(
            user=request.user,
            source=Source.WEB,
            previewed_at=sealed_at,
            same_pending_ok=bool(request.POST.get("confirm_duplicate")),
            **fields,
        )
    except filing.SamePending as same:
        # The same task, host and params are already open (another analyst's, or an earlier one):
        # filed only when the analyst confirms on the preview.
        form = NewRequestForm.bound_to_filing(task, sealed)
        form.params_errors.append(
            _("%(same)s Preview it again and tick “File it anyway” to file a second one.")
            % {"same": filing_hints.same_pending_words(same.found)}
        )
        return _render_form(form=form, request=request, status=409)
    except workflow.RateLimited as exc:
        return _refused(request, exc.message, status=429)
    except workflow.NotAllowed as exc:
        return _refused(request, exc.message)
    except workflow.InvalidRequest as exc:
        form = NewRequestForm.bound_to_filing(task, sealed)
        form.add_workflow_errors(exc.errors)
        return _render_form(request, form, status=400)
    if filed.duplicate:
        # The double-submit guard: say so, and show the request that exists (issue 17, point 1).
        messages.info(
            request,
            _("Already filed: %(request)s. This is that request; it was not filed twice.")
            % {"request": request_name(filed.request)},
        )
        request.session[DRAFT_FILED] = f"{request.user.pk}:{task.name}"
        return redirect("responses:detail", key=filed.request.uuid)
    filed = filed.request
    # The browser's draft of this form (static/portal.js) is cleared by the page that shows the filed request.
    request.session[DRAFT_FILED] = f"{request.user.pk}:{task.name}"
    name = {"request": request_name(filed)}
    if filed.status == Status.PENDING_APPROVAL:
        messages.success(request, _("Request filed: %(request)s. It now waits for approval.") % name)
    else:
        messages.success(request, _("Request filed: %(request)s. It needs no approval and is on its way to KSC.") % name)
    return redirect("responses:detail", key=filed.uuid)


# --- Host search -----------------------------------------------------------------------------


@login_required
@require_GET
def host_search(request: HttpRequest) -> HttpResponse:
    """Find a host in KSC by display name, FQDN or IP. A page without JS; a fragment for the type-ahead."""
    allowed = policy.may(request.user, policy.FILE)
    if not allowed:
        return _refused(request, allowed.reason)
    query = request.GET.get("q", "").strip()
    task = request.GET.get("task", "") if request.GET.get("task", "") in catalog.TASKS else ""
    context: dict[str, Any] = {"q": query, "task": task, "hosts": [], "error": "", "too_short": False, "refused": ""}
    status = 200
    if len(query) > MAX_HOST_QUERY:
        context.update(q="", refused=_too_long_query())
        status = 400
    elif len(query) < MIN_HOST_QUERY:
        context["too_short"] = bool(query)
    else:
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
            hosts = _find_hosts(query)
        except workflow.RateLimited as exc:
            context["refused"] = exc.message
            status = 429
        except ImproperlyConfigured:
            context["error"] = _("KSC is not configured (KSC_HOST), so hosts cannot be looked up.")
        except KscError as exc:
            log.warning("host search for %r failed: %s", throttle.for_log(query), exc)
            context["error"] = str(exc)
        else:
            isolations = portal_isolations([host.id for host in hosts])
            context["hosts"] = [
                {
                    "host": host,
                    "facts": facts_of(host),
                    "isolation": isolations.get(host.id),
                    "use_url": _use_host_url(host, task),
                }
                for host in hosts
            ]
    fragment = request.GET.get("fragment") == "1"
    template = "responses/_host_results.html" if fragment else "responses/host_search.html"
    return render(request, template, context, status=status)


def _too_long_query() -> str:
    return _("The search is longer than %(max)d characters: type the start of a host name, an address or an id.") % {
        "max": MAX_HOST_QUERY
    }


def _find_hosts(query: str) -> list[Host]:
    hosts = get_client().find_hosts(query, limit=HOST_RESULTS)
    host_directory.record_seen(hosts)  # the auditors' host search knows them from now on
    return hosts


def _use_host_url(host: Host, task: str) -> str:
    """The new-request form with this host filled in (the "Use this host" link works without JS)."""
    params = {"target_host": host.id, "target_host_name": host.display_name or host.fqdn or host.id}
    if task:
        params["task"] = task
    return f"{reverse('responses:new')}?{urlencode(params)}"


# --- One request -----------------------------------------------------------------------------


def _detail_context(request: HttpRequest, rr: ResponseRequest) -> dict[str, Any]:
    prefetch_related_objects([rr], "events", "approvals", "submission_attempts")
    user = request.user
    actions = policy.allowed_actions(user, rr)
    release_url = ""
    undo = rr.task_type.undo_params(rr.params) if rr.status == Status.SUBMITTED else None
    if undo is not None and policy.may(user, policy.FILE):
        # The opposite request (from the catalog), prefilled: a new request that passes the same approvals.
        query = {
            "task": rr.task,
            "target_host": rr.target_host,
            "target_host_name": rr.target_host_name,
            **{f"params-{name}": value for name, value in undo.items()},
        }
        if rr.external_ref:
            query["external_ref"] = rr.external_ref
        release_url = f"{reverse('responses:new')}?{urlencode(query)}"
    task = rr.task_type
    events = list(rr.events.all())
    host_tasks = 0
    if rr.status == Status.PENDING_APPROVAL and (policy.APPROVE in actions or policy.REJECT in actions):
        host_tasks = _host_tasks_warning(queueing.host_task_load([rr.target_host]).get(rr.target_host, 0))
    # KSC is asked about the host only while acting on it still lies ahead (pending or in flight).
    host_facts, host_facts_error = ksc_facts(rr.target_host) if rr.status in OPEN else (None, "")
    return {
        "rr": rr,
        # Questions and answers without deciding (responses/comments.py)
        "thread": [event for event in events if event.kind == EventKind.COMMENT],
        # The escalation ladder (notifications/escalation.py writes these events): tier 2, then SLA breached.
        "escalations": [event for event in events if event.kind == EventKind.ESCALATED],
        "may_comment": bool(policy.may_comment(user, rr)),
        "host_facts": host_facts,
        "host_facts_error": host_facts_error,
        "host_unchecked": filing.host_unchecked(rr, events),
        "isolation": portal_isolation(rr.target_host),
        "host_tasks": host_tasks,
        "task": task,
        "fields": [(spec, _param_value(spec, rr.params, rr.archive_names)) for spec in task.fields]
        if not task.list_params
        else [],
        "scan_objects": _scan_objects(rr.params) if task.list_params else [],
        "timeline": [
            {"event": event, "before": _status_label(event.status_before), "after": _status_label(event.status_after)}
            for event in events
        ],
        # Late duplicates a slow KSC made: each removal, and loudly each that failed.
        "duplicate_events": [
            event for event in events if event.kind in (EventKind.DUPLICATE_REMOVED, EventKind.DUPLICATE_KEPT)
        ],
        "unknown_search_until": (
            rr.finished_at + dt.timedelta(seconds=settings.KSC_UNKNOWN_OUTCOME_SEARCH)
            if rr.ksc_outcome_unknown and rr.finished_at
            else None
        ),
        "actions": actions,
        "release_url": release_url,
        # Ways out (issue 17, point 6): file again as a copy, the isolation a release ends, what to do.
        "copy_url": filing_hints.copy_url(rr)
        if rr.status in (Status.REJECTED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)
        and policy.may(user, policy.FILE)
        else "",
        "ended_isolation": filing_hints.ended_isolation(rr, user),
        "failure_advice": filing_hints.failure_advice(rr, may_retry=policy.RETRY in actions),
        "ksc_console_url": filing_hints.ksc_console_url(),
        "external_ref_url": filing_hints.external_ref_url(rr.external_ref),
        "in_flight": rr.status in IN_FLIGHT,
        "outcome": (outcome := outcome_of(rr)),
        # The page follows the outcome too, until the host's outcome is final.
        "following_outcome": outcome is not None and not outcome.final and outcome.tracking,
        "outcome_refresh_seconds": OUTCOME_REFRESH_SECONDS,
        "refresh_seconds": REFRESH_SECONDS,
        "approvals_given": rr.approvals_given_so_far(),
    }


def _status_label(value: str) -> str:
    return str(Status(value).label) if value in Status.values else value


def _scan_objects(params: Any) -> list[dict[str, Any]]:
    objects = []
    for item in params if isinstance(params, list) else []:
        label = catalog.SCAN_OBJECT_TYPES.get(item.get("type"), "")
        # The label alone: KSC's code (22) means nothing to the reader; the raw params keep it.
        objects.append({**item, "type_label": label or item.get("type")})
    return objects


def _param_value(spec: catalog.Field, params: Any, archive_names: Any = None) -> Any:
    if not isinstance(params, dict) or spec.name not in params:
        return None
    value = params[spec.name]
    if spec.kind == catalog.CHOICE and spec.choices and value in spec.choices:
        return str(spec.choices[value])  # in words; the raw value is in the exports
    if catalog.field_kind(spec) == catalog.IOC_ZIP and isinstance(value, str):
        # Shown as on the preview (responses/_ioc_archive.html): file name (web form only), size and digest,
        # never megabytes of base64. A request from the API has no name, and none is made up.
        names = archive_names if isinstance(archive_names, dict) else {}
        return {
            "ioc_archive": True,
            "file_name": catalog.archive_file_name(names.get(spec.name)),
            **catalog.ioc_archive_summary(value),
        }
    return value


@login_required
@require_GET
def request_detail(request: HttpRequest, key: Any) -> HttpResponse:
    rr = _visible_or_404(request.user, key)
    context = _detail_context(request, rr)
    context["draft_filed"] = request.session.pop(DRAFT_FILED, "")
    return render(request, "responses/detail.html", context)


ACTIONS = {
    policy.APPROVE: workflow.approve,
    policy.REJECT: workflow.reject,
    policy.CANCEL: workflow.cancel,
    policy.RETRY: workflow.retry,
}


def request_name(rr: ResponseRequest) -> str:
    """How a message names a request: its task and host, so that a flash after a redirect says which."""
    return _("%(task)s on %(host)s") % {"task": rr.get_task_display(), "host": rr.target_host_name or rr.target_host}


def _action_message(action: str, rr: ResponseRequest) -> str:
    name = {"request": request_name(rr)}
    if action == policy.APPROVE:
        if rr.status == Status.PENDING_APPROVAL:
            return _("Your approval of %(request)s is recorded; it needs another approver.") % name
        return _("Approved: %(request)s is on its way to KSC.") % name
    return {
        policy.REJECT: _("Rejected: %(request)s."),
        policy.CANCEL: _("Cancelled: %(request)s."),
        policy.RETRY: _("%(request)s will be sent to KSC again."),
    }[action] % name


@login_required
@require_POST
# A decision in the browser needs a fresh proof of identity (cancelling one's own request does not).
@stepup.require_step_up(actions=approvals.STEP_UP_ACTIONS)
def act(request: HttpRequest, key: Any, action: str) -> HttpResponse:
    """Approve, reject, cancel or retry one request; the workflow decides who may."""
    rr = _visible_or_404(request.user, key)
    comment = request.POST.get("comment", "")  # the workflow checks it (required to reject, length)
    try:
        done = ACTIONS[action](rr.uuid, user=request.user, comment=comment)
    except workflow.NotAllowed as exc:
        return _refused(request, exc.message)
    except workflow.WrongStatus as exc:
        rr.refresh_from_db()
        context = _detail_context(request, rr)
        context["action_error"] = exc.message
        return render(request, "responses/detail.html", context, status=409)
    except workflow.InvalidRequest as exc:
        rr.refresh_from_db()
        context = _detail_context(request, rr)
        # The message goes next to the comment field of the form that was sent, with what was typed.
        errors = [in_words(message, {"comment": _("Comment")}) for message in exc.errors.get("comment", [])]
        context.update(failed_action=action, failed_comment=comment, comment_errors=errors)
        return render(request, "responses/detail.html", context, status=400)
    messages.success(request, _action_message(action, done))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("responses:detail", key=done.uuid)


# --- Lists -----------------------------------------------------------------------------------


def _list_rows(requests: QuerySet[ResponseRequest]) -> QuerySet[ResponseRequest]:
    # Everything a row shows is on the request itself (requester_username, target_host_name)
    # or in this one subquery: no per-row query, so a page costs the same whatever its size.
    # A correlated subquery rather than a JOIN + GROUP BY: the database computes it for the
    # rows of the page only, after sorting and LIMIT, and the COUNT leaves it out.
    # Counted as responses.approvals counts them: by a user who still exists, on the request's fingerprint
    # (a requester's own approval, which the policy never lets anyone record, is not looked for here).
    given = (
        Decision.objects.filter(
            request=OuterRef("pk"),
            decision=DecisionKind.APPROVE,
            approver__isnull=False,
            fingerprint=OuterRef("fingerprint"),
        )
        .order_by()
        .values("request")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        requests.select_related("outcome")
        .annotate(approvals_given=Coalesce(Subquery(given), 0))
        .order_by("-created_at", "-id")
    )


@login_required
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    user = request.user
    requests = ResponseRequest.objects.visible_to(user).filter(requester=user)
    status = request.GET.get("status", "")
    if status in Status.values:
        requests = requests.filter(status=status)
    page = _paginate(request, _list_rows(requests))
    return render(
        request,
        "responses/my_requests.html",
        {
            "page": page,
            "statuses": Status.choices,
            "status": status,
            "query": _query_without_page(request),
            "page_sizes": PAGE_SIZES,
            "can_file": bool(policy.may(user, policy.FILE)),
        },
    )


@login_required
@require_GET
def all_requests(request: HttpRequest) -> HttpResponse:
    """Every request (approvers, auditors, superusers), filtered and searchable; read-only."""
    if not policy.sees_all_requests(request.user):
        return _refused(request, _("Only approvers and auditors see every request."))
    filters = RequestFilterSet(request.GET, queryset=ResponseRequest.objects.visible_to(request.user))
    page = _paginate(request, _list_rows(filters.rows()))
    query = _query_without_page(request)
    return render(
        request,
        "responses/all_requests.html",
        {
            "page": page,
            "filters": filters.form,
            "query": query,
            "export_query": urlencode([(k, v) for k, v in request.GET.items() if k not in ("page", "per_page")]),
            "page_sizes": PAGE_SIZES,
            "chain": chain_verification.standing_for(request.user),
        },
    )


def _host_tasks_warning(count: int) -> int:
    """The count worth warning approvers about (KES keeps at most 100 response tasks per host), else 0."""
    return count if count >= settings.HOST_TASKS_WARNING else 0


def _approval_queue(user) -> QuerySet[ResponseRequest]:
    return ResponseRequest.objects.visible_to(user).awaiting_decision()


@login_required
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Requests pending approval, oldest first; each decided on its own (no bulk approval)."""
    user = request.user
    if not policy.sees_all_requests(user):
        return _refused(request, _("Only approvers and auditors see the approval queue."))
    # Prefetched approvals: policy.may reads them for each entry without a query.
    requests = _approval_queue(user).prefetch_related(Prefetch("approvals", queryset=Decision.objects.order_by("id")))
    page = _paginate(request, requests)
    # One query for the whole page: how many response tasks KES may already hold per host.
    load = queueing.host_task_load({rr.target_host for rr in page})
    isolations = portal_isolations(list({rr.target_host for rr in page}))
    entries = [
        {
            "rr": rr,
            "host_tasks": _host_tasks_warning(load.get(rr.target_host, 0)),
            "isolation": isolations.get(rr.target_host),
            "actions": policy.allowed_actions(user, rr),
            "changes_endpoint": rr.task_type.changes_endpoint(rr.params),
            "approvals_given": rr.approvals_given_so_far(),
            "refusal": policy.may(user, policy.APPROVE, rr).reason,
        }
        for rr in page
    ]
    return render(
        request,
        "responses/queue.html",
        {
            "page": page,
            "entries": entries,
            "query": _query_without_page(request),
            "page_sizes": PAGE_SIZES,
        },
    )


# --- CSV export ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "uuid",
    "created_at",
    "task",
    "action",
    "target_host",
    "target_host_name",
    "requester",
    "source",
    "status",  # in words, in the exporting reader's language
    "status_code",  # the code (pending_approval, submitted...), for scripts
    "approvals_required",
    "decisions",
    "decided_at",
    "submitted_at",
    "ksc_incident_id",
    "attempts",
    "last_error",
    "external_ref",
    "justification",
    "params",  # JSON; an IOC archive as its size and SHA-256, never the archive itself
)
EXPORT_CHUNK = 1000


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (justifications are free text)."""
    text = "" if value is None else str(value)
    # Full-width ＝ ＋ － ＠ too: spreadsheets in East Asian locales read them as the ASCII signs.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20"):
        return "'" + text
    return text


def _csv_rows(requests: QuerySet[ResponseRequest]) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    # Streamed in chunks: each chunk is one SELECT and one prefetch of its decisions.
    for rr in requests.iterator(chunk_size=EXPORT_CHUNK):
        decisions = "; ".join(f"{a.approver_username}:{a.decision}" for a in rr.approvals.all())
        yield [
            _cell(value)
            for value in (
                rr.uuid,
                rr.created_at.isoformat(),
                rr.task,
                rr.describe(),
                rr.target_host,
                rr.target_host_name,
                rr.requester_username,
                rr.source,
                rr.get_status_display(),
                rr.status,
                rr.approvals_required,
                decisions,
                rr.decided_at.isoformat() if rr.decided_at else "",
                rr.submitted_at.isoformat() if rr.submitted_at else "",
                rr.ksc_incident_id,
                rr.attempts,
                rr.last_error,
                rr.external_ref,
                rr.justification,
                json.dumps(catalog.params_for_listing(rr.task, rr.params), ensure_ascii=False, sort_keys=True),
            )
        ]


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    """The filtered "All requests" list as CSV (every matching row, not one page)."""
    if not policy.sees_all_requests(request.user):
        return _refused(request, _("Only approvers and auditors can export requests."))
    filters = RequestFilterSet(request.GET, queryset=ResponseRequest.objects.visible_to(request.user))
    if not filters.is_valid():
        return _refused(request, _("The filters are not valid; correct them on the list first."), status=400)
    requests = filters.rows().prefetch_related(
        Prefetch("approvals", queryset=Decision.objects.order_by("created_at", "id"))
    )
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _csv_rows(requests)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="edr-requests-{stamp}.csv"'
    return response
