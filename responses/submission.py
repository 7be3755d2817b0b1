"""The submission's own transitions: what responses.jobs.submit_to_ksc and the sweeps record.

Claiming a request for one attempt, keeping the KSC incident id the moment it is
known, success, failure (with a retry to follow or not), attempts a dead worker
left open, and what happens after an outcome was unknown: the request found in
KSC later, the search given up, the late duplicate check. Each status change
goes through workflow.transition(); the trail's text comes from responses.trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid as uuid_module
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from responses import trail, trail_messages, workflow
from responses.clock import database_now
from responses.models import AttemptOutcome, EventKind, ResponseRequest, Status, SubmissionAttempt

log = logging.getLogger(__name__)

# How far back KLINCDT_ADDED may go for a request whose identical twins took the seconds since.
ADDED_LOOKBACK = dt.timedelta(hours=1)


def add_settle_seconds() -> float:
    """KSC_ADD_SETTLE: how long an outcome-unknown AddIncident may still be carried out by KSC."""
    return float(settings.KSC_ADD_SETTLE)


class WaitReason:
    """Why a QUEUED request waits for its next try (ResponseRequest.wait_reason)."""

    SETTLE = "settle"  # an earlier AddIncident may still be carried out by KSC
    BACKOFF = "backoff"  # KSC was unreachable or busy
    UPDATE = "update"  # the incident exists; the UpdateIncident that makes KSC act on it is pending
    TLS = "tls"  # KSC's certificate was refused: held until it verifies again
    # A campaign's batch job will claim it (campaigns/batch.py); queued alone when that job is lost.
    BATCH = "batch"


def update_retry_seconds() -> int:
    """After the tries ran out with the incident made: the reconciler's pace (RECONCILE_INTERVAL)."""
    return int(settings.RECONCILE_INTERVAL)


def longest_wait(reason: str) -> float:
    """The longest a request may wait for this reason by its settings: a longer wait is a clock step."""
    if reason == WaitReason.SETTLE:
        return add_settle_seconds()
    if reason == WaitReason.BACKOFF:
        return float(settings.KSC_SUBMIT_BACKOFF * 2 ** max(settings.KSC_SUBMIT_TRIES - 2, 0))
    if reason == WaitReason.BATCH:
        return float(settings.CAMPAIGN_BATCH_GRACE)
    return float(update_retry_seconds())


def longest_wait_of_all() -> float:
    reasons = (WaitReason.SETTLE, WaitReason.BACKOFF, WaitReason.UPDATE, WaitReason.BATCH)
    return max(longest_wait(reason) for reason in reasons)


