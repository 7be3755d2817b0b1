"""Every status change of a response request, and who may make it.

DESIGN.md's diagram, in code. Each transition runs in one transaction, takes a
row lock on the request (or makes a conditional UPDATE that must affect exactly
one row), and writes its domain event in the same transaction. Nothing outside
this module changes ``ResponseRequest.status``.

Who may do what is responses.policy's: every transition asks ``policy.may``.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from responses import audit_chain, catalog
from responses.errors import (  # noqa: F401 (re-exported: workflow.NotAllowed and friends)
    ContentChanged,
    InvalidRequest,
    NotAllowed,
    RateLimited,
    WorkflowError,
    WrongStatus,
)
from responses.models import (
    Approval,
    AttemptOutcome,
    Decision,
    EventKind,
    RequestEvent,
    ResponseRequest,
    Source,
    Status,
    SubmissionAttempt,
    payload_fingerprint,
)
from responses.policy import (  # noqa: F401 (re-exported: the action names)
    ACTIONS,
    APPROVE,
    CANCEL,
    FILE,
    REJECT,
    RETRY,
    VIEW,
    Permission,
    may,
)

log = logging.getLogger(__name__)

SYSTEM = "system"  # actor of transitions made by jobs
MAX_JUSTIFICATION = 4000
MAX_COMMENT = 4000
MAX_EXTERNAL_REF = 255

# --- Filing -------------------------------------------------------------------------------


def _clean_text(
    field: str, value: Any, *, required: bool, max_length: int, multiline: bool, identifier: bool = False
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(_("%(field)s must be text.") % {"field": field})
    allowed = {"\n", "\r", "\t"} if multiline else set()
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
        raise ValueError(_("%(field)s must not contain control characters.") % {"field": field})
    if identifier:
        # An identifier (a ticket reference) has no use for invisible characters. Free text (a
        # justification, a comment) may need a joiner (emoji, Persian), and a host's name is what
        # KSC calls it: approval pages show those characters visibly instead.
        catalog.refuse_invisible(field, value)
    value = value.strip()
    if required and not value:
        raise ValueError(_("%(field)s is required.") % {"field": field})
    if len(value) > max_length:
        raise ValueError(_("%(field)s is longer than %(max)d characters.") % {"field": field, "max": max_length})
    return value


def _event(
    request: ResponseRequest,
    kind: str,
    actor: str,
    before: str,
    message: str = "",
    detail: dict | None = None,
) -> RequestEvent:
    """Append one event to the request's trail, its keyed hash chain, in the caller's transaction."""
    event = RequestEvent(
        request=request,
        kind=kind,
        actor_username=actor,
        status_before=before,
        status_after=request.status,
        message=message,
        detail=detail or {},
        created_at=timezone.now(),
    )
    return audit_chain.append_request_event(event)


def _in_english(message: Callable[[], str]) -> str:
    """The system's own words in the trail are written in English, whoever's request triggered them.

    The trail is evidence: its text must not depend on the language of the page that
    happened to cause a transition (and the hash chain fixes it for ever).
    """
    with translation.override("en"):
        return message()


def _username(user) -> str:
    return user.get_username() if user is not None else SYSTEM


def file_request(
    *,
    user,
    task: Any,
    target_host: Any,
    params: Any,
    justification: Any,
    external_ref: Any = "",
    target_host_name: Any = "",
    source: str = Source.WEB,
    host_unchecked: str = "",
) -> ResponseRequest:
    """File a request: validated against the catalog, then pending approval or approved at once.

    Views and the API file through responses.filing, which checks the host with KSC first:
    ``target_host_name`` is KSC's name for the host, and ``host_unchecked`` says why KSC
    could not be asked (kept in the FILED event, shown to approvers).
    """
    may(user, FILE).enforce()
    # The limit first: a flood of requests must not get its IOC archives unpacked and tested.
    check_filing_limit(user)
    errors: dict[str, Any] = {}
    try:
        task_type = catalog.get_task(task)
    except catalog.ParamErrors as exc:
        errors["task"] = exc.errors["task"]
        task_type = None
    try:
        host = catalog.clean_target_host(target_host)
    except ValueError as exc:
        errors["target_host"] = [str(exc)]
    if task_type is not None:
        try:
            cleaned = catalog.clean_params(task_type.name, params)
        except catalog.ParamErrors as exc:
            errors["params"] = exc.errors
    texts = {}
    for field, value, required, max_length, multiline in (
        ("justification", justification, True, MAX_JUSTIFICATION, True),
        ("external_ref", external_ref, False, MAX_EXTERNAL_REF, False),
        ("target_host_name", target_host_name, False, 255, False),
    ):
        try:
            texts[field] = _clean_text(
                field,
                value,
                required=required,
                max_length=max_length,
                multiline=multiline,
                identifier=field == "external_ref",
            )
        except ValueError as exc:
            errors[field] = [str(exc)]
    if source not in Source.values:
        errors["source"] = [f"unknown source {source!r}"]
    if errors:
        raise InvalidRequest(errors)

    required = catalog.approvals_required(task_type.name, cleaned)
    now = timezone.now()
    with transaction.atomic(), set_actor(user):
        _enforce_filing_limit(user, now)
        request = ResponseRequest.objects.create(
            task=task_type.name,
            target_host=host,
            target_host_name=texts["target_host_name"],
            params=cleaned,
            justification=texts["justification"],
            external_ref=texts["external_ref"],
            fingerprint=payload_fingerprint(task_type.name, host, cleaned),
            requester=user,
            requester_username=user.get_username(),
            source=source,
            status=Status.PENDING_APPROVAL if required else Status.APPROVED,
            approvals_required=required,
            expires_at=now + dt.timedelta(seconds=settings.APPROVAL_TTL) if required else None,
        )
        _event(
            request,
            EventKind.FILED,
            user.get_username(),
            "",
            request.justification,
            {
                "task": request.task,
                "target_host": host,
                "approvals_required": required,
                "source": source,
                # ties what was filed into the keyed audit chain: verify_audit compares it with the row
                "fingerprint": request.fingerprint,
                **({"host_unchecked": host_unchecked} if host_unchecked else {}),
            },
        )
        if not required:
            request.approved_at = request.decided_at = now
            request.save(update_fields=["approved_at", "decided_at", "updated_at"])
            _event(
                request,
                EventKind.APPROVED,
                SYSTEM,
                "",
                _in_english(lambda: _("This task needs no approval.")),
            )
            _enqueue_after_commit(request)
    log.info("request %s filed by %s: %s on %s", request.uuid, request.requester_username, request.task, host)
    return request


def check_filing_limit(user) -> None:
    """RateLimited when this user is at the filing limit now (before any costly validation).

    Unlocked, so cheap: file_request checks again under the user's row lock.
    """
    _enforce_filing_limit(user, timezone.now(), lock=False)


def _enforce_filing_limit(user, now: dt.datetime, *, lock: bool = True) -> None:
    """At most REQUEST_RATE_LIMIT requests per requester per REQUEST_RATE_WINDOW seconds.

    A compromised account or a SIEM rule in a loop must not flood the approvers
    (or, for tasks that need no approval, KSC). The user's row lock makes
    concurrent filings by one user count one after the other.
    """
    limit = settings.REQUEST_RATE_LIMIT
    if not limit:
        return
    if lock:
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
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


# --- Decisions ------------------------------------------------------------------------------


def _locked(request: ResponseRequest | uuid_module.UUID | str) -> ResponseRequest:
    key = request.uuid if isinstance(request, ResponseRequest) else request
    return ResponseRequest.objects.select_for_update().get(uuid=key)


def _expire_if_overdue(request: ResponseRequest | uuid_module.UUID | str) -> bool:
    """Expire a pending request whose approval window has passed; True if it did (or was already)."""
    with transaction.atomic():
        locked = _locked(request)
        if locked.status == Status.EXPIRED:
            return True
        if locked.status != Status.PENDING_APPROVAL or locked.expires_at is None or locked.expires_at > timezone.now():
            return False
        _expire_locked(locked)
        return True


def _expire_locked(request: ResponseRequest) -> None:
    with set_actor(None):
        _close(
            request,
            Status.EXPIRED,
            EventKind.EXPIRED,
            SYSTEM,
            _in_english(
                lambda: (
                    _("Nobody decided within the approval window (%(hours)s hours).")
                    % {"hours": f"{settings.APPROVAL_TTL / 3600:g}"}
                )
            ),
        )


def _close(request: ResponseRequest, status: str, kind: str, actor: str, message: str) -> None:
    """A locked pending request ends (rejected, cancelled, expired): status, decision time, event."""
    before = request.status
    request.status = status
    request.decided_at = timezone.now()
    request.save(update_fields=["status", "decided_at", "updated_at"])
    _event(request, kind, actor, before, message)


def _decide(
    request: ResponseRequest | uuid_module.UUID | str,
    user,
    action: str,
    comment: Any,
    body: Callable[[ResponseRequest, str], None],
) -> ResponseRequest:
    try:
        comment = _clean_text("comment", comment, required=action == REJECT, max_length=MAX_COMMENT, multiline=True)
    except ValueError as exc:
        raise InvalidRequest({"comment": [str(exc)]}) from None
    # Expiry is committed on its own: the refusal below must not roll it back.
    _expire_if_overdue(request)
    try:
        with transaction.atomic(), set_actor(user):
            locked = _locked(request)
            may(user, action, locked).enforce()
            body(locked, comment)
    except IntegrityError:
        # The unique (request, approver) constraint: a double click that raced past the check.
        raise WrongStatus(_("You have already decided on this request.")) from None
    locked.refresh_from_db()
    return locked


def _approving_people(request: ResponseRequest) -> dict[tuple[str, int | str], str]:
    """The distinct people who approved ``request`` (never its requester), each with a username to show.

    Counted by user id: the same person under a new username is still one person. An
    approval whose user was deleted has only its username left and counts once by it.
    """
    people: dict[tuple[str, int | str], str] = {}
    rows = request.approvals.filter(decision=Decision.APPROVE).values_list("approver_id", "approver_username")
    for approver_id, username in rows:
        if approver_id is not None:
            if approver_id != request.requester_id:
                people[("user", approver_id)] = username
        elif request.requester_id is not None or username != request.requester_username:
            people[("deleted user", username)] = username
    return people


def approve(request: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """Add this approver's approval; the request is APPROVED once it has the required number."""

    def body(locked: ResponseRequest, text: str) -> None:
        if locked.fingerprint != payload_fingerprint(locked.task, locked.target_host, locked.params):
            # The row changed after filing (by hand, in the database): never approve what was not filed.
            raise NotAllowed(_("This request's content changed after it was filed; it cannot be approved."))
        Approval.objects.create(
            request=locked,
            approver=user,
            approver_username=user.get_username(),
            decision=Decision.APPROVE,
            comment=text,
            fingerprint=locked.fingerprint,
        )
        approvers = _approving_people(locked)
        before = locked.status
        if len(approvers) >= locked.approvals_required:
            now = timezone.now()
            locked.status = Status.APPROVED
            locked.approved_at = locked.decided_at = now
            locked.save(update_fields=["status", "approved_at", "decided_at", "updated_at"])
            names = sorted(approvers.values())
            _event(locked, EventKind.APPROVED, user.get_username(), before, text, {"approvers": names})
            _enqueue_after_commit(locked)
        else:
            _event(
                locked,
                EventKind.APPROVAL_ADDED,
                user.get_username(),
                before,
                text,
                {"approvals": len(approvers), "approvals_required": locked.approvals_required},
            )

    return _decide(request, user, APPROVE, comment, body)


