"""Filing a response request, the decisions on it, and every status change it makes.

The life of a request (docs/architecture.md), in code. Filing is checked in responses.filing;
``create_request`` here only creates the row it validated. ``TRANSITIONS`` lists every allowed
(from-status, action) → to-status; ``transition()`` performs one under the
caller's row lock and writes its event in the same transaction. Nothing else
changes ``ResponseRequest.status``: the submission's own moves
(responses.submission) and queueing (responses.queueing) call it too.

Who may do what is responses.policy's: every transition asks ``policy.may``.
"""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
import uuid as uuid_module
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from auditlog.context import set_actor
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from responses import approvals, catalog, host_directory, policy, trail, trail_messages
from responses.clock import database_now
from responses.errors import (  # noqa: F401 (re-exported: workflow.NotAllowed and friends)
    ContentChanged,
    InvalidRequest,
    NotAllowed,
    NotApproved,
    RateLimited,
    WorkflowError,
    WrongStatus,
)
from responses.models import (
    Decision,
    DecisionKind,
    EventKind,
    RequestEvent,
    ResponseRequest,
    Status,
)
from responses.policy import (  # noqa: F401 (re-exported: the action names)
    ACTIONS,
    APPROVE,
    CANCEL,
    FILE,
    REJECT,
    RETRY,
    VIEW,
    Verdict,
    may,
)
from responses.states import (  # noqa: F401 (re-exported: workflow.TRANSITIONS and the action names)
    CLAIM,
    EXPIRE,
    FAIL,
    FOUND_IN_KSC,
    PRIMARY_SERVER,
    QUEUE,
    REFUSE_CHANGED,
    REFUSE_PROTECTED,
    REFUSE_UNPROVEN,
    RELEASE_DUE,
    REQUEUE,
    SCHEDULE_RETRY,
    STAND_DOWN,
    SUCCEED,
    TRANSITIONS,
    WITHDRAW,
)

if TYPE_CHECKING:
    from responses.filing import CleanRequest

log = logging.getLogger(__name__)

SYSTEM = trail.SYSTEM  # actor of transitions made by jobs
MAX_JUSTIFICATION = 4000
MAX_COMMENT = 4000
MAX_EXTERNAL_REF = 255

# --- Filing (responses.filing checks; this only creates the row) ----------------------------


def clean_text(
    field: str, value: Any, *, required: bool, max_length: int, multiline: bool, identifier: bool = False
) -> str:
    """A text as stored: no control characters (tabs and line breaks where ``multiline``), stripped, bounded."""
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


def create_request(user, clean: CleanRequest, *, now: dt.datetime) -> ResponseRequest:
    """The row of a request responses.filing.file_request validated, and its first events; nothing is checked here.

    In the caller's transaction, under the requester's row lock: pending approval, or approved at
    once when its task needs none. ``clean.host_unchecked`` (why KSC could not be asked about the
    host) is kept in the FILED event and shown to approvers.
    """
    required = clean.approvals_required
    request = ResponseRequest.objects.create(
        task=clean.task,
        server=clean.server,
        target_host=clean.target_host,
        target_host_name=clean.target_host_name,
        params=clean.params,
        justification=clean.justification,
        external_ref=clean.external_ref,
        archive_names=clean.archive_names,
        isolation_end=clean.isolation_end,
        fingerprint=clean.fingerprint,
        requester=user,
        requester_username=user.get_username(),
        source=clean.source,
        status=Status.PENDING_APPROVAL if required else Status.APPROVED,
        approvals_required=required,
        expires_at=approvals.window_end(database_now(), required),
    )
    # The auditors' host search finds requests through the directory: the name filed is one of the host's.
    host_directory.record_filed(clean.target_host, request.target_host_name, clean.server)
    trail.append(
        request,
        EventKind.FILED,
        user.get_username(),
        "",
        request.justification,
        {
            "task": request.task,
            "server": clean.server,  # always here, "primary" too: what the filing named
            "target_host": clean.target_host,
            "approvals_required": required,
            "source": clean.source,
            # the reference, beside the requester (the actor) and justification (the message):
            # verify_audit compares them with the row, whose columns PostgreSQL keeps frozen (0020)
            "external_ref": request.external_ref,
            # ties what was filed into the keyed audit chain: verify_audit compares it with the row
            "fingerprint": request.fingerprint,
            **({"isolation_end": clean.isolation_end} if clean.isolation_end else {}),
            **({"host_unchecked": clean.host_unchecked} if clean.host_unchecked else {}),
            # a protected host acted on under the override (responses/protected.py): the rule, and why
            **({"protected_override": clean.protected_override} if clean.protected_override else {}),
        },
    )
    if not required:
        request.approved_at = request.decided_at = now
        request.save(update_fields=["approved_at", "decided_at", "updated_at"])
        trail.append(
            request,
            EventKind.APPROVED,
            SYSTEM,
            "",
            trail_messages.say(gettext_noop("This task needs no approval.")),
        )
        entered_approved.send(sender=ResponseRequest, rr=request)
    return request