def incident_second(rr: ResponseRequest, now: dt.datetime) -> dt.datetime:
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
    since = max(rr.approved_at or rr.created_at or now, now - ADDED_LOOKBACK)
    earliest = since.replace(microsecond=0)
    if earliest < since:
        earliest += dt.timedelta(seconds=1)  # never before the approval itself
    taken = set(
        ResponseRequest.objects.filter(fingerprint=rr.fingerprint, ksc_added__gte=earliest)
        .exclude(pk=rr.pk)
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
    host or parameters are not what was approved, and NotApproved when its approvals
    do not hold up (workflow.fail_if_unproven).

    Also fixes KLINCDT_ADDED before the first attempt, unique per (task, host, params):
    a later attempt recognises the incident an earlier one may have left in KSC by
    host, time and body, so two identical requests must never share a time.
    """
    now = database_now()
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if rr is None or (rr.status, workflow.CLAIM) not in workflow.TRANSITIONS:
            return None
        rr.next_try_at, rr.wait_reason = None, ""
        if workflow.fail_if_content_changed(rr, trail.SYSTEM):
            attempt, refusal = None, workflow.ContentChanged(workflow.CONTENT_CHANGED_MESSAGE())
        elif workflow.fail_if_unproven(rr, trail.SYSTEM):
            # The approvals are proven again under the row lock, at every claim (a retry's too).
            attempt, refusal = None, workflow.NotApproved(workflow.NOT_APPROVED_MESSAGE())
        else:
            if rr.ksc_added is None:
                rr.ksc_added = incident_second(rr, now)
            rr.attempts += 1
            interrupted = close_interrupted_attempts(rr, now)
            attempt = SubmissionAttempt(request=rr, number=rr.attempts, started_at=now)
            detail: dict[str, Any] = {"attempt": attempt.number}
            if interrupted:
                detail["interrupted_attempts"] = interrupted
            # (fingerprint, ksc_added) is unique: a racing twin makes this fail and the job run again.
            workflow.transition(
                rr,
                workflow.CLAIM,
                actor=trail.SYSTEM,
                detail=detail,
                save=("ksc_added", "attempts", "ksc_unknown_since", "next_try_at", "wait_reason"),
            )
            attempt.save()
    if attempt is None:
        # Raised after the transaction committed, so that FAILED and its event are kept.
        raise refusal
    return rr, attempt


def close_interrupted_attempts(rr: ResponseRequest, now: dt.datetime) -> list[int]:
    """End every attempt whose outcome was never recorded (the database or its worker failed first).

    Such an attempt may have sent AddIncident: without an incident id the request's
    outcome is unknown from now on, so the next attempt lets KSC settle before adding.
    The caller holds the request's row lock and saves ``ksc_unknown_since``.
    """
    open_attempts = list(rr.submission_attempts.filter(finished_at__isnull=True).order_by("number"))
    for attempt in open_attempts:
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.INTERRUPTED
        attempt.error_message = attempt.error_message or trail_messages.say(
            gettext_noop(
                "This attempt ended without its outcome being recorded (the worker or the database failed); "
                "KSC may have created the incident."
            ),
        )
        attempt.save(update_fields=["finished_at", "outcome", "error_message"])
    if open_attempts and rr.ksc_incident_id is None:
        rr.ksc_unknown_since = now
    return [attempt.number for attempt in open_attempts]


def record_incident(key: uuid_module.UUID | str, incident_id: int, *, adopted: bool = False) -> None:
    """Keep the KSC incident id the moment we know it, in its own transaction."""
    with transaction.atomic():
        updated = ResponseRequest.objects.filter(
            uuid=key, status=Status.SUBMITTING, ksc_incident_id__isnull=True
        ).update(ksc_incident_id=incident_id, updated_at=timezone.now())
        if updated != 1:
            raise workflow.WrongStatus(f"request {key} is not submitting without an incident id")
        if adopted:
            rr = ResponseRequest.objects.get(uuid=key)
            trail.append(
                rr,
                EventKind.ADOPTED,
                trail.SYSTEM,
                rr.status,
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
    now = database_now()
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.SUBMITTING).first()
        if rr is None:
            raise workflow.WrongStatus(f"request {key} was not submitting")
        rr.submitted_at = rr.finished_at = now
        rr.last_error = ""
        rr.next_try_at, rr.wait_reason = None, ""
        if rr.ksc_unknown_since is not None:
            # KSC may carry out that AddIncident at any later time: look again and again (settle, 2x,
            # 4x, ...) until KSC_UNKNOWN_OUTCOME_SEARCH has passed since it (check_late_duplicates).
            rr.ksc_recheck_at = now + dt.timedelta(seconds=add_settle_seconds())
            rr.ksc_search_from = rr.ksc_unknown_since
            rr.ksc_search_checks = 0
            rr.ksc_unknown_since = None
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.ADOPTED if adopted else AttemptOutcome.SUBMITTED
        attempt.ksc_incident_id = incident_id
        workflow.transition(
            rr,
            workflow.SUCCEED,
            actor=trail.SYSTEM,
            message=_("KSC incident %(id)s created; KSC now creates the response task.") % {"id": incident_id},
            detail={
                "incident_id": incident_id,
                "attempt": attempt.number,
                "duplicate_check_at": rr.ksc_recheck_at.isoformat() if rr.ksc_recheck_at else None,
            },
            save=(
                "submitted_at",
                "finished_at",
                "last_error",
                "ksc_recheck_at",
                "ksc_unknown_since",
                "ksc_search_from",
                "ksc_search_checks",
                "next_try_at",
                "wait_reason",
            ),
        )
        attempt.save(update_fields=["finished_at", "outcome", "ksc_incident_id"])


def submission_failed(
    key: uuid_module.UUID | str,
    attempt: SubmissionAttempt,
    message: str,
    *,
    will_retry: bool,
    code: int | None = None,
    retry_in: int | None = None,
    outcome_unknown: bool = False,
    wait_until: dt.datetime | None = None,
    reason: str = "",
) -> bool:
    """SUBMITTING → QUEUED (a retry follows) or FAILED, keeping KSC's code and message.

    ``outcome_unknown``: this attempt sent AddIncident and never learnt whether KSC
    carried it out. The next attempt then waits KSC_ADD_SETTLE before adding; a
    request that FAILED while any attempt's outcome is unknown says that KSC may
    have created the incident, and the reconciler keeps looking for it.

    A request whose incident id is kept is never FAILED: KSC holds its incident, and
    filing it again would make a second one. It goes back to QUEUED with its
    UpdateIncident pending, tried again every update_retry_seconds().

    A retry's time is kept in ``next_try_at`` (by the database's clock) with its
    reason: ``wait_until`` and ``reason`` when given, else ``retry_in`` seconds from
    now; never before KSC_ADD_SETTLE has passed since an outcome-unknown failure.
    Returns whether a retry follows.
    """
    now = database_now()
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key, status=Status.SUBMITTING).first()
        if outcome_unknown and rr is not None and rr.ksc_incident_id is None:
            rr.ksc_unknown_since = now
        update_pending = rr is not None and rr.ksc_incident_id is not None and not will_retry
        if update_pending:
            will_retry = True
            wait_until, reason = now + dt.timedelta(seconds=update_retry_seconds()), WaitReason.UPDATE
            incident_id = rr.ksc_incident_id
            error = message
            message = trail_messages.say(
                gettext_noop(
                    "KSC incident %(id)s was created, but making KSC act on it (UpdateIncident) failed: "
                    "%(error)s. Update pending: the portal tries again; do not file this request again."
                ),
                id=incident_id,
                error=error,
            )
        unknown = rr is not None and rr.ksc_incident_id is None and rr.ksc_unknown_since is not None
        if unknown and not will_retry:
            message = trail_messages.say(gettext_noop("%(error)s — KSC may have created this incident; the portal keeps checking."), error=message)
        if will_retry and rr is not None:
            if wait_until is None:
                wait_until, reason = now + dt.timedelta(seconds=retry_in or 0), reason or WaitReason.BACKOFF
            if unknown:
                settled = rr.ksc_unknown_since + dt.timedelta(seconds=add_settle_seconds())
                if settled > wait_until:
                    wait_until, reason = settled, WaitReason.SETTLE
            rr.next_try_at, rr.wait_reason = wait_until, reason
        attempt.finished_at = now
        attempt.outcome = AttemptOutcome.RETRYING if will_retry else AttemptOutcome.FAILED
        attempt.error_code = code
        attempt.error_message = message
        attempt.save(update_fields=["finished_at", "outcome", "error_code", "error_message"])
        if rr is None:
            return will_retry
        rr.last_error = message
        if not will_retry:
            rr.finished_at = now
        detail = {"attempt": attempt.number, "error_code": code, "outcome_unknown": unknown}
        if will_retry:
            detail["retry_in_seconds"] = retry_in
            detail["next_try_at"] = rr.next_try_at.isoformat()
            detail["wait_reason"] = rr.wait_reason
        if update_pending:
            detail["incident_id"] = rr.ksc_incident_id
            detail["update_pending"] = True
        workflow.transition(
            rr,
            workflow.SCHEDULE_RETRY if will_retry else workflow.FAIL,
            actor=trail.SYSTEM,
            message=message,
            detail=detail,
            save=("last_error", "finished_at", "ksc_unknown_since", "next_try_at", "wait_reason"),
        )
    return will_retry


def not_due_until(key: uuid_module.UUID | str) -> dt.datetime | None:
    """When a QUEUED request's next try is not due yet (by the database's clock): when it is; else None.

    A wait longer than its reason's setting allows (the clock stepped back since it
    was set) is cut to that length, so that no request stalls for the size of a step.
    """
    row = (
        ResponseRequest.objects.filter(uuid=key, status=Status.QUEUED, next_try_at__isnull=False)
        .values_list("next_try_at", "wait_reason")
        .first()
    )
    if row is None:
        return None
    at, reason = row
    if reason == WaitReason.TLS:
        return at  # held until KSC's certificate verifies again (the keeper looks)
    now = database_now()
    latest = now + dt.timedelta(seconds=longest_wait(reason))
    if at > latest:
        ResponseRequest.objects.filter(uuid=key, next_try_at=at).update(next_try_at=latest)
        log.warning("request %s: its next try was due %s, beyond %s: the clock stepped; cut to %s", key, at, reason, latest)
        at = latest
    return at if at > now else None


def hold_for_certificate(key: uuid_module.UUID | str, attempt: SubmissionAttempt, message: str) -> None:
    """KSC's certificate was refused before anything was sent: QUEUED, held until it verifies again.

    Like the hourly cap, the request waits rather than failing: nothing reached KSC,
    and a certificate renewed on KSC (or KSC_CERT updated) lets it go on by itself.
    """
    held = trail_messages.say(
        gettext_noop(
            "Held back: KSC's TLS certificate was not accepted (%(error)s); nothing was sent. The request goes "
            "on by itself once the certificate verifies again; an administrator must check KSC_CERT."
        ),
        error=message,
    )
    submission_failed(
        key,
        attempt,
        held,
        will_retry=True,
        wait_until=database_now() + dt.timedelta(seconds=update_retry_seconds()),
        reason=WaitReason.TLS,
    )


# --- After the outcome was unknown: finding the incident later, removing late copies ----------


def found_in_ksc(key: uuid_module.UUID | str, incident_id: int) -> bool:
    """A request that FAILED with an unknown outcome turns out to be in KSC: send it on to adopt it.

    FAILED → APPROVED (and queued after commit, like an approver's retry): the job
    finds the incident again, adopts it and marks it unhandled, so KSC creates the
    response task. False when the request is no longer such a failure.
    """
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if rr is None or not rr.ksc_outcome_unknown:
            return False
        message = trail_messages.say(gettext_noop("KSC holds incident %(id)s for this request after all; sending it on to adopt it."), id=incident_id)
        workflow.send_again(rr, workflow.FOUND_IN_KSC, trail.SYSTEM, message, {"incident_id": incident_id})
    return True


def stop_searching(key: uuid_module.UUID | str, hours: float) -> bool:
    """The search window of a FAILED request with an unknown outcome has passed without a find."""
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().filter(uuid=key).first()
        if rr is None or not rr.ksc_outcome_unknown:
            return False
        rr.ksc_unknown_since = None
        rr.save(update_fields=["ksc_unknown_since", "updated_at"])
        trail.append(
            rr,
            EventKind.SEARCH_ENDED,
            trail.SYSTEM,
            rr.status,
            (
                trail_messages.say(
                    gettext_noop(
                        "KSC showed no incident for this request within %(hours)s hours after it failed; "
                        "the portal stopped looking. An approver can retry it."
                    ),
                    hours=int(hours),
                )
                # Whole hours as hours, anything else in whole minutes: never "0.0333333 hours".
                if float(hours).is_integer()
                else trail_messages.say(
                    gettext_noop(
                        "KSC showed no incident for this request within %(minutes)s minutes after it failed; "
                        "the portal stopped looking. An approver can retry it."
                    ),
                    minutes=max(1, round(hours * 60)),
                )
            ),
        )
    return True


def next_duplicate_check(
    search_from: dt.datetime | None, checks: int, now: dt.datetime
) -> dt.datetime | None:
    """When to look for late copies again after ``checks`` looks: settle × 2^checks from now, never
    past KSC_UNKNOWN_OUTCOME_SEARCH after the outcome-unknown attempt (one last look then); None after it."""
    if search_from is None:
        return None
    end = search_from + dt.timedelta(seconds=settings.KSC_UNKNOWN_OUTCOME_SEARCH)
    if now >= end:
        return None
    step = add_settle_seconds() * 2 ** min(checks, 30)
    return min(now + dt.timedelta(seconds=step), end)


def schedule_next_duplicate_check(rr: ResponseRequest, now: dt.datetime | None = None) -> dt.datetime | None:
    """One more late duplicate check done: count it and set the next (or end the search). Row locked by the caller."""
    rr.ksc_search_checks += 1
    at = next_duplicate_check(rr.ksc_search_from, rr.ksc_search_checks, now or database_now())
    if at is None:
        rr.ksc_search_from = None
    ResponseRequest.objects.filter(pk=rr.pk).update(
        ksc_search_checks=rr.ksc_search_checks, ksc_search_from=rr.ksc_search_from, ksc_recheck_at=at
    )
    rr.ksc_recheck_at = at
    return at


def check_late_copies_now(keys) -> int:
    """The outcome sweep saw a [Response] task for an incident no request keeps: look now, not at the next step."""
    return ResponseRequest.objects.filter(
        uuid__in=list(keys), ksc_search_from__isnull=False, ksc_incident_id__isnull=False
    ).update(ksc_recheck_at=database_now())


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
    key: uuid_module.UUID | str,
    *,
    found: list[int],
    kept: int,
    removed: list[int],
    failed: dict[int, str],
    now: dt.datetime | None = None,
) -> None:
    """The late duplicate check's outcome in the trail: every id KSC held, what was removed, what was not."""
    detail = {"found": found, "kept": kept, "removed": removed, "not_removed": {str(k): v for k, v in failed.items()}}
    with transaction.atomic():
        rr = ResponseRequest.objects.select_for_update().get(uuid=key)
        next_check = schedule_next_duplicate_check(rr, now)
        detail["check"] = rr.ksc_search_checks
        detail["next_check_at"] = next_check.isoformat() if next_check else None
        ids = ", ".join(str(incident_id) for incident_id in found) or "none"
        if kept not in found:
            kind = EventKind.DUPLICATE_KEPT
            message = trail_messages.say(
                gettext_noop(
                    "Looked in KSC again: it does not show the recorded incident %(kept)s, but holds %(ids)s "
                    "for this request. Nothing was removed; check the incidents in KSC by hand."
                ),
                kept=kept,
                ids=ids,
            )
        elif failed:
            kind = EventKind.DUPLICATE_KEPT
            message = trail_messages.say(
                gettext_noop(
                    "DUPLICATE NOT REMOVED: KSC holds incidents %(ids)s for this one request; kept %(kept)s, "
                    "but could not delete %(failed)s (%(errors)s). Delete them in KSC by hand, or KES may "
                    "carry out this response twice."
                ),
                ids=ids,
                kept=kept,
                failed=", ".join(str(incident_id) for incident_id in failed),
                errors="; ".join(failed.values()),
            )
            if removed:
                message = trail_messages.joined(
                    message,
                    trail_messages.say(gettext_noop("Removed: %(removed)s."), removed=", ".join(map(str, removed)))
                )
        elif removed:
            kind = EventKind.DUPLICATE_REMOVED
            message = trail_messages.say(
                gettext_noop(
                    "KSC held incidents %(ids)s for this one request (a slow KSC carried out an earlier "
                    "AddIncident late); kept %(kept)s, deleted the duplicate %(removed)s with DeleteIncident."
                ),
                ids=ids,
                kept=kept,
                removed=", ".join(map(str, removed)),
            )
        else:
            kind = EventKind.DUPLICATE_CHECK
            message = trail_messages.say(gettext_noop("Looked in KSC again after the settle period: only incident %(kept)s holds this request."), kept=kept)
        trail.append(rr, kind, trail.SYSTEM, rr.status, message, detail)
    if kind == EventKind.DUPLICATE_KEPT:
        log.error("request %s: %s", key, message)
    elif removed:
        log.warning("request %s: %s", key, message)