def reject(request: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any) -> ResponseRequest:
    """One rejection rejects the request; the comment (why) is required."""

    def body(locked: ResponseRequest, text: str) -> None:
        Approval.objects.create(
            request=locked,
            approver=user,
            approver_username=user.get_username(),
            decision=Decision.REJECT,
            comment=text,
            fingerprint=locked.fingerprint,
        )
        _close(locked, Status.REJECTED, EventKind.REJECTED, user.get_username(), text)

    return _decide(request, user, REJECT, comment, body)


def cancel(request: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """The requester withdraws a request that is still pending approval."""

    def body(locked: ResponseRequest, text: str) -> None:
        _close(locked, Status.CANCELLED, EventKind.CANCELLED, user.get_username(), text)

    return _decide(request, user, CANCEL, comment, body)


def retry(request: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """An approver sends a FAILED request to KSC again.

    It passes through APPROVED (not straight to QUEUED as DESIGN.md draws it) so
    that, when Redis is down, the reconciler finds it like any approved request.
    The next attempt first looks for an incident the failed ones may have left
    in KSC, so a retry never creates a second incident.
    """

    changed = False

    def body(locked: ResponseRequest, text: str) -> None:
        nonlocal changed
        if _fail_if_content_changed(locked, user.get_username()):
            changed = True
            return
        _send_again(locked, EventKind.RETRIED, user.get_username(), text)

    retried = _decide(request, user, RETRY, comment, body)
    if changed:
        # Raised after the transaction committed, so that the FAILED event stays in the trail.
        raise ContentChanged(CONTENT_CHANGED_MESSAGE())
    return retried


def _send_again(request: ResponseRequest, kind: str, actor: str, message: str, detail: dict | None = None) -> None:
    """FAILED → APPROVED and queued after commit; the next attempt looks in KSC before adding."""
    before = request.status
    request.status = Status.APPROVED
    request.last_error = ""
    request.finished_at = None
    request.save(update_fields=["status", "last_error", "finished_at", "updated_at"])
    _event(request, kind, actor, before, message, detail)
    _enqueue_after_commit(request)


def expire_overdue(now: dt.datetime | None = None) -> int:
    """Expire every pending request past its approval window (the periodic sweep). Returns the count."""
    now = now or timezone.now()
    expired = 0
    candidates = ResponseRequest.objects.filter(status=Status.PENDING_APPROVAL, expires_at__lte=now).values_list(
        "uuid", flat=True
    )
    for key in list(candidates):
        if _expire_if_overdue(key):
            expired += 1
    return expired


def get_for_user(user, key: uuid_module.UUID | str) -> ResponseRequest:
    """A request by its public id, if this user may see it (ResponseRequest.DoesNotExist otherwise).

    Reading a request also expires it when its approval window has passed.
    """
    request = ResponseRequest.objects.visible_to(user).get(uuid=key)
    if request.status == Status.PENDING_APPROVAL and request.expires_at and request.expires_at <= timezone.now():
        _expire_if_overdue(request)
        request.refresh_from_db()
    return request


# --- Queueing (the submission job's own transitions live below, too) ------------------------


def _enqueue_after_commit(request: ResponseRequest) -> None:
    key = request.uuid

    def push() -> None:
        from responses import jobs  # jobs imports workflow: import here, at call time

        jobs.enqueue_submission(key)

    transaction.on_commit(push)


def mark_queued(key: uuid_module.UUID | str) -> bool:
    """APPROVED → QUEUED once the job is in Redis. False when the job already moved it on."""
    with transaction.atomic():
        updated = ResponseRequest.objects.filter(uuid=key, status=Status.APPROVED).update(
            status=Status.QUEUED, queued_at=timezone.now(), updated_at=timezone.now()
        )
        if updated != 1:
            return False
        request = ResponseRequest.objects.get(uuid=key)
        _event(request, EventKind.QUEUED, SYSTEM, Status.APPROVED, detail={"job_id": str(key)})
    return True


def record_enqueue_failure(key: uuid_module.UUID | str, error: str) -> None:
    """Redis refused the job: the request stays APPROVED; the reconciler will queue it later."""
    with transaction.atomic():
        request = ResponseRequest.objects.get(uuid=key)
        _event(
            request,
            EventKind.ENQUEUE_FAILED,
            SYSTEM,
            request.status,
            _in_english(
                lambda: (
                    _("Could not queue the submission (%(error)s); it will be queued when the queue is back.")
                    % {"error": error}
                )
            ),
        )


# --- The submission job's transitions (responses.jobs.submit_to_ksc) --------------------------


def CONTENT_CHANGED_MESSAGE() -> str:  # noqa: N802 - a message, read like a constant
    return _in_english(
        lambda: _(
            "The task, host or parameters of this request changed after it was approved; it was not sent to "
            "KSC. File a new request for what should be done, and have the database changes investigated."
        )
    )


def approved_fingerprints(request: ResponseRequest) -> set[str]:
    """Every fingerprint this request was filed or approved with (the row's own, each approval's, the trail's)."""
    approved = {request.fingerprint}
    approved.update(
        request.approvals.filter(decision=Decision.APPROVE).values_list("fingerprint", flat=True)
    )
    filed = request.events.filter(kind=EventKind.FILED).values_list("detail", flat=True).first()
    if isinstance(filed, dict) and filed.get("fingerprint"):
        approved.add(filed["fingerprint"])
    return approved


def _fail_if_content_changed(request: ResponseRequest, actor: str) -> bool:
    """FAILED, with an event, when the locked row is not what was approved; True if so.

    A row edited in the database (an UPDATE of target_host or params, or of the
    fingerprint too) must never reach KSC: the approvals and the FILED event keep
    the fingerprint that was decided on, and neither can be rewritten silently.
    """
    current = payload_fingerprint(request.task, request.target_host, request.params)
    approved = approved_fingerprints(request)
    if approved == {current}:
        return False
    before = request.status
    now = timezone.now()
    request.status = Status.FAILED
    request.last_error = CONTENT_CHANGED_MESSAGE()
    request.finished_at = now
    request.save(update_fields=["status", "last_error", "finished_at", "updated_at"])
    _event(
        request,
        EventKind.FAILED,
        actor,
        before,
        request.last_error,
        {"content_changed": True, "approved_fingerprints": sorted(approved), "current_fingerprint": current},
    )
    log.error("request %s: content changed after approval; refused to submit", request.uuid)
    return True


# How far back KLINCDT_ADDED may go for a request whose identical twins took the seconds since.
ADDED_LOOKBACK = dt.timedelta(hours=1)


def incident_second(request: ResponseRequest, now: dt.datetime) -> dt.datetime:
    """KLINCDT_ADDED for a request's first attempt: a whole second no identical request holds.

    KSC keeps whole seconds, and a re-attempt recognises its own incident by host,
    time and body, so identical requests (same fingerprint) need distinct seconds.
    The time stays honest: the latest free second between the request's approval
    (at most ADDED_LOOKBACK ago) and now, when the request existed and was approved;
    only when every one of those is taken, the first free second after now, which is
    then at most as far ahead as there are identical requests in flight. One query
    reads the seconds taken, where probing second by second took one per second.
    """
    current = now.replace(microsecond=0)
    since = max(request.approved_at or request.created_at or now, now - ADDED_LOOKBACK)
    earliest = since.replace(microsecond=0)
    if earliest < since:
        earliest += dt.timedelta(seconds=1)  # never before the approval itself
    taken = set(
        ResponseRequest.objects.filter(fingerprint=request.fingerprint, ksc_added__gte=earliest)
        .exclude(pk=request.pk)
        .values_list("ksc_added", flat=True)
    )
    second = dt.timedelta(seconds=1)
    candidate = current
    while candidate >= earliest:
        if candidate not in taken:
            return candidate
        candidate -= second
    candidate = current + second
    while candidate in taken:
        candidate += second
    return candidate


def claim_for_submission(key: uuid_module.UUID | str) -> tuple[ResponseRequest, SubmissionAttempt] | None:
    """APPROVED or QUEUED → SUBMITTING for exactly one job; None when another got there first.

    Raises ContentChanged (after making the request FAILED) when the row's task,
    host or parameters are not what was approved.

    Also fixes KLINCDT_ADDED before the first attempt, unique per (task, host, params):
    a later attempt recognises the incident an earlier one may have left in KSC by
    host, time and body, so two identical requests must never share a time.
    """
    now = timezone.now()
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if request is None or request.status not in (Status.APPROVED, Status.QUEUED):
            return None
        if _fail_if_content_changed(request, SYSTEM):
            attempt = None
        else:
            before = request.status
            request.status = Status.SUBMITTING
            if request.ksc_added is None:
                request.ksc_added = incident_second(request, now)
            request.attempts += 1
            interrupted = _close_interrupted_attempts(request, now)
            # (fingerprint, ksc_added) is unique: a racing twin makes this fail and the job run again.
            request.save(update_fields=["status", "ksc_added", "attempts", "ksc_unknown_since", "updated_at"])
            attempt = SubmissionAttempt.objects.create(request=request, number=request.attempts, started_at=now)
            detail: dict[str, Any] = {"attempt": attempt.number}
            if interrupted:
                detail["interrupted_attempts"] = interrupted
            _event(request, EventKind.ATTEMPT, SYSTEM, before, detail=detail)
    if attempt is None:
        # Raised after the transaction committed, so that FAILED and its event are kept.
        raise ContentChanged(CONTENT_CHANGED_MESSAGE())
    return request, attempt


def _close_interrupted_attempts(request: ResponseRequest, now: dt.datetime) -> list[int]:
    """End every attempt whose outcome was never recorded (the database or its worker failed first).

    Such an attempt may have sent AddIncident: without an incident id the request's
    outcome is unknown from now on, so the next attempt lets KSC settle before adding.
    The caller holds the request's row lock and saves ``ksc_unknown_since``.
    """
    open_attempts = list(request.submission_attempts.filter(finished_at__isnull=True).order_by("number"))
    for attempt in open_attempts:
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.INTERRUPTED
        attempt.error_message = attempt.error_message or _in_english(
            lambda: _(
                "This attempt ended without its outcome being recorded (the worker or the database failed); "
                "KSC may have created the incident."
            )
        )
        attempt.save(update_fields=["finished_at", "outcome", "error_message"])
    if open_attempts and request.ksc_incident_id is None:
        request.ksc_unknown_since = now
    return [attempt.number for attempt in open_attempts]


def record_incident(key: uuid_module.UUID | str, incident_id: int, *, adopted: bool = False) -> None:
    """Keep the KSC incident id the moment we know it, in its own transaction."""
    with transaction.atomic():
        updated = ResponseRequest.objects.filter(
            uuid=key, status=Status.SUBMITTING, ksc_incident_id__isnull=True
        ).update(ksc_incident_id=incident_id, updated_at=timezone.now())
        if updated != 1:
            raise WrongStatus(f"request {key} is not submitting without an incident id")
        if adopted:
            request = ResponseRequest.objects.get(uuid=key)
            _event(
                request,
                EventKind.ATTEMPT,
                SYSTEM,
                request.status,
                _("KSC already had incident %(id)s for this request (an earlier attempt was cut off); adopted it.")
                % {"id": incident_id},
                {"incident_id": incident_id, "adopted": True},
            )


def submission_succeeded(
    key: uuid_module.UUID | str, attempt: SubmissionAttempt, incident_id: int, *, adopted: bool
) -> None:
    """SUBMITTING → SUBMITTED with the incident id.

    When an earlier attempt's outcome was unknown, KSC may still carry out that
    AddIncident after this success: the late duplicate check is due a settle
    period from now (responses.jobs.check_late_duplicates).
    """
    from responses.jobs import add_settle_seconds  # jobs imports workflow

    now = timezone.now()
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.SUBMITTING).first()
        if request is None:
            raise WrongStatus(f"request {key} was not submitting")
        request.status = Status.SUBMITTED
        request.submitted_at = request.finished_at = now
        request.last_error = ""
        if request.ksc_unknown_since is not None:
            request.ksc_recheck_at = now + dt.timedelta(seconds=add_settle_seconds())
            request.ksc_unknown_since = None
        request.save(
            update_fields=[
                "status",
                "submitted_at",
                "finished_at",
                "last_error",
                "ksc_recheck_at",
                "ksc_unknown_since",
                "updated_at",
            ]
        )
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.ADOPTED if adopted else AttemptOutcome.SUBMITTED
        attempt.ksc_incident_id = incident_id
        attempt.save(update_fields=["finished_at", "outcome", "ksc_incident_id"])
        _event(
            request,
            EventKind.SUBMITTED,
            SYSTEM,
            Status.SUBMITTING,
            _("KSC incident %(id)s created; KSC now creates the response task.") % {"id": incident_id},
            {
                "incident_id": incident_id,
                "attempt": attempt.number,
                "duplicate_check_at": request.ksc_recheck_at.isoformat() if request.ksc_recheck_at else None,
            },
        )


def submission_failed(
    key: uuid_module.UUID | str,
    attempt: SubmissionAttempt,
    message: str,
    *,
    will_retry: bool,
    code: int | None = None,
    retry_in: int | None = None,
    outcome_unknown: bool = False,
) -> None:
    """SUBMITTING → QUEUED (a retry follows) or FAILED, keeping KSC's code and message.

    ``outcome_unknown``: this attempt sent AddIncident and never learnt whether KSC
    carried it out. The next attempt then waits KSC_ADD_SETTLE before adding; a
    request that FAILED while any attempt's outcome is unknown says that KSC may
    have created the incident, and the reconciler keeps looking for it.
    """
    now = timezone.now()
    after = Status.QUEUED if will_retry else Status.FAILED
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.SUBMITTING).first()
        if outcome_unknown and request is not None and request.ksc_incident_id is None:
            request.ksc_unknown_since = now
        unknown = request is not None and request.ksc_incident_id is None and request.ksc_unknown_since is not None
        if unknown and not will_retry:
            message = _in_english(
                lambda: (
                    _("%(error)s — KSC may have created this incident; the portal keeps checking.") % {"error": message}
                )
            )
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.RETRYING if will_retry else AttemptOutcome.FAILED
        attempt.error_code = code
        attempt.error_message = message
        attempt.save(update_fields=["finished_at", "outcome", "error_code", "error_message"])
        if request is None:
            return
        request.status = after
        request.last_error = message
        if not will_retry:
            request.finished_at = now
        request.save(update_fields=["status", "last_error", "finished_at", "ksc_unknown_since", "updated_at"])
        detail = {"attempt": attempt.number, "error_code": code, "outcome_unknown": unknown}
        if will_retry:
            detail["retry_in_seconds"] = retry_in
        _event(
            request,
            EventKind.ATTEMPT if will_retry else EventKind.FAILED,
            SYSTEM,
            Status.SUBMITTING,
            message,
            detail,
        )