def default_server(user) -> str | None:
    """The server a request goes to when the caller names none: ``primary`` when the user works on it,
    else the user's only server; None when they work on several (or none) and must choose."""
    mine = policy.acting_servers(user)
    if PRIMARY_SERVER in mine:
        return PRIMARY_SERVER
    return mine[0] if len(mine) == 1 else None


def clean_server(user, value: Any) -> str:
    """The server name a filing named (or the user's default); ValueError with the words for the ``server`` field."""
    mine = policy.acting_servers(user)
    if value is None or value == "":
        chosen = default_server(user)
        if chosen is None:
            if not mine:
                raise ValueError(_("You work on no KSC server; ask an administrator to give you one (scope_user)."))
            raise ValueError(
                _("Name the KSC server that holds the host: one of %(servers)s.") % {"servers": ", ".join(mine)}
            )
        return chosen
    if not isinstance(value, str) or value not in mine:
        # Another tenant's server reads like one that does not exist: its name is not confirmed.
        shown = value if isinstance(value, str) else repr(value)
        message = _("No KSC server named %(name)s among yours (%(servers)s).") % {
            "name": shown[:40],
            "servers": ", ".join(mine) or _("none"),
        }
        raise ValueError(message)
    return value


# --- The transitions ------------------------------------------------------------------------

# The actions beyond the users' and TRANSITIONS, the table of every status change, are in
# responses.states (verify_audit checks each request's trail against them).

# The trail event each action writes.
EVENT_OF: dict[str, str] = {
    APPROVE: EventKind.APPROVED,
    REJECT: EventKind.REJECTED,
    CANCEL: EventKind.CANCELLED,
    EXPIRE: EventKind.EXPIRED,
    QUEUE: EventKind.QUEUED,
    REQUEUE: EventKind.REQUEUED,
    CLAIM: EventKind.CLAIMED,
    SUCCEED: EventKind.SUBMITTED,
    SCHEDULE_RETRY: EventKind.RETRY_SCHEDULED,
    FAIL: EventKind.FAILED,
    REFUSE_CHANGED: EventKind.FAILED,
    REFUSE_UNPROVEN: EventKind.FAILED,
    REFUSE_PROTECTED: EventKind.FAILED,
    RETRY: EventKind.RETRIED,
    FOUND_IN_KSC: EventKind.FOUND_IN_KSC,
    WITHDRAW: EventKind.CANCELLED,
    # An isolation's paired release (responses/isolation.py): approved at its end on the approval given.
    RELEASE_DUE: EventKind.APPROVED,
    STAND_DOWN: EventKind.STOOD_DOWN,
}

# Sent, inside the transaction, when a request becomes APPROVED; responses.queueing queues
# its submission once the transaction commits (so this module needs nothing of the queue).
entered_approved = Signal()


