"""The new-request pages: choose a task, fill its form, see what KSC gets (the preview), file it."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from responses import catalog, drafts, filing, filing_hints, hosts, policy, protected, throttle, workflow
from responses.errors import InvalidRequest, NotAllowed, RateLimited
from responses.forms import prefill
from responses.forms.new_request import NewRequestForm, archives_from_references
from responses.forms.previews import preview, seal, unseal
from responses.forms.task_choice import approval_rule
from responses.host_state import portal_isolation
from responses.models import Source, Status
from responses.views.common import DRAFT_FILED, _refused, request_name
from responses.views.hosts import (
    MAX_HOST_QUERY,
    MIN_HOST_QUERY,
    _found_context,
    _search_servers,
    _too_long_query,
    _use_host_url,
)

log = logging.getLogger(__name__)


def _task_choices() -> list[dict[str, Any]]:
    return [{"task": task, "rule": approval_rule(task)} for task in catalog.TASKS.values()]


def _render_form(request: HttpRequest, form: NewRequestForm, status: int = 200, **extra: Any) -> HttpResponse:
    form.carry_by_reference(request.user)  # the page carries a kept archive's digest, not its base64
    form.offer_servers(policy.acting_servers(request.user))
    context = {
        "form": form,
        "task": form.task,
        "rule": approval_rule(form.task),
        "host_suggestion": None,
        # Who the form is shown to, signed: a draft kept after the session ends goes back to this user only.
        "owner": drafts.owner_token(request.user),
        # The language switch posts this form, so that what was typed survives it without JavaScript.
        "keep_form": "request-form",
        "isolation_max_hours": settings.ISOLATION_MAX_HOURS,
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
    if request.method == "POST" and request.POST.get("step") == "file":
        return _file_step(request)  # the filing path asks the policy itself, once
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
            NewRequestForm(draft.task, prefill=prefill.from_draft(draft.task, draft.data)),
            q=draft.data.get("q", ""),
            kept_draft=draft.reason,
            file_again=draft.archive_dropped,
        )
    if task is None:
        return _render_choose(request)
    return _render_form(request, NewRequestForm(task, prefill=prefill.from_query(task, request.GET)))


def _form_url(task_name: str) -> str:
    return f"{reverse('responses:new')}?{urlencode({'task': task_name})}"


def _unsealed(request: HttpRequest) -> tuple[dict[str, Any], Any] | HttpResponse:
    """The previewed filing the page sent back, or the page that says it expired or is not valid."""
    try:
        return unseal(request.user, request.POST.get("sealed", ""))
    except signing.BadSignature:
        return _render_choose(
            request, status=400, error=_("This preview has expired or is not valid: fill in the request again.")
        )


def _file_step(request: HttpRequest) -> HttpResponse:
    """Step 3: file what was previewed. Admitted first (the right to file, the filing limit), then unsealed."""
    try:
        admission = filing.admit(request.user)
    except RateLimited as exc:
        return _refused(request, exc.message, status=429)
    except NotAllowed as exc:
        return _refused(request, exc.message)
    unsealed = _unsealed(request)
    if isinstance(unsealed, HttpResponse):
        return unsealed
    sealed, sealed_at = unsealed
    return _file(request, admission, catalog.TASKS[sealed["task"]], sealed, sealed_at)


def _new_request_post(request: HttpRequest) -> HttpResponse:
    step = request.POST.get("step", "preview")
    if step == "edit":
        unsealed = _unsealed(request)
        if isinstance(unsealed, HttpResponse):
            return unsealed
        sealed, _sealed_at = unsealed
        task = catalog.TASKS[sealed["task"]]
        return _render_form(request, NewRequestForm(task, prefill=prefill.from_filing(task, sealed)))
    task = catalog.TASKS.get(request.POST.get("task", ""))
    if task is None:
        return _render_choose(request, status=400, error=_("Choose a task type."))
    # Enter in a field "clicks" the form's first button, Search: with nothing to search, it means Preview.
    if (step == "search" and request.POST.get("q", "").strip()) or "use_host" in request.POST:
        return _search_in_form(request, task)
    try:
        # Before the form unpacks and tests an IOC archive: over a limit, nothing is looked at.
        filing.check_filing_limit(request.user)
        throttle.count(request.user, throttle.PREVIEW)
    except RateLimited as exc:
        return _refused(request, exc.message, status=429)
    data, archive_gone = archives_from_references(request.user, request.POST)
    form = NewRequestForm(task, data, request.FILES)
    if not form.is_valid():
        return _render_form(request, form, status=400, file_again=archive_gone)
    try:
        # Named before KSC is asked: another tenant's server is never contacted for this user.
        form.filing.server = workflow.clean_server(request.user, form.filing.server)
    except ValueError as exc:
        form.common.add_error("server", str(exc))
        return _render_form(request, form, status=400, file_again=archive_gone)
    check = hosts.check(form.filing.target_host, server=form.filing.server)
    if check.unknown:
        # A display name typed where the id goes: offer the one host of that name, never swap it in unseen.
        named = hosts.named(form.filing.target_host, server=form.filing.server)
        if len(named) == 1:
            form.common.add_error(
                "target_host",
                _("This is not a KSC host id, but one host is named %(name)s. Did you mean it? Select it below.")
                % {"name": named[0].display_name},
            )
            suggestion = {
                "host": named[0],
                "server": form.filing.server,
                "use_url": _use_host_url(named[0], task.name, form.filing.server),
            }
            return _render_form(request, form, status=400, host_suggestion=suggestion)
        form.common.add_error("target_host", hosts.unknown_host_message())
        return _render_form(request, form, status=400)
    host, host_error = check.host, check.error
    # The preview shows KSC's name; filing asks KSC again and stores its name then.
    form.filing.target_host_name = check.display_name
    shown = preview(form.filing)
    # Protected hosts (responses/protected.py): refused here as filing would, unless overridden on purpose.
    rule = host and protected.protection(host.id, host.display_name, host.group_name, task.name, form.filing.params)
    if form.filing.override_reason and not policy.may_override_protected(request.user):
        form.common.add_error("override_reason", _("You do not hold the protected-host override permission."))
        return _render_form(request, form, status=400)
    if rule and not form.filing.override_reason:
        form.common.add_error("target_host", protected.refusal(rule))
        return _render_form(request, form, status=400)
    if rule:
        shown = dataclasses.replace(shown, approvals_required=shown.approvals_required + 1)
    return render(
        request,
        "responses/new_preview.html",
        {
            "filing": form.filing,
            "task": task,
            "host": host,
            "host_error": host_error,
            "host_facts": hosts.facts_of(host) if host is not None else None,
            "isolation": portal_isolation(form.filing.target_host, form.filing.server),
            "preview": shown,
            "protected_rule": rule.describe() if rule else "",
            "sealed": seal(request.user, form.filing),
            "keep_form": "preview-form",
            # Someone already asked for exactly this (issue 17, point 6): say who and when; filing asks to confirm.
            "same_pending": filing_hints.same_pending_words(
                filing_hints.same_pending(
                    form.filing.task, form.filing.target_host, form.filing.params, form.filing.server
                )
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
        # "<server>:<host id>" from the results (a server name has no ":"), or a bare host id.
        server, colon, host_id = data["use_host"].strip().partition(":")
        if not colon or server not in policy.acting_servers(request.user):
            server, host_id = "", data["use_host"].strip()
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
        except RateLimited as exc:
            extra["host_search_error"] = exc.message
            status = 429
        else:
            try:
                server = workflow.clean_server(request.user, server)
            except ValueError:
                server = ""
            # The name shown is KSC's, never the browser's.
            host = hosts.check(host_id, server=server).host if server else None
            data["target_host"] = host_id
            data["server"] = server
            data["target_host_name"] = hosts.display_name(host) if host is not None else ""
    elif len(extra["q"]) >= MIN_HOST_QUERY:
        try:
            throttle.count(request.user, throttle.HOST_SEARCH)
            found = _search_servers(request.user, extra["q"])
        except RateLimited as exc:
            extra["host_search_error"] = exc.message
            status = 429
        except ImproperlyConfigured:
            extra["host_search_error"] = _("KSC is not configured (KSC_HOST), so hosts cannot be looked up.")
        else:
            failure = hosts.everything_failed(found)
            if failure:
                extra["host_search_error"] = _("The host search in KSC failed: %(error)s") % {"error": failure}
            else:
                shown = _found_context(found, task.name)
                extra["host_hits"] = [{"host": item["host"], "server": item["server"]} for item in shown["hosts"]]
                extra.update(
                    several_servers=shown["several_servers"],
                    failed_servers=shown["failed_servers"],
                    failed_secondaries=shown["failed_secondaries"],
                )
    else:
        extra["host_search_error"] = _("Type at least 2 characters.")
    takes_archive = any(catalog.field_kind(spec) == catalog.IOC_ZIP for spec in task.fields)
    extra["file_again"] = takes_archive and (bool(request.FILES) or archive_gone)
    form = NewRequestForm(task, prefill=prefill.from_query(task, data, carried=True))
    return _render_form(request, form, status=status, **extra)


def _bound_to_filing(task: catalog.TaskType, sealed: dict[str, Any]) -> NewRequestForm:
    """A form holding what was previewed, checked, so that errors found at filing sit next to its fields."""
    form = NewRequestForm(task, prefill.as_posted(task, sealed), {})
    form.is_valid()
    return form


def _file(
    request: HttpRequest, admission: filing.Admission, task: catalog.TaskType, sealed: dict[str, Any], sealed_at: Any
) -> HttpResponse:
    try:
        fields = {key: value for key, value in sealed.items() if key != "target_host_name"}
        filed = filing.file_request(
            admission=admission,
            source=Source.WEB,
            previewed_at=sealed_at,
            same_pending_ok=bool(request.POST.get("confirm_duplicate")),
            **fields,
        )
    except filing.SamePending as same:
        # The same task, host and params are already open (another analyst's, or an earlier one):
        # filed only when the analyst confirms on the preview.
        form = _bound_to_filing(task, sealed)
        form.params_errors.append(
            _("%(same)s Preview it again and tick “File it anyway” to file a second one.")
            % {"same": filing_hints.same_pending_words(same.found)}
        )
        return _render_form(form=form, request=request, status=409)
    except RateLimited as exc:
        return _refused(request, exc.message, status=429)
    except NotAllowed as exc:
        return _refused(request, exc.message)
    except InvalidRequest as exc:
        form = _bound_to_filing(task, sealed)
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