def requeue(key: uuid_module.UUID | str, reason: str) -> bool:
    """A request whose job died (worker killed, Redis lost the job): back to QUEUED for a new job.

    SUBMITTING ones go back too: the next attempt first looks in KSC for an
    incident the dead one may have created, and adopts it.
    """
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().get(uuid=key)
        if request.status not in (Status.APPROVED, Status.QUEUED, Status.SUBMITTING):
            return False
        before = request.status
        now = timezone.now()
        request.status = Status.QUEUED
        request.queued_at = request.queued_at or now
        interrupted = _close_interrupted_attempts(request, now)
        request.save(update_fields=["status", "queued_at", "ksc_unknown_since", "updated_at"])
        _event(
            request,
            EventKind.REQUEUED,
            SYSTEM,
            before,
            reason,
            {"interrupted_attempts": interrupted} if interrupted else None,
        )
    return True


# --- After the outcome was unknown: finding the incident later, removing late copies ----------


def found_in_ksc(key: uuid_module.UUID | str, incident_id: int) -> bool:
    """A request that FAILED with an unknown outcome turns out to be in KSC: send it on to adopt it.

    FAILED → APPROVED (and queued after commit, like an approver's retry): the job
    finds the incident again, adopts it and marks it unhandled, so KSC creates the
    response task. False when the request is no longer such a failure.
    """
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if request is None or not request.ksc_outcome_unknown:
            return False
        message = _in_english(
            lambda: (
                _("KSC holds incident %(id)s for this request after all; sending it on to adopt it.")
                % {"id": incident_id}
            )
        )
        _send_again(request, EventKind.FOUND_IN_KSC, SYSTEM, message, {"incident_id": incident_id})
    return True