def transition(
    rr: ResponseRequest,
    action: str,
    *,
    actor: str,
    message: str = "",
    detail: dict | None = None,
    save: tuple[str, ...] = (),
) -> RequestEvent:
    """Perform one transition of ``rr`` and write its event, in the caller's transaction.

    The caller holds the row lock (select_for_update) and has set the other
    fields the transition changes (named in ``save``). Raises WrongStatus when
    TRANSITIONS has no such move from the request's status.
    """
    before = rr.status
    after = TRANSITIONS.get((before, action))
    if after is None:
        raise WrongStatus(f"request {rr.uuid}: no transition {action!r} from {before!r}")
    rr.status = after
    rr.save(update_fields=["status", *save, "updated_at"])
    event = trail.append(rr, EVENT_OF[action], actor, before, message, detail)
    if after == Status.APPROVED:
        entered_approved.send(sender=ResponseRequest, rr=rr)
    return event


# --- Decisions ------------------------------------------------------------------------------


def _locked(rr: ResponseRequest | uuid_module.UUID | str) -> ResponseRequest:
    key = rr.uuid if isinstance(rr, ResponseRequest) else rr
    return ResponseRequest.objects.select_for_update().get(uuid=key)


def _expire_if_overdue(rr: ResponseRequest | uuid_module.UUID | str) -> bool:
    """Expire a pending request whose approval window has passed; True if it did (or was already)."""
    with transaction.atomic():
        locked = _locked(rr)
        if locked.status == Status.EXPIRED:
            return True
        if locked.status != Status.PENDING_APPROVAL or not approvals.is_overdue(locked, database_now()):
            return False
        _expire_locked(locked)
        return True


def _expire_locked(rr: ResponseRequest) -> None:
    with set_actor(None):
        _close(
            rr,
            EXPIRE,
            SYSTEM,
            (
                trail_messages.say(
                    gettext_noop("Nobody decided within the approval window (%(hours)s hours)."),
                    hours=settings.APPROVAL_TTL // 3600,
                )
                # Whole hours as hours, anything else in whole minutes: never "0.0333333 hours".
                if settings.APPROVAL_TTL % 3600 == 0
                else trail_messages.say(
                    gettext_noop("Nobody decided within the approval window (%(minutes)s minutes)."),
                    minutes=max(1, round(settings.APPROVAL_TTL / 60)),
                )
            ),
        )


def _close(rr: ResponseRequest, action: str, actor: str, message: str, detail: dict | None = None) -> None:
    """A locked pending request ends (rejected, cancelled, expired): status, decision time, event."""
    rr.decided_at = timezone.now()
    transition(rr, action, actor=actor, message=message, detail=detail, save=("decided_at",))


def _decide(
    rr: ResponseRequest | uuid_module.UUID | str,
    user,
    action: str,
    comment: Any,
    body: Callable[[ResponseRequest, str], None],
) -> ResponseRequest:
    try:
        comment = clean_text("comment", comment, required=action == REJECT, max_length=MAX_COMMENT, multiline=True)
    except ValueError as exc:
        raise InvalidRequest({"comment": [str(exc)]}) from None
    # Expiry is committed on its own: the refusal below must not roll it back.
    _expire_if_overdue(rr)
    try:
        with transaction.atomic(), set_actor(user):
            locked = _locked(rr)
            may(user, action, locked).enforce()
            body(locked, comment)
    except IntegrityError:
        # The unique (request, approver) constraint: a double click that raced past the check.
        raise WrongStatus(_("You have already decided on this request.")) from None
    locked.refresh_from_db()
    return locked


