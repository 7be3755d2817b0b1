"""Filing a request: the one path of the web form, the API and every other caller, each check once.

``file_request`` is the only public way to file. In order:

1. admission (``admit``): the right to file (responses.policy) and the filing limit, asked once,
   before anything costly: who may not file, or is over the limit, gets no KSC call and no IOC
   archive unpacked. A caller that must refuse before reading its input (the API, before the
   body; the web form, before the sealed preview) admits first and hands the ``Admission`` over;
2. validation (``validate``), once: the KSC server (one of the user's, before KSC is asked
   anything), the task, host id, params (the catalog cleans them once), texts, source and archive
   names, every error at once (``InvalidRequest``, by field);
3. the host, asked once through responses.hosts: an id KSC does not know is refused
   (``InvalidRequest`` naming ``target_host``, HTTP 400); the name stored beside the id is
   KSC's display name, never one the caller sent (approvers read the name); when KSC cannot be
   asked (unreachable, refusing the portal, not configured) the request is filed with the host
   unchecked and its FILED event says why (``host_unchecked``), so approvers are told;
4. under the requester's row lock, taken once: a form submitted twice (a double click on "File
   request") files one request; the same open request is filed again only when confirmed; the
   filing limit is checked again (the deliberate re-check: concurrent filings by one user count
   one after the other); then responses.workflow creates the row and its first events.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from responses import catalog, filing_hints, hosts, isolation, policy, protected, workflow
from responses.errors import InvalidRequest, RateLimited
from responses.hosts import HostCheck
from responses.models import EventKind, ResponseRequest, Source, payload_fingerprint

log = logging.getLogger(__name__)

MAX_HOST_NAME = 255
MAX_OVERRIDE_REASON = 2000


# --- 1. Admission --------------------------------------------------------------------------

_ADMITTED = object()  # only admit() makes an Admission


@dataclass(frozen=True)
class Admission:
    """``user`` may file and was under the filing limit when ``admit`` asked: file_request asks no more."""

    user: Any
    proof: object = field(default=None, repr=False, compare=False)


def admit(user) -> Admission:
    """NotAllowed (with the policy's reason) or RateLimited, else the admission file_request takes."""
    policy.may(user, policy.FILE).enforce()
    check_filing_limit(user)
    return Admission(user, _ADMITTED)


def check_filing_limit(user) -> None:
    """RateLimited when this user is at the filing limit now (before any costly validation).

    Unlocked, so cheap; file_request checks again under the user's row lock. The new-request
    page's preview asks it too, before it unpacks an IOC archive.
    """
    _enforce_filing_limit(user, timezone.now())


def _enforce_filing_limit(user, now: dt.datetime) -> None:
    """At most REQUEST_RATE_LIMIT requests per requester per REQUEST_RATE_WINDOW seconds.

    A compromised account or a SIEM rule in a loop must not flood the approvers
    (or, for tasks that need no approval, KSC).
    """
    limit = settings.REQUEST_RATE_LIMIT
    if not limit:
        return
    since = now - dt.timedelta(seconds=settings.REQUEST_RATE_WINDOW)
    recent = ResponseRequest.objects.filter(requester=user, created_at__gte=since)
    if recent.count() >= limit:
        oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
        wait = max(int((oldest - since).total_seconds()) + 1, 1)
        raise RateLimited(
            _(
                "You have filed %(limit)d requests in the last %(window)d minutes, the most allowed "
                "(REQUEST_RATE_LIMIT); try again in %(wait)d seconds."
            )
            % {"limit": limit, "window": settings.REQUEST_RATE_WINDOW // 60, "wait": wait}
        )


# --- 2. Validation -------------------------------------------------------------------------


def _clean_archive_names(task_type: catalog.TaskType, params: Any, names: Any) -> dict[str, str]:
    """{IOC field: file name} for archives that ``params`` holds, each name as catalog.archive_file_name keeps it."""
    if not names:
        return {}
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise ValueError(_("archive_names must map each IOC archive's field to its file name."))
    archives = {spec.name for spec in task_type.fields if catalog.field_kind(spec) == catalog.IOC_ZIP}
    kept = {}
    for key, value in names.items():
        if key not in archives or not isinstance(params, dict) or not params.get(key):
            raise ValueError(_("archive_names: %(field)s is not an IOC archive of this request.") % {"field": key})
        if name := catalog.archive_file_name(value):
            kept[key] = name
    return kept


@dataclass(frozen=True)
class CleanRequest:
    """A new request as validated: what responses.workflow.create_request stores, and nothing it must check."""

    task: str
    server: str  # the KSC server (an entry's name) that holds the host
    target_host: str
    target_host_name: str  # KSC's name for the host; "" when KSC could not be asked
    params: Any
    justification: str
    external_ref: str
    source: str
    archive_names: dict[str, str]
    isolation_end: dict[str, Any] | None  # an isolation's end, cleaned by responses.isolation; part of the fingerprint
    approvals_required: int
    fingerprint: str
    host_unchecked: str = ""  # why KSC could not check the host; "" when it did
    # A protected host filed on purpose (responses/protected.py): {"rule", "reason"}; one more approver.
    protected_override: dict[str, str] | None = None


def validate(
    *,
    user,
    task: Any,
    target_host: Any,
    params: Any,
    justification: Any,
    external_ref: Any = "",
    source: Any = Source.WEB,
    archive_names: Any = None,
    server: Any = None,
    end: dict[str, Any] | None = None,
    host_check: Callable[[str], HostCheck] | None = None,
    override_reason: Any = "",
) -> CleanRequest:
    """Every field checked once, the host asked about once; InvalidRequest naming each field that is wrong.

    ``server``: the KSC server that holds the host (None: ``user``'s default); one the user does not
    work on is refused like one that does not exist, and never contacted.
    ``end``: an isolation's end as sent (responses.isolation.END_FIELDS); an isolation without one gets
    ISOLATION_DEFAULT_HOURS.
    ``host_check``: how the host is asked about (default: that server, through responses.hosts.check);
    it is asked only about a well-formed id on a server of the user's.
    ``override_reason``: why a protected host (responses/protected.py) is acted on all the same; needs the
    protected-host override permission (responses.policy), and the request one more approver. Without it a
    protected host is refused.
    """
    errors: dict[str, Any] = {}
    server_name = None
    try:
        server_name = workflow.clean_server(user, server)
    except ValueError as exc:
        errors["server"] = [str(exc)]
    try:
        task_type = catalog.get_task(task)
    except catalog.ParamErrors as exc:
        errors["task"] = exc.errors["task"]
        task_type = None
    host = None
    try:
        host = catalog.clean_target_host(target_host)
    except ValueError as exc:
        errors["target_host"] = [str(exc)]
    cleaned = None
    if task_type is not None:
        try:
            cleaned = catalog.clean_params(task_type.name, params)
        except catalog.ParamErrors as exc:
            errors["params"] = exc.errors
    texts = {}
    for name, value, required, max_length, multiline in (
        ("justification", justification, True, workflow.MAX_JUSTIFICATION, True),
        ("external_ref", external_ref, False, workflow.MAX_EXTERNAL_REF, False),
    ):
        try:
            texts[name] = workflow.clean_text(
                name, value, required=required, max_length=max_length, multiline=multiline, identifier=name == "external_ref"
            )
        except ValueError as exc:
            errors[name] = [str(exc)]
    override = ""
    try:
        override = workflow.clean_text(
            "override_reason", override_reason, required=False, max_length=MAX_OVERRIDE_REASON, multiline=True
        )
    except ValueError as exc:
        errors["override_reason"] = [str(exc)]
    if override and not policy.may_override_protected(user):
        errors["override_reason"] = [_("You do not hold the protected-host override permission.")]
        override = ""
    if source not in Source.values:
        errors["source"] = [f"unknown source {source!r}"]
    names: dict[str, str] = {}
    if "params" not in errors and task_type is not None:
        try:
            names = _clean_archive_names(task_type, cleaned, archive_names)
        except ValueError as exc:
            errors["archive_names"] = [str(exc)]
    # The isolation's end is judged on the params as the catalog cleaned them (action "1" is 1), once.
    isolation_end, end_errors = isolation.clean_end(task, cleaned if cleaned is not None else params, end or {})
    errors.update(end_errors)
    check = HostCheck(None, "")
    overridden = None
    if host is not None and server_name is not None:
        check = host_check(host) if host_check is not None else hosts.check(host, server=server_name)
        rule = (
            check.host
            and protected.protection(
                check.host.id,
                check.display_name,
                check.host.group_name,
                task,
                cleaned if cleaned is not None else params,
            )
        )
        if check.unknown:
            errors["target_host"] = [hosts.unknown_host_message()]
        elif rule and not override:
            # Protected hosts (responses/protected.py) are refused here as in a campaign, unless overridden.
            errors["target_host"] = [protected.refusal(rule)]
        else:
            if rule:
                overridden = {"rule": rule.describe(), "reason": override}
            try:
                texts["target_host_name"] = workflow.clean_text(
                    "target_host_name", check.display_name, required=False, max_length=MAX_HOST_NAME, multiline=False
                )
            except ValueError as exc:
                errors["target_host_name"] = [str(exc)]
    if errors:
        raise InvalidRequest(errors)
    return CleanRequest(
        task=task_type.name,
        server=server_name,
        target_host=host,
        target_host_name=texts["target_host_name"],
        params=cleaned,
        justification=texts["justification"],
        external_ref=texts["external_ref"],
        source=source,
        archive_names=names,
        isolation_end=isolation_end,
        approvals_required=catalog.approvals_required(task_type.name, cleaned) + (1 if overridden else 0),
        fingerprint=payload_fingerprint(task_type.name, host, cleaned, server_name, isolation_end),
        host_unchecked=check.error,
        protected_override=overridden,
    )


# --- The one public way to file ------------------------------------------------------------


class SamePending(Exception):
    """The same task, host and params are already open: the web form files only on confirmation."""

    def __init__(self, found: list[ResponseRequest]):
        super().__init__(f"{len(found)} open request(s) with the same content")
        self.found = found


@dataclass(frozen=True)
class Filed:
    request: ResponseRequest
    duplicate: bool = False  # True: this form was filed before; ``request`` is that earlier request


def file_request(
    *,
    user=None,
    admission: Admission | None = None,
    task: Any,
    target_host: Any,
    params: Any,
    justification: Any,
    external_ref: Any = "",
    source: str = Source.WEB,
    previewed_at: dt.datetime | None = None,
    same_pending_ok: bool = True,
    archive_names: Any = None,
    server: Any = None,
    end: dict[str, Any] | None = None,
    host_check: Callable[[str], HostCheck] | None = None,
    override_reason: Any = "",
) -> Filed:
    """File a request: pending approval, or approved at once when its task needs none.

    ``user``, or ``admission`` from ``admit(user)`` when the caller asked already (one of the two).
    ``previewed_at``: when the web form's preview was made. A request this user filed
    since then with the same content and justification is that form filed already
    (a double click): it is returned instead of a second one.
    ``same_pending_ok``: False (the web form, until the analyst confirms) raises SamePending
    when the same task, host and params are already open, filed by anyone.
    ``archive_names``: the web form's uploaded file name of each IOC archive in ``params``
    (shown beside its size and digest; not sent to KSC, not part of the fingerprint); the API sends none.
    ``server``: the KSC server that holds the host (None: the user's default server, see validate).
    ``end``: an isolation's end as sent (see validate). Filing an isolation change while another is in
    flight on the host is refused (under the row lock, responses.isolation).
    ``host_check``: who answers for the host (default: that KSC server, through responses.hosts.check).
    ``override_reason``: a protected host filed on purpose (see validate).
    """
    if admission is None:
        admission = admit(user)
    elif admission.proof is not _ADMITTED or (user is not None and user.pk != admission.user.pk):
        raise ValueError("an Admission comes from filing.admit(user), for this user")
    user = admission.user
    clean = validate(
        user=user,
        task=task,
        target_host=target_host,
        params=params,
        justification=justification,
        external_ref=external_ref,
        source=source,
        archive_names=archive_names,
        server=server,
        end=end,
        host_check=host_check,
        override_reason=override_reason,
    )
    with transaction.atomic():
        # The requester's row lock: one user's filings pass here one after the other. (The locked
        # row is also a plain User, where a request's user may be a lazy proxy.)
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        if previewed_at is not None:
            # A request this user filed from this same preview: same content (fingerprint), same
            # justification, filed after the preview was made.
            duplicate = (
                ResponseRequest.objects.visible_to(locked)
                .filter(
                    requester=locked,
                    fingerprint=clean.fingerprint,
                    justification=clean.justification,
                    created_at__gte=previewed_at,
                )
                .first()
            )
            if duplicate is not None:
                return Filed(duplicate, duplicate=True)
        if not same_pending_ok:
            same = filing_hints.same_pending(clean.task, clean.target_host, clean.params, clean.server)
            if same:
                raise SamePending(same)
        now = timezone.now()
        _enforce_filing_limit(locked, now)  # again, under the lock
        # One isolation change in flight per host.
        isolation.refuse_if_in_flight(clean.task, clean.params, clean.target_host, clean.server)
        with set_actor(locked):
            request = workflow.create_request(locked, clean, now=now)
    log.info(
        "request %s filed by %s: %s on %s (server %s)",
        request.uuid,
        request.requester_username,
        request.task,
        clean.target_host,
        clean.server,
    )
    return Filed(request)


def _cleaned_or_raw(task: Any, params: Any) -> Any:
    """The params as the catalog cleans them (action "1" is 1), or as sent when they do not clean (the workflow says why)."""
    if task != "isolateHost":
        return params  # only isolateHost's action decides an end (an IOC archive is not unpacked twice)
    try:
        return catalog.clean_params(task, params)
    except (catalog.ParamErrors, KeyError, TypeError, ValueError):
        return params


def _one_isolation_change(task: str, host: str, params: Any, server: str) -> None:
    """In the filing's transaction: one isolation change in flight per host (responses.isolation)."""
    isolation.refuse_if_in_flight(task, params, host, server)


def protected_override(rr: ResponseRequest, events: list | None = None) -> dict[str, str]:
    """{"rule", "reason"} when the request's host was protected and filed under the override; {} otherwise."""
    for event in events if events is not None else rr.events.filter(kind=EventKind.FILED):
        if event.kind == EventKind.FILED:
            found = event.detail.get("protected_override")
            return dict(found) if isinstance(found, dict) else {}
    return {}


def host_unchecked(rr: ResponseRequest, events: list | None = None) -> str:
    """Why KSC could not check the request's host when it was filed; "" when it did (or before this was kept)."""
    for event in events if events is not None else rr.events.filter(kind=EventKind.FILED):
        if event.kind == EventKind.FILED:
            return str(event.detail.get("host_unchecked", "") or "")
    return ""