def stop_searching(key: uuid_module.UUID | str, hours: float) -> bool:
    """The search window of a FAILED request with an unknown outcome has passed without a find."""
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if request is None or not request.ksc_outcome_unknown:
            return False
        request.ksc_unknown_since = None
        request.save(update_fields=["ksc_unknown_since", "updated_at"])
        _event(
            request,
            EventKind.SEARCH_ENDED,
            SYSTEM,
            request.status,
            _in_english(
                lambda: (
                    _(
                        "KSC showed no incident for this request within %(hours)s hours after it failed; "
                        "the portal stopped looking. An approver can retry it."
                    )
                    % {"hours": f"{hours:g}"}
                )
            ),
        )
    return True


def take_duplicate_check(key: uuid_module.UUID | str, now: dt.datetime) -> bool:
    """Claim a due late duplicate check, so that two reconcilers never both delete (True: ours)."""
    return (
        ResponseRequest.objects.filter(uuid=key, ksc_recheck_at__lte=now, ksc_incident_id__isnull=False).update(
            ksc_recheck_at=None
        )
        == 1
    )


def postpone_duplicate_check(key: uuid_module.UUID | str, at: dt.datetime) -> None:
    """KSC could not be asked: the check is due again at ``at``."""
    ResponseRequest.objects.filter(uuid=key, ksc_recheck_at__isnull=True).update(ksc_recheck_at=at)