def approve(rr: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """Add this approver's approval; the request is APPROVED once it has the required number."""

    def body(locked: ResponseRequest, text: str) -> None:
        if locked.fingerprint != locked.content_fingerprint():
            # The row changed after filing (by hand, in the database): never approve what was not filed.
            raise NotAllowed(_("This request's content changed after it was filed; it cannot be approved."))
        Decision.objects.create(
            request=locked,
            approver=user,
            approver_username=user.get_username(),
            decision=DecisionKind.APPROVE,
            comment=text,
            fingerprint=locked.fingerprint,
        )
        decisions = list(locked.approvals.all())
        approvers = approvals.approving_people(locked, decisions)
        if approvals.is_approved_by(locked, decisions):
            locked.approved_at = locked.decided_at = timezone.now()
            transition(
                locked,
                APPROVE,
                actor=user.get_username(),
                message=text,
                detail={"approvers": sorted(approvers.values())},
                save=("approved_at", "decided_at"),
            )
        else:
            trail.append(
                locked,
                EventKind.APPROVAL_ADDED,
                user.get_username(),
                locked.status,
                text,
                {"approvals": len(approvers), "approvals_required": locked.approvals_required},
            )

    return _decide(rr, user, APPROVE, comment, body)


def reject(rr: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any, via: str = "") -> ResponseRequest:
    """One rejection rejects the request; the comment (why) is required.

    ``via``: where the rejection came from when not a page ("slack", "mattermost"), kept in the event.
    """

    def body(locked: ResponseRequest, text: str) -> None:
        Decision.objects.create(
            request=locked,
            approver=user,
            approver_username=user.get_username(),
            decision=DecisionKind.REJECT,
            comment=text,
            fingerprint=locked.fingerprint,
        )
        _close(locked, REJECT, user.get_username(), text, {"via": via} if via else None)

    return _decide(rr, user, REJECT, comment, body)


def cancel(rr: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """The requester withdraws a request that is still pending approval."""

    def body(locked: ResponseRequest, text: str) -> None:
        _close(locked, CANCEL, user.get_username(), text)

    return _decide(rr, user, CANCEL, comment, body)


def retry(rr: ResponseRequest | uuid_module.UUID | str, *, user, comment: Any = "") -> ResponseRequest:
    """An approver sends a FAILED request to KSC again.

    It passes through APPROVED (not straight to QUEUED) so
    that, when Redis is down, the reconciler finds it like any approved request.
    The next attempt first looks for an incident the failed ones may have left
    in KSC, so a retry never creates a second incident.
    """

    changed = unproven = False

    def body(locked: ResponseRequest, text: str) -> None:
        nonlocal changed, unproven
        if fail_if_content_changed(locked, user.get_username()):
            changed = True
            return
        if fail_if_unproven(locked, user.get_username()):
            unproven = True
            return
        send_again(locked, RETRY, user.get_username(), text)

    retried = _decide(rr, user, RETRY, comment, body)
    if changed:
        # Raised after the transaction committed, so that the FAILED event stays in the trail.
        raise ContentChanged(CONTENT_CHANGED_MESSAGE())
    if unproven:
        raise NotApproved(NOT_APPROVED_MESSAGE())
    return retried


def send_again(rr: ResponseRequest, action: str, actor: str, message: str, detail: dict | None = None) -> None:
    """FAILED → APPROVED and queued after commit; the next attempt looks in KSC before adding."""
    rr.last_error = ""
    rr.finished_at = None
    transition(rr, action, actor=actor, message=message, detail=detail, save=("last_error", "finished_at"))


def expire_overdue(now: dt.datetime | None = None) -> int:
    """Expire every pending request past its approval window (the periodic sweep). Returns the count."""
    now = now or database_now()  # never this machine's clock: a step forward would expire every approval
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

    Reading writes nothing (a GET never changes a request): a pending request past its approval
    window stays pending until the keeper's reconciler expires it (``expire_overdue``); until then
    ``rr.overdue`` is True, by the database's clock (read in the same query), and the pages say
    "overdue". Deciding it is refused and expires it, as the decisions check under the row lock.
    """
    rr = ResponseRequest.objects.visible_to(user).annotate(database_now=Now()).get(uuid=key)
    rr.overdue = rr.status == Status.PENDING_APPROVAL and approvals.is_overdue(rr, rr.database_now)
    return rr


# --- Content changed after approval (checked by a retry and by every claim) ---------------


def CONTENT_CHANGED_MESSAGE() -> str:  # noqa: N802 - a message, read like a constant
    return trail_messages.say(
        gettext_noop(
            "The task, host or parameters of this request changed after it was approved; it was not sent to "
            "KSC. File a new request for what should be done, and have the database changes investigated."
        ),
    )


def approved_fingerprints(rr: ResponseRequest) -> set[str]:
    """Every fingerprint this request was filed or approved with (the row's own, each approval's, the trail's)."""
    approved = {rr.fingerprint}
    approved.update(rr.approvals.filter(decision=DecisionKind.APPROVE).values_list("fingerprint", flat=True))
    filed = rr.events.filter(kind=EventKind.FILED).values_list("detail", flat=True).first()
    if isinstance(filed, dict) and filed.get("fingerprint"):
        approved.add(filed["fingerprint"])
    return approved


def fail_if_content_changed(rr: ResponseRequest, actor: str) -> bool:
    """FAILED, with an event, when the locked row is not what was approved; True if so.

    A row edited in the database (an UPDATE of target_host or params, or of the
    fingerprint too) must never reach KSC: the approvals and the FILED event keep
    the fingerprint that was decided on, and neither can be rewritten silently.
    """
    current = rr.content_fingerprint()
    approved = approved_fingerprints(rr)
    if approved == {current}:
        return False
    _refuse_submission(
        rr,
        REFUSE_CHANGED,
        actor,
        CONTENT_CHANGED_MESSAGE(),
        {"content_changed": True, "approved_fingerprints": sorted(approved), "current_fingerprint": current},
    )
    log.error("request %s: content changed after approval; refused to submit", rr.uuid)
    return True


def refuse_protected(key: uuid_module.UUID | str, rule: str) -> bool:
    """FAILED before anything is sent: the host became protected since filing (responses/protected.py) and the
    request was not filed under the override. Only before a first attempt (one that may have reached KSC
    finishes); True when refused."""
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if (
            rr is None
            or (rr.status, REFUSE_PROTECTED) not in TRANSITIONS
            or rr.attempts
            or rr.ksc_incident_id is not None
        ):
            return False
        message = trail_messages.say(
            gettext_noop(
                "Not sent to KSC: the host is protected now (%(rule)s) and the request was not filed under the "
                "protected-host override. File it again with the override if it must be done."
            ),
            rule=rule,
        )
        _refuse_submission(rr, REFUSE_PROTECTED, SYSTEM, message, {"protected_at_submission": rule})
    log.warning("request %s: its host is protected now (%s); refused to submit", key, rule)
    return True


def _refuse_submission(rr: ResponseRequest, action: str, actor: str, message: str, detail: dict) -> None:
    """FAILED before anything is sent (content changed, approvals unproven), the reason on the row and in the trail."""
    rr.last_error = message
    rr.finished_at = timezone.now()
    transition(rr, action, actor=actor, message=message, detail=detail, save=("last_error", "finished_at"))


# --- Approvals proven again (by every claim and by a retry) ----------------------------------


def NOT_APPROVED_MESSAGE() -> str:  # noqa: N802 - a message, read like a constant
    return trail_messages.say(
        gettext_noop(
            "This request's approvals do not hold up (the database says more than its trail and decisions "
            "prove); it was not sent to KSC. File a new request, and have the database changes investigated."
        ),
    )


def fail_if_unproven(rr: ResponseRequest, actor: str) -> bool:
    """FAILED, with an event, when the locked request's approvals do not prove it approved; True if so.

    The status column alone proves nothing: whoever can UPDATE the table (the portal's own
    database role) could set it to APPROVED. So before anything is sent, the decisions are
    counted again (responses.approvals.proof_problems) against what the keyed trail says:
    the number of approvals it was filed with and its ``approved`` event.
    """
    events = list(
        rr.events.filter(kind__in=(EventKind.FILED, EventKind.APPROVED)).values_list("kind", "actor_username", "detail")
    )
    filed = next(((actor, detail) for kind, actor, detail in events if kind == EventKind.FILED), None)
    required = filed[1].get("approvals_required") if filed and isinstance(filed[1], dict) else None
    problems = approvals.proof_problems(
        rr,
        rr.approvals.all(),
        required_when_filed=required if isinstance(required, int) and not isinstance(required, bool) else None,
        approved_in_trail=any(kind == EventKind.APPROVED for kind, _actor, _detail in events),
        filed_by=filed[0] if filed else None,
    )
    if not problems:
        return False
    _refuse_submission(rr, REFUSE_UNPROVEN, actor, NOT_APPROVED_MESSAGE(), {"approvals_unproven": problems})
    log.error("request %s: approvals do not hold up (%s); refused to submit", rr.uuid, "; ".join(problems))
    return True