def record_duplicate_check(
    key: uuid_module.UUID | str, *, found: list[int], kept: int, removed: list[int], failed: dict[int, str]
) -> None:
    """The late duplicate check's outcome in the trail: every id KSC held, what was removed, what was not."""
    detail = {"found": found, "kept": kept, "removed": removed, "not_removed": {str(k): v for k, v in failed.items()}}
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().get(uuid=key)
        ids = ", ".join(str(incident_id) for incident_id in found) or "none"
        if kept not in found:
            kind = EventKind.DUPLICATE_KEPT
            message = _in_english(
                lambda: (
                    _(
                        "Looked in KSC again: it does not show the recorded incident %(kept)s, but holds %(ids)s "
                        "for this request. Nothing was removed; check the incidents in KSC by hand."
                    )
                    % {"kept": kept, "ids": ids}
                )
            )
        elif failed:
            kind = EventKind.DUPLICATE_KEPT
            message = _in_english(
                lambda: (
                    _(
                        "DUPLICATE NOT REMOVED: KSC holds incidents %(ids)s for this one request; kept %(kept)s, "
                        "but could not delete %(failed)s (%(errors)s). Delete them in KSC by hand, or KES may "
                        "carry out this response twice."
                    )
                    % {
                        "ids": ids,
                        "kept": kept,
                        "failed": ", ".join(str(incident_id) for incident_id in failed),
                        "errors": "; ".join(failed.values()),
                    }
                )
            )
            if removed:
                message += " " + _in_english(
                    lambda: _("Removed: %(removed)s.") % {"removed": ", ".join(map(str, removed))}
                )
        elif removed:
            kind = EventKind.DUPLICATE_REMOVED
            message = _in_english(
                lambda: (
                    _(
                        "KSC held incidents %(ids)s for this one request (a slow KSC carried out an earlier "
                        "AddIncident late); kept %(kept)s, deleted the duplicate %(removed)s with DeleteIncident."
                    )
                    % {"ids": ids, "kept": kept, "removed": ", ".join(map(str, removed))}
                )
            )
        else:
            kind = EventKind.DUPLICATE_CHECK
            message = _in_english(
                lambda: (
                    _("Looked in KSC again after the settle period: only incident %(kept)s holds this request.")
                    % {"kept": kept}
                )
            )
        _event(request, kind, SYSTEM, request.status, message, detail)
    if kind == EventKind.DUPLICATE_KEPT:
        log.error("request %s: %s", key, message)
    elif removed:
        log.warning("request %s: %s", key, message)


def hold(key: uuid_module.UUID | str, reason: str) -> None:
    """A QUEUED request waits (the hourly cap on submissions is reached); its trail says so once."""
    with transaction.atomic():
        request = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.QUEUED).first()
        if request is None:
            return
        if not is_held(key):
            _event(request, EventKind.HELD, SYSTEM, request.status, reason)


def is_held(key: uuid_module.UUID | str) -> bool:
    """Whether the request's latest event is a hold by the hourly cap."""
    latest = RequestEvent.objects.filter(request__uuid=key).order_by("-seq").values_list("kind", flat=True).first()
    return latest == EventKind.HELD


def submissions_last_hour(now: dt.datetime | None = None) -> int:
    """Requests submitted to KSC in the last hour, plus those being submitted now."""
    since = (now or timezone.now()) - dt.timedelta(hours=1)
    return ResponseRequest.objects.filter(
        models.Q(submitted_at__gte=since) | models.Q(status=Status.SUBMITTING)
    ).count()


def host_task_load(host_ids, now: dt.datetime | None = None) -> dict[str, int]:
    """Per host: response tasks KES may still hold for it (in flight, or submitted within HOST_TASKS_WINDOW).

    KES keeps at most 100 response tasks; the portal cannot see when KES finishes
    one, so a task counts for HOST_TASKS_WINDOW seconds after its submission.
    """
    since = (now or timezone.now()) - dt.timedelta(seconds=settings.HOST_TASKS_WINDOW)
    rows = (
        ResponseRequest.objects.filter(target_host__in=list(host_ids))
        .filter(
            models.Q(status__in=[Status.APPROVED, Status.QUEUED, Status.SUBMITTING]) | models.Q(submitted_at__gte=since)
        )
        .values("target_host")
        .annotate(count=models.Count("id"))
    )
    return {row["target_host"]: row["count"] for row in rows}
