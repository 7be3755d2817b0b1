"""Isolate until: an isolation's end, approved with it, and the paired release the keeper submits then.

The life of an isolation (issue 28; README "Using the portal", docs/architecture.md):

- **Filing**: an isolation (isolateHost, action 1) carries an end: hours (presets 1, 4, 8, 24, 72),
  a date and time (typed in the filer's time zone, stored in UTC), or "until released" with a
  reason (``clean_end``). The end is in the request's fingerprint: approvers approve it.
  One isolation change (isolate, release, iocScan with isolateHost) is in flight per host:
  filing another over one still on its way is refused (``isolation_change_in_flight``).
- **Approval**: the last approval creates the paired release request (isolateHost, action 0) in
  SCHEDULED, for the same server and host, fingerprinted, with its own keyed chain, linked both
  ways (the ``Isolation`` row), its decisions those of the isolation's approvers: approving the
  isolation with its end approved its release.
- **Effect**: the end counts from when the isolation's ``[Response]`` task completed, or from
  its submission when the outcome is not followed (no task appeared, the task vanished); a
  failed isolation makes its release stand down, with an event.
- **The keeper's duty** (``run_due_releases``): ISOLATION_END_WARNING before the end the requester
  and the approvers are told (Extend, Release now, Hold); at the end it re-checks that (a) no newer
  isolation change of the host exists, (b) KSC still knows the host, (c) nobody held it, then moves
  the release SCHEDULED → APPROVED on the approval already given, and the ordinary submission
  (exactly once) takes it to KSC. The schedule lives in the database: Redis flushes, restarts and
  killed workers lose nothing; a release that was due while the portal was down goes at the next
  beat, and its trail says how late.
- **Extend** (a new end, approved like the isolation; the release moves only once approved),
  **Release now** (the release goes out now on its approval), **Hold** (an approver keeps the host
  isolated past the end, with a reason: "until released"). Who may: responses.policy.
- **iocScan with isolateHost**: KES isolates when an IOC is found and may end it by its own policy
  (5 hours by default on KES for Linux): recorded as such, never released by the portal.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid as uuid_module
import zoneinfo
from dataclasses import dataclass
from typing import Any

from auditlog.context import set_actor
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F, Q
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from ksc_client.errors import KscError
from responses import approvals, hosts, ksc_servers, policy, trail, workflow
from responses.clock import database_now
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.models import (
    ISOLATION_OPEN,
    Decision,
    DecisionKind,
    EventKind,
    ExtensionDecision,
    ExtensionStatus,
    Isolation,
    IsolationExtension,
    IsolationKind,
    IsolationState,
    OutcomeState,
    ResponseRequest,
    Source,
    Status,
    payload_fingerprint,
)
from responses.states import RELEASE_DUE, STAND_DOWN
from worker import duties

log = logging.getLogger(__name__)

PRESET_HOURS = (1, 4, 8, 24, 72)
MAX_REASON = 2000
RELEASE_PARAMS = {"action": 0}
# The statuses of a request still on its way (an isolation change "in flight" until its outcome is final).
_ON_ITS_WAY = (Status.PENDING_APPROVAL, Status.APPROVED, Status.QUEUED, Status.SUBMITTING)
# Outcomes after which a submitted change is settled on the host (or never will be known better).
_SETTLED = (OutcomeState.COMPLETED, OutcomeState.WARNING, OutcomeState.FAILED, OutcomeState.NO_TASK, OutcomeState.GONE)
# The API's and the form's field names of an end.
END_FIELDS = ("isolate_until", "isolate_hours", "until_released_reason", "time_zone")
_MISSING = object()


# --- What an isolation change is ---------------------------------------------------------------


def is_isolation(task: Any, params: Any) -> bool:
    """isolateHost with action 1: the requests that carry an end."""
    return task == "isolateHost" and isinstance(params, dict) and params.get("action") in (1, "1") and not isinstance(
        params.get("action"), bool
    )


def is_ioc_isolation(task: Any, params: Any) -> bool:
    """iocScan with isolateHost: KES isolates when an IOC is found, and ends it by its own policy."""
    return task == "iocScan" and isinstance(params, dict) and params.get("isolateHost") is True


def changes_isolation(task: Any, params: Any) -> bool:
    """isolateHost (either action), or iocScan with isolateHost: one such change in flight per host."""
    return task == "isolateHost" or is_ioc_isolation(task, params)


def _isolation_changes() -> Q:
    return Q(task="isolateHost") | Q(task="iocScan", params__isolateHost=True)


def isolation_change_in_flight(host_id: str, server: str | None = None, exclude=None) -> ResponseRequest | None:
    """The host's isolation change still on its way, or None.

    An isolate, a release or an iocScan with isolateHost that is pending approval, approved,
    queued, submitting, or submitted with its outcome on the host not final yet. A scheduled
    release waiting for its end is not in flight (it waits; a newer change makes it stand down).
    ``server``: the KSC server's name (host ids are unique per server); None: any server.
    ``exclude``: a request (or its id) not to count.
    """
    found = ResponseRequest.objects.filter(_isolation_changes(), target_host=host_id).filter(
        Q(status__in=_ON_ITS_WAY)
        | Q(status=Status.SUBMITTED) & (Q(outcome__isnull=True) | Q(outcome__state__in=_not_settled(), outcome__closed_at__isnull=True))
    )
    if server is not None:
        found = found.filter(server=server)
    if exclude is not None:
        found = found.exclude(pk=getattr(exclude, "pk", exclude))
    return found.order_by("created_at", "id").first()


def _not_settled() -> list[str]:
    return [state for state in OutcomeState.values if state not in _SETTLED]


def in_flight_message(found: ResponseRequest) -> str:
    return _(
        "Another isolation change of this host is still on its way: %(task)s, %(status)s (request %(url)s). "
        "One isolation change at a time per host: wait for its outcome on the host, or cancel it."
    ) % {"task": found.describe(), "status": found.get_status_display().lower(), "url": f"/requests/{found.uuid}/"}


def lock_host(host_id: str, server: str = "") -> None:
    """Serialise filings of isolation changes for one host until the transaction ends (PostgreSQL).

    Two analysts isolating the same host at the same moment would both find nothing in flight;
    a transaction-scoped advisory lock on the host id makes the second wait for the first.
    SQLite writes one transaction at a time anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"isolation:{server}:{host_id}"])


def refuse_if_in_flight(task: str, params: Any, host_id: str, server: str | None = None) -> None:
    """InvalidRequest (target_host) when this is an isolation change and another is in flight on the host."""
    if not changes_isolation(task, params):
        return
    lock_host(host_id, server or "")
    found = isolation_change_in_flight(host_id, server)
    if found is not None:
        raise InvalidRequest({"target_host": [in_flight_message(found)], "in_flight": [str(found.uuid)]})


# --- The end: parsing, checking, showing --------------------------------------------------------


def zone(name: str | None) -> dt.tzinfo:
    """A time zone by its IANA name ('' or None: the portal's TIME_ZONE); ValueError when unknown."""
    if not name:
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(_("Unknown time zone %(zone)r: use a name such as Asia/Tokyo or Europe/Berlin.") % {"zone": name}) from None


def _limits() -> tuple[dt.timedelta, dt.timedelta]:
    return dt.timedelta(minutes=settings.ISOLATION_MIN_MINUTES), dt.timedelta(hours=settings.ISOLATION_MAX_HOURS)


def _too_short() -> str:
    return _("An isolation lasts at least %(minutes)d minutes (ISOLATION_MIN_MINUTES).") % {
        "minutes": settings.ISOLATION_MIN_MINUTES
    }


def _too_long() -> str:
    return _(
        "An isolation ends at most %(hours)d hours after it starts (ISOLATION_MAX_HOURS); for longer, choose "
        "'until released' and say why."
    ) % {"hours": settings.ISOLATION_MAX_HOURS}


def clean_hours(value: Any) -> float:
    """A number of hours between ISOLATION_MIN_MINUTES and ISOLATION_MAX_HOURS (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(_("isolate_hours must be a number of hours, e.g. 4."))
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(_("isolate_hours must be a number of hours, e.g. 4.")) from None
    if hours != hours or hours in (float("inf"), float("-inf")):
        raise ValueError(_("isolate_hours must be a number of hours, e.g. 4."))
    shortest, longest = _limits()
    if dt.timedelta(hours=hours) < shortest:
        raise ValueError(_too_short())
    if dt.timedelta(hours=hours) > longest:
        raise ValueError(_too_long())
    return int(hours) if hours == int(hours) else hours


def parse_until(value: Any) -> dt.datetime:
    """An ISO 8601 date and time WITH its offset (e.g. 2026-12-08T09:00:00+09:00 or ...Z), as an aware datetime."""
    if not isinstance(value, str):
        raise ValueError(_("isolate_until must be an ISO 8601 date and time with its offset, e.g. 2026-12-08T09:00+09:00."))
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError(
            _("isolate_until must be an ISO 8601 date and time with its offset, e.g. 2026-12-08T09:00+09:00.")
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(
            _("isolate_until has no offset: add the time zone's offset (e.g. +09:00, or Z for UTC), so it is not guessed.")
        )
    return parsed


def check_until(until: dt.datetime, now: dt.datetime) -> None:
    shortest, longest = _limits()
    if until <= now:
        raise ValueError(_("The end of the isolation is in the past."))
    if until - now < shortest:
        raise ValueError(_too_short())
    if until - now > longest:
        raise ValueError(_too_long())


def local_until(text: Any, zone_name: Any) -> dt.datetime:
    """The web form's date and time (no offset), in the user's time zone, as an aware datetime."""
    tz = zone(zone_name if isinstance(zone_name, str) else "")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(_("Give the date and time the isolation ends."))
    try:
        naive = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(_("Give the date and time as YYYY-MM-DD HH:MM.")) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=tz)


def clean_end(task: Any, params: Any, data: dict[str, Any], *, now: dt.datetime | None = None) -> tuple[dict | None, dict]:
    """(the end to store, field errors) of a filing: ``data`` holds what the caller sent of END_FIELDS.

    An isolation without any end field gets ISOLATION_DEFAULT_HOURS. ``isolate_until`` present
    and null means "until released", which needs ``until_released_reason``. Any end on a request
    that is not an isolation is refused, so that nobody believes an end was set.
    """
    given = {key: data[key] for key in END_FIELDS if key in data and data[key] is not _MISSING}
    meaningful = {k: v for k, v in given.items() if not (k in ("until_released_reason", "time_zone") and v in ("", None))}
    if not is_isolation(task, params):
        if meaningful and not (set(meaningful) == {"time_zone"}):
            return None, {
                key: [_("Only an isolation (isolateHost, action 1) has an end.")]
                for key in meaningful
                if key != "time_zone"
            }
        return None, {}
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    tz_name = given.get("time_zone") or ""
    if tz_name:
        try:
            zone(tz_name)
        except ValueError as exc:
            errors["time_zone"] = [str(exc)]
    if "isolate_until" in given and "isolate_hours" in given and given["isolate_hours"] not in (None, ""):
        errors["isolate_hours"] = [_("Give isolate_until or isolate_hours, not both.")]
        return None, errors
    if "isolate_until" in given and given["isolate_until"] is None:
        reason = given.get("until_released_reason")
        try:
            reason = workflow.clean_text(
                "until_released_reason", reason, required=True, max_length=MAX_REASON, multiline=True
            )
        except ValueError as exc:
            errors["until_released_reason"] = [str(exc)]
            return None, errors
        return ({"until_released": reason} if not errors else None), errors
    if given.get("until_released_reason"):
        errors["until_released_reason"] = [_("A reason goes with 'until released' (isolate_until: null) only.")]
    if "isolate_until" in given:
        try:
            until = parse_until(given["isolate_until"])
            check_until(until, now)
        except ValueError as exc:
            errors["isolate_until"] = [str(exc)]
            return None, errors
        if errors:
            return None, errors
        offset = until.strftime("%z")
        return {
            "until": until.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
            "tz": tz_name or f"{offset[:3]}:{offset[3:]}",
        }, {}
    hours = given.get("isolate_hours")
    if hours in (None, ""):
        hours = settings.ISOLATION_DEFAULT_HOURS
    try:
        hours = clean_hours(hours)
    except ValueError as exc:
        errors["isolate_hours"] = [str(exc)]
    return (None if errors else {"hours": hours}), errors


def _tz_of(name: str) -> dt.tzinfo:
    if name and name[0] in "+-":
        sign = 1 if name[0] == "+" else -1
        hours, _sep, minutes = name[1:].partition(":")
        return dt.timezone(sign * dt.timedelta(hours=int(hours or 0), minutes=int(minutes or 0)))
    try:
        return zone(name)
    except ValueError:
        return dt.UTC


@dataclass(frozen=True)
class EndWords:
    """An end as pages say it: in the filer's zone and in UTC."""

    kind: str  # hours, until, until_released
    hours: float | None = None
    until_utc: dt.datetime | None = None
    until_local: dt.datetime | None = None
    zone: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return describe_end_spec(self)


def end_words(end: dict | None) -> EndWords | None:
    if not end:
        return None
    if "until_released" in end:
        return EndWords("until_released", reason=str(end["until_released"]))
    if "until" in end:
        utc = dt.datetime.fromisoformat(end["until"])
        name = str(end.get("tz") or "UTC")
        return EndWords("until", until_utc=utc, until_local=utc.astimezone(_tz_of(name)), zone=name)
    return EndWords("hours", hours=end.get("hours"))


def both_zones(moment: dt.datetime | None, zone_name: str = "") -> str:
    """'2026-12-08 09:00 Asia/Tokyo (00:00 UTC)', or the UTC time alone when the zone is UTC."""
    if moment is None:
        return ""
    utc = moment.astimezone(dt.UTC)
    if not zone_name or zone_name in ("UTC", "+00:00"):
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    local = moment.astimezone(_tz_of(zone_name))
    return f"{local:%Y-%m-%d %H:%M} {zone_name} ({utc:%Y-%m-%d %H:%M} UTC)"


def describe_end_spec(words: EndWords) -> str:
    if words.kind == "until_released":
        return _("until released (%(reason)s)") % {"reason": words.reason}
    if words.kind == "until":
        return _("until %(when)s") % {"when": both_zones(words.until_utc, words.zone)}
    hours = words.hours
    return _("for %(hours)s hours after it takes effect") % {"hours": f"{hours:g}" if hours is not None else "?"}


def describe_end(end: dict | None) -> str:
    words = end_words(end)
    return str(words) if words is not None else ""


def end_for_api(end: dict | None) -> dict[str, Any]:
    """The end as the API answers it: isolate_hours, isolate_until (UTC, offset), until_released_reason."""
    words = end_words(end)
    if words is None:
        return {}
    if words.kind == "until_released":
        return {"isolate_until": None, "until_released_reason": words.reason}
    if words.kind == "until":
        return {"isolate_until": words.until_utc.isoformat(), "time_zone": words.zone}
    return {"isolate_hours": words.hours}


def planned_end(end: dict | None, since: dt.datetime) -> dt.datetime | None:
    """When an isolation that took effect at ``since`` ends by its approved end (None: until released)."""
    words = end_words(end)
    if words is None or words.kind == "until_released":
        return None
    if words.kind == "until":
        return words.until_utc
    return since + dt.timedelta(hours=float(words.hours))


# --- Approval: the paired release -------------------------------------------------------------


def release_target(isolation: ResponseRequest) -> dict[str, Any]:
    """What the paired release acts on: the isolation's own server and host (one place, so a new column is one line)."""
    target = {"target_host": isolation.target_host, "target_host_name": isolation.target_host_name}
    target["server"] = isolation.server  # host ids are unique per KSC server
    return target


def _release_justification(isolation: ResponseRequest) -> str:
    text = trail.in_english(
        lambda: _("Scheduled end of the isolation %(uuid)s, approved with it. Its justification: %(why)s")
        % {"uuid": isolation.uuid, "why": isolation.justification}
    )
    return text[: workflow.MAX_JUSTIFICATION]


@receiver(workflow.entered_approved, dispatch_uid="responses.isolation.pair_release")
def _on_approved(sender, rr: ResponseRequest, **kwargs) -> None:
    """An isolation just approved gets its Isolation row and paired release, in the same transaction."""
    if Isolation.objects.filter(request=rr).exists():
        return  # a retry or an adoption re-enters APPROVED: the pair exists
    if is_isolation(rr.task, rr.params) and rr.isolation_end:
        pair_release(rr)
    elif is_ioc_isolation(rr.task, rr.params):
        Isolation.objects.create(
            request=rr, kind=IsolationKind.IOC_SCAN, host_id=rr.target_host, host_name=rr.target_host_name
        )


def pair_release(isolation: ResponseRequest) -> Isolation:
    """Create the isolation's schedule and its release request (SCHEDULED), linked both ways (caller's transaction)."""
    target = release_target(isolation)
    end = isolation.isolation_end
    words = end_words(end)
    release = ResponseRequest.objects.create(
        task="isolateHost",
        params=dict(RELEASE_PARAMS),
        justification=_release_justification(isolation),
        external_ref=isolation.external_ref,
        fingerprint=payload_fingerprint("isolateHost", target["target_host"], RELEASE_PARAMS),
        requester=isolation.requester,
        requester_username=isolation.requester_username,
        source=isolation.source if isolation.source in Source.values else Source.WEB,
        status=Status.SCHEDULED,
        approvals_required=isolation.approvals_required,
        **target,
    )
    row = Isolation.objects.create(
        request=isolation,
        release=release,
        host_id=isolation.target_host,
        host_name=isolation.target_host_name,
        until_released=words.kind == "until_released",
        until_released_reason=words.reason,
        # An end given as a date and time is known now; one in hours counts from when it takes effect.
        release_at=words.until_utc if words.kind == "until" else None,
    )
    decisions = list(isolation.approvals.filter(decision=DecisionKind.APPROVE))
    people = approvals.approving_people(isolation, decisions)
    for decision in decisions:
        if decision.approver_id in people:
            Decision.objects.create(
                request=release,
                approver_id=decision.approver_id,
                approver_username=decision.approver_username,
                decision=DecisionKind.APPROVE,
                comment=trail.in_english(
                    lambda: _("Approved with the isolation %(uuid)s and its end.") % {"uuid": isolation.uuid}
                ),
                fingerprint=release.fingerprint,
            )
    trail.append(
        release,
        EventKind.FILED,
        release.requester_username,
        "",
        release.justification,
        {
            "task": release.task,
            "target_host": release.target_host,
            "approvals_required": release.approvals_required,
            "source": release.source,
            "external_ref": release.external_ref,
            "fingerprint": release.fingerprint,
            "isolation": str(isolation.uuid),
            "end": end,
            "approvers": sorted(people.values()),
        },
    )
    trail.append(
        isolation,
        EventKind.RELEASE_SCHEDULED,
        trail.SYSTEM,
        isolation.status,
        trail.in_english(lambda: _("Its release is scheduled: %(end)s.") % {"end": describe_end(end)}),
        {"release": str(release.uuid), "end": end, "release_at": _iso(row.release_at)},
    )
    return row


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- The keeper's duty ---------------------------------------------------------------------------


@duties.every_beat("isolation-schedule")
def run_due_releases(now: dt.datetime | None = None) -> dict[str, int]:
    """One pass of the isolation schedule: effects, supersessions, warnings, due releases. Counts of each.

    A duty of the workers' keeper (worker/duties.py), once per RECONCILE_INTERVAL across the cluster:
    a release goes out within that interval of its end. ``now``: the database's clock unless a test
    injects one. Safe to run in several keepers at once:
    each row is taken with select_for_update(skip_locked) and each release moves by a conditional
    transition, so two passes never release twice.
    """
    now = now or database_now()
    counts = {"started": 0, "stood_down": 0, "warned": 0, "released": 0, "finished": 0}
    for pk in list(Isolation.objects.filter(state=IsolationState.AWAITING).values_list("pk", flat=True)):
        moved = _follow_effect(pk, now)
        if moved:
            counts[moved] += 1
    for pk in list(Isolation.objects.filter(state__in=ISOLATION_OPEN).values_list("pk", flat=True)):
        if _stand_down_if_superseded(pk):
            counts["stood_down"] += 1
    warning = dt.timedelta(seconds=settings.ISOLATION_END_WARNING)
    if warning:
        due_warnings = Isolation.objects.filter(
            state=IsolationState.ACTIVE, until_released=False, release_at__gt=now, release_at__lte=now + warning
        ).exclude(warned_for=F("release_at"))
        for pk in list(due_warnings.values_list("pk", flat=True)):
            counts["warned"] += _warn(pk, now)
    due = Isolation.objects.filter(state=IsolationState.ACTIVE, until_released=False, release_at__lte=now)
    for pk in list(due.order_by("release_at").values_list("pk", flat=True)):
        counts["released"] += _release_if_due(pk, now)
    for row in Isolation.objects.filter(state=IsolationState.RELEASING).select_related("release"):
        if row.release is not None and row.release.status in (Status.SUBMITTED, Status.CANCELLED):
            if Isolation.objects.filter(pk=row.pk, state=IsolationState.RELEASING).update(
                state=IsolationState.RELEASED, ended_at=row.release.submitted_at or now
            ):
                counts["finished"] += 1
    return counts


def _follow_effect(pk: int, now: dt.datetime) -> str | None:
    """AWAITING → ACTIVE (the isolation took effect: its end starts counting), or FAILED; what happened, if anything."""
    with transaction.atomic():
        row = (
            Isolation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("request", "release")
            .filter(pk=pk, state=IsolationState.AWAITING)
            .first()
        )
        if row is None:
            return None
        rr = row.request
        if rr.status != Status.SUBMITTED:
            return None
        outcome = getattr(rr, "outcome", None) if _has_outcome(rr) else None
        state = outcome.state if outcome is not None else OutcomeState.WAITING
        if row.kind == IsolationKind.IOC_SCAN:
            row.since = rr.submitted_at
            row.state = IsolationState.ACTIVE
            row.save(update_fields=["since", "state"])
            return "started"
        if state == OutcomeState.FAILED:
            row.state = IsolationState.FAILED
            row.ended_at = now
            row.save(update_fields=["state", "ended_at"])
            _stand_down(
                row,
                trail.in_english(
                    lambda: _("The isolation failed on the host (%(reason)s): its scheduled release stands down.")
                    % {"reason": outcome.reason or _("no reason given by KSC")}
                ),
                {"reason": "isolation_failed"},
            )
            return "stood_down"
        if state in (OutcomeState.COMPLETED, OutcomeState.WARNING):
            since, counted_from = outcome.since, "task_completed"
        elif state in (OutcomeState.NO_TASK, OutcomeState.GONE) or (outcome is not None and outcome.closed_at):
            since, counted_from = rr.submitted_at, "submitted"
        else:
            return None  # still on its way to the host: the end does not count yet
        row.since = since
        row.state = IsolationState.ACTIVE
        if not row.until_released:
            row.release_at = planned_end(rr.isolation_end, since) if row.release_at is None else row.release_at
        row.save(update_fields=["since", "state", "release_at"])
        detail = {"since": _iso(since), "counted_from": counted_from, "release_at": _iso(row.release_at)}
        message = trail.in_english(
            lambda: _("The isolation took effect at %(since)s; it ends %(end)s.")
            % {
                "since": both_zones(since),
                "end": _("when released") if row.release_at is None else both_zones(row.release_at),
            }
        )
        for chain in (rr, row.release):
            if chain is not None:
                trail.append(chain, EventKind.RELEASE_MOVED, trail.SYSTEM, chain.status, message, detail)
        return "started"


def _has_outcome(rr: ResponseRequest) -> bool:
    from responses.models import ResponseOutcome

    try:
        rr.outcome  # noqa: B018
    except ResponseOutcome.DoesNotExist:
        return False
    return True


def newer_changes(row: Isolation) -> Any:
    """Isolation changes of the host filed after this isolation (its own release aside), still meaning something."""
    rr = row.request
    return (
        ResponseRequest.objects.filter(
            _isolation_changes(), target_host=row.host_id, server=rr.server, created_at__gt=rr.created_at
        )
        .exclude(pk=rr.pk)
        .exclude(pk=row.release_id)
        .exclude(status__in=(Status.REJECTED, Status.CANCELLED, Status.EXPIRED, Status.SCHEDULED))
    )


def _stand_down_if_superseded(pk: int) -> bool:
    """A newer isolation change reached KSC: this isolation's scheduled release stands down (True)."""
    row = Isolation.objects.filter(pk=pk).select_related("request").first()
    if row is None:
        return False
    newer = newer_changes(row).filter(status=Status.SUBMITTED).order_by("created_at").first()
    if newer is None:
        return False
    with transaction.atomic():
        row = Isolation.objects.select_for_update(skip_locked=True).filter(pk=pk, state__in=ISOLATION_OPEN).first()
        if row is None:
            return False
        row.state = IsolationState.SUPERSEDED
        row.ended_at = timezone.now()
        row.save(update_fields=["state", "ended_at"])
        _stand_down(
            row,
            trail.in_english(
                lambda: _("A newer isolation change of this host (%(uuid)s) reached KSC: this release stands down.")
                % {"uuid": newer.uuid}
            ),
            {"reason": "superseded", "by": str(newer.uuid)},
        )
    return True


def _stand_down(row: Isolation, message: str, detail: dict) -> None:
    """The scheduled release (if still scheduled) → CANCELLED, with the reason on both chains (caller's transaction)."""
    if row.release_id is None:
        return
    release = ResponseRequest.objects.select_for_update().get(pk=row.release_id)
    if release.status != Status.SCHEDULED:
        return
    release.decided_at = timezone.now()
    with set_actor(None):
        workflow.transition(release, STAND_DOWN, actor=trail.SYSTEM, message=message, detail=detail, save=("decided_at",))
    trail.append(
        row.request, EventKind.STOOD_DOWN, trail.SYSTEM, row.request.status, message, {**detail, "release": str(release.uuid)}
    )


def _warn(pk: int, now: dt.datetime) -> int:
    """The requester and approvers are told the end is near (an event the notifications route); 1 if told."""
    with transaction.atomic():
        row = (
            Isolation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("request")
            .filter(pk=pk, state=IsolationState.ACTIVE, until_released=False)
            .first()
        )
        if row is None or row.release_at is None or row.warned_for == row.release_at or row.release_at <= now:
            return 0
        row.warned_for = row.release_at
        row.save(update_fields=["warned_for"])
        minutes = max(int((row.release_at - now).total_seconds() // 60), 0)
        trail.append(
            row.request,
            EventKind.ISOLATION_ENDING,
            trail.SYSTEM,
            row.request.status,
            trail.in_english(
                lambda: _("The isolation ends at %(end)s, in %(minutes)d minutes: extend it, release it now or hold it.")
                % {"end": both_zones(row.release_at), "minutes": minutes}
            ),
            {"release_at": _iso(row.release_at), "minutes_left": minutes},
        )
    return 1


class HostCheck:
    """Whether KSC still knows the host: True, False, or None when KSC could not be asked."""

    @staticmethod
    def exists(host_id: str, server: str) -> bool | None:
        try:
            host = hosts.lookup(host_id, server=server)  # the one door for host questions
        except (ImproperlyConfigured, ksc_servers.UnknownServer, KscError) as exc:
            log.warning("isolation schedule: KSC could not be asked about host %r on %r: %s", host_id, server, exc)
            return None
        return host is not None


def _release_if_due(pk: int, now: dt.datetime) -> int:
    """The re-checks, then SCHEDULED → APPROVED on the approval already given; 1 when released."""
    row = Isolation.objects.filter(pk=pk).select_related("request", "release").first()
    if row is None or row.release is None or row.release.status != Status.SCHEDULED:
        return 0
    newer = newer_changes(row)
    if newer.filter(status__in=_ON_ITS_WAY).exists():
        return 0  # (a) a newer change is on its way: wait; if it reaches KSC this release stands down
    known = HostCheck.exists(row.host_id, row.request.server)  # (b) outside the transaction: no row lock held over a KSC call
    if known is None:
        return 0  # KSC not reachable: due still; the next beat tries again, and the trail will say how late
    with transaction.atomic():
        row = (
            Isolation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("request")
            .filter(pk=pk, state=IsolationState.ACTIVE, until_released=False, release_at__lte=now)  # (c) not held
            .first()
        )
        if row is None:
            return 0
        if not known:
            row.state = IsolationState.SUPERSEDED
            row.ended_at = now
            row.save(update_fields=["state", "ended_at"])
            _stand_down(
                row,
                trail.in_english(lambda: _("KSC no longer knows this host: the scheduled release stands down.")),
                {"reason": "host_gone"},
            )
            return 0
        _send_release(row, now, actor=trail.SYSTEM, released_now=False)
    return 1


def _send_release(row: Isolation, now: dt.datetime, *, actor: str, released_now: bool, comment: str = "") -> None:
    """SCHEDULED → APPROVED (queued after commit by responses.queueing), the lateness in the trail (caller's transaction)."""
    release = ResponseRequest.objects.select_for_update().get(pk=row.release_id)
    if release.status != Status.SCHEDULED:
        raise WrongStatus(_("This isolation's release is no longer scheduled."))
    late = max(int((now - row.release_at).total_seconds()), 0) if row.release_at and not released_now else 0
    approvers = sorted(approvals.approving_people(release, release.approvals.all()).values())
    if released_now:
        message = trail.in_english(
            lambda: _("Released now by %(user)s, on the approval given with the isolation. %(comment)s")
            % {"user": actor, "comment": comment}
        ).strip()
    elif late > 2 * settings.RECONCILE_INTERVAL:
        message = trail.in_english(
            lambda: _(
                "The isolation's end came at %(end)s; the release goes out %(late)s late (the portal was not "
                "running, or could not reach KSC, at the time)."
            )
            % {"end": both_zones(row.release_at), "late": _duration(late)}
        )
    else:
        message = trail.in_english(
            lambda: _("The isolation's end came at %(end)s: the release goes out on the approval given with it.")
            % {"end": both_zones(row.release_at)}
        )
    release.approved_at = release.decided_at = timezone.now()
    detail = {
        "isolation": str(row.request.uuid),
        "scheduled_for": _iso(row.release_at),
        "late_seconds": late,
        "approvers": approvers,
        "released_now": released_now,
    }
    with set_actor(None):
        workflow.transition(release, RELEASE_DUE, actor=actor, message=message, detail=detail, save=("approved_at", "decided_at"))
    row.state = IsolationState.RELEASING
    row.save(update_fields=["state"])


def _duration(seconds: int) -> str:
    if seconds < 120:
        return _("%(n)d seconds") % {"n": seconds}
    if seconds < 7200:
        return _("%(n)d minutes") % {"n": seconds // 60}
    return _("%(n).1f hours") % {"n": seconds / 3600}


# --- Release now, Hold, Extend -------------------------------------------------------------------


def _locked_isolation(key: Any) -> Isolation:
    return Isolation.objects.select_for_update(of=("self",)).select_related("request", "release").get(pk=_pk(key))


def _pk(key: Any) -> int:
    return key.pk if isinstance(key, Isolation) else int(key)


def release_now(isolation: Isolation | int, *, user, comment: Any = "", token=None) -> Isolation:
    """The scheduled release goes out now: its approval is the one given with the isolation."""
    try:
        text = workflow.clean_text("comment", comment, required=False, max_length=workflow.MAX_COMMENT, multiline=True)
    except ValueError as exc:
        raise InvalidRequest({"comment": [str(exc)]}) from None
    with transaction.atomic(), set_actor(user):
        row = _locked_isolation(isolation)
        policy.may_change_isolation(user, policy.RELEASE_NOW, row, token=token).enforce()
        _send_release(row, database_now(), actor=user.get_username(), released_now=True, comment=text)
    row.refresh_from_db()
    return row


def hold(isolation: Isolation | int, *, user, reason: Any, token=None) -> Isolation:
    """An approver keeps the host isolated past its end: "until released", with the reason, audited on both chains."""
    try:
        text = workflow.clean_text("reason", reason, required=True, max_length=MAX_REASON, multiline=True)
    except ValueError as exc:
        raise InvalidRequest({"reason": [str(exc)]}) from None
    with transaction.atomic(), set_actor(user):
        row = _locked_isolation(isolation)
        policy.may_change_isolation(user, policy.HOLD, row, token=token).enforce()
        planned = row.release_at
        row.until_released = True
        row.until_released_reason = text
        row.held_by = user.get_username()
        row.held_at = timezone.now()
        row.save(update_fields=["until_released", "until_released_reason", "held_by", "held_at"])
        for pending in row.extensions.filter(status=ExtensionStatus.PENDING):
            pending.status, pending.decided_at = ExtensionStatus.CANCELLED, timezone.now()
            pending.save(update_fields=["status", "decided_at"])
        detail = {"planned_end": _iso(planned), "reason": text}
        for chain in (row.request, row.release):
            if chain is not None:
                trail.append(chain, EventKind.ISOLATION_HELD, user.get_username(), chain.status, text, detail)
    return row


def _new_end(row: Isolation, data: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime, str]:
    """The extension's new end: ``hours`` more after the current end, or ``until`` (ISO 8601 with offset)."""
    errors: dict[str, list[str]] = {}
    tz_name = data.get("time_zone") or ""
    try:
        if tz_name:
            zone(tz_name)
    except ValueError as exc:
        raise InvalidRequest({"time_zone": [str(exc)]}) from None
    until, hours = data.get("isolate_until"), data.get("isolate_hours")
    if until not in (None, "") and hours not in (None, ""):
        raise InvalidRequest({"isolate_hours": [_("Give isolate_until or isolate_hours, not both.")]})
    if until in (None, "") and hours in (None, ""):
        raise InvalidRequest({"isolate_hours": [_("Give the new end: isolate_hours (more hours) or isolate_until.")]})
    try:
        if until not in (None, ""):
            new = parse_until(until) if not data.get("local") else local_until(until, tz_name)
        else:
            new = (row.release_at or now) + dt.timedelta(hours=clean_hours(hours))
        if row.release_at is not None and new <= row.release_at:
            raise ValueError(_("The new end must be later than the current one (%(end)s).") % {"end": both_zones(row.release_at)})
        check_until(new, now)
    except ValueError as exc:
        errors["isolate_until" if until not in (None, "") else "isolate_hours"] = [str(exc)]
    if errors:
        raise InvalidRequest(errors)
    return new.astimezone(dt.UTC), tz_name


def extension_fingerprint(row: Isolation, release_at: dt.datetime) -> str:
    return payload_fingerprint("extend", row.host_id, {"isolation": str(row.request.uuid), "release_at": release_at.isoformat()})


def extend(isolation: Isolation | int, *, user, data: dict[str, Any], justification: Any, token=None) -> IsolationExtension:
    """Ask for a new end; approved like the isolation (its number of approvals), the release moves only then."""
    now = database_now()
    errors = {}
    try:
        why = workflow.clean_text("justification", justification, required=True, max_length=workflow.MAX_JUSTIFICATION, multiline=True)
    except ValueError as exc:
        errors["justification"] = [str(exc)]
    with transaction.atomic(), set_actor(user):
        row = _locked_isolation(isolation)
        policy.may_change_isolation(user, policy.EXTEND, row, token=token).enforce()
        try:
            new, tz_name = _new_end(row, data, now)
        except InvalidRequest as exc:
            errors.update(exc.errors)
        if errors:
            raise InvalidRequest(errors)
        required = row.request.approvals_required
        ext = IsolationExtension.objects.create(
            isolation=row,
            requester=user,
            requester_username=user.get_username(),
            release_at=new,
            time_zone=tz_name,
            justification=why,
            fingerprint=extension_fingerprint(row, new),
            approvals_required=required,
            expires_at=approvals.window_end(now, required),
        )
        trail.append(
            row.request,
            EventKind.EXTENSION_FILED,
            user.get_username(),
            row.request.status,
            why,
            {
                "extension": str(ext.uuid),
                "release_at": _iso(new),
                "current_end": _iso(row.release_at),
                "approvals_required": required,
                "fingerprint": ext.fingerprint,
            },
        )
        if not required:
            _apply_extension(row, ext, [], trail.SYSTEM)
    return ext


def decide_extension(extension: IsolationExtension | uuid_module.UUID | str, *, user, approve: bool, comment: Any = "", token=None) -> IsolationExtension:
    """An approver (not its asker) approves or rejects an extension; enough approvals move the release."""
    try:
        text = workflow.clean_text("comment", comment, required=not approve, max_length=workflow.MAX_COMMENT, multiline=True)
    except ValueError as exc:
        raise InvalidRequest({"comment": [str(exc)]}) from None
    key = extension.uuid if isinstance(extension, IsolationExtension) else extension
    with transaction.atomic(), set_actor(user):
        ext = IsolationExtension.objects.select_for_update().select_related("isolation").get(uuid=key)
        row = _locked_isolation(ext.isolation_id)
        ext.isolation = row
        if ext.status == ExtensionStatus.PENDING and approvals.is_overdue(ext, database_now()):
            ext.status, ext.decided_at = ExtensionStatus.EXPIRED, timezone.now()
            ext.save(update_fields=["status", "decided_at"])
        policy.may_decide_extension(user, ext, token=token).enforce()
        if ext.fingerprint != extension_fingerprint(row, ext.release_at):
            raise NotAllowed(_("This extension's content changed after it was asked for; it cannot be decided."))
        ExtensionDecision.objects.create(
            extension=ext,
            approver=user,
            approver_username=user.get_username(),
            decision=DecisionKind.APPROVE if approve else DecisionKind.REJECT,
            comment=text,
            fingerprint=ext.fingerprint,
        )
        decisions = list(ext.decisions.all())
        people = approvals.approving_people(ext, decisions)
        detail = {"extension": str(ext.uuid), "decision": "approve" if approve else "reject", "approvals": len(people),
                  "approvals_required": ext.approvals_required}
        trail.append(row.request, EventKind.EXTENSION_DECIDED, user.get_username(), row.request.status, text, detail)
        if not approve:
            ext.status, ext.decided_at = ExtensionStatus.REJECTED, timezone.now()
            ext.save(update_fields=["status", "decided_at"])
        elif approvals.is_approved_by(ext, decisions):
            _apply_extension(row, ext, sorted(people.values()), user.get_username())
    ext.refresh_from_db()
    return ext


def _apply_extension(row: Isolation, ext: IsolationExtension, approvers: list[str], actor: str) -> None:
    """The approved extension moves the release (both chains say so); the next warning is about the new end."""
    before = row.release_at
    ext.status, ext.decided_at = ExtensionStatus.APPROVED, timezone.now()
    ext.save(update_fields=["status", "decided_at"])
    row.release_at = ext.release_at
    row.save(update_fields=["release_at"])
    message = trail.in_english(
        lambda: _("The isolation's end moved from %(before)s to %(after)s (extension approved by %(who)s).")
        % {"before": both_zones(before) or "-", "after": both_zones(ext.release_at, ext.time_zone), "who": ", ".join(approvers) or "-"}
    )
    detail = {"extension": str(ext.uuid), "before": _iso(before), "release_at": _iso(ext.release_at), "approvers": approvers}
    for chain in (row.request, row.release):
        if chain is not None:
            trail.append(chain, EventKind.RELEASE_MOVED, actor, chain.status, message, detail)


# --- Reading: the request page, the host page, "Isolated now" -------------------------------------


@dataclass(frozen=True)
class IsolatedHost:
    """One isolated host as "Isolated now" shows it."""

    isolation: Isolation
    since: dt.datetime | None
    release_at: dt.datetime | None
    held: bool
    ends_by_kes: bool

    @property
    def seconds_left(self) -> int | None:
        if self.release_at is None:
            return None
        return int((self.release_at - timezone.now()).total_seconds())


# What the isolated hosts' table shows (templates/responses/_isolated_rows.html): "Isolated now" with
# hundreds of hosts reads these columns, not every column of each isolation and of its two requests.
TABLE_COLUMNS = (
    "kind",
    "host_id",
    "host_name",
    "since",
    "release_at",
    "until_released",
    "held_by",
    "request__uuid",
    "request__server",
    "request__requester_username",
)


def isolated_now(
    user, *, host_id: str | None = None, server: str | None = None, table_only: bool = False
) -> list[IsolatedHost]:
    """Every host isolated by the portal's records that ``user`` may see, soonest end first (held and KES last).

    ``table_only``: the rows carry TABLE_COLUMNS only (the page's table); anything else read from
    them costs a query per row.
    """
    rows = Isolation.objects.filter(state=IsolationState.ACTIVE).filter(
        request__in=ResponseRequest.objects.visible_to(user)
    )
    rows = (
        rows.select_related("request").only(*TABLE_COLUMNS) if table_only else rows.select_related("request", "release")
    )
    if host_id is not None:
        rows = rows.filter(host_id=host_id)
    if server is not None:
        rows = rows.filter(request__server=server)
    found = [
        IsolatedHost(
            isolation=row,
            since=row.since,
            release_at=None if row.until_released else row.release_at,
            held=bool(row.held_by),
            ends_by_kes=row.kind == IsolationKind.IOC_SCAN,
        )
        for row in rows
    ]
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    found.sort(key=lambda item: (item.release_at or far, item.isolation.host_name, item.isolation.pk))
    return found


def isolation_of(rr: ResponseRequest) -> Isolation | None:
    """The isolation schedule this request is (the isolation) or ends (the release), if any."""
    row = Isolation.objects.filter(Q(request=rr) | Q(release=rr)).select_related("request", "release").first()
    return row


def pending_extension(row: Isolation) -> IsolationExtension | None:
    return row.extensions.filter(status=ExtensionStatus.PENDING).order_by("created_at").first()


def schedule_of(rr: ResponseRequest) -> Isolation | None:
    """The Isolation row of an isolation or of its paired release, from the relations loaded with the row when they were."""
    for name in ("isolation", "released_isolation"):
        try:
            row = getattr(rr, name)
        except Isolation.DoesNotExist:
            continue
        if row is not None:
            return row
    return None


# --- The request page's isolation part ---------------------------------------------------------


def page_context(user, rr: ResponseRequest) -> dict[str, Any]:
    """The request page's isolation part (responses/views/requests.py): the end as approved, the schedule now,
    what this user may do."""
    context: dict[str, Any] = {"isolation_end_words": describe_end(rr.isolation_end)}
    if is_ioc_isolation(rr.task, rr.params):
        context["ioc_isolation"] = True  # KES may end it by its own policy (5 h by default on KES for Linux)
    row = isolation_of(rr)
    if row is None:
        return context
    pending = pending_extension(row)
    context.update(
        {
            "schedule": row,
            "schedule_is_release": row.release_id == rr.pk,
            "schedule_actions": policy.isolation_actions(user, row),
            "schedule_left": _left(row),
            "release_at_words": both_zones(row.release_at, (row.request.isolation_end or {}).get("tz", ""))
            if row.release_at
            else "",
            "pending_extension": pending,
            "pending_extension_words": both_zones(pending.release_at, pending.time_zone) if pending else "",
            "may_decide_extension": bool(pending and policy.may_decide_extension(user, pending)),
            "extensions": list(row.extensions.order_by("created_at")),
            "presets": PRESET_HOURS,
            "ends_by_kes": row.kind == IsolationKind.IOC_SCAN,
        }
    )
    return context


def _left(row) -> int | None:
    """Minutes until the planned end (None: until released, or not known yet)."""
    if row.until_released or row.release_at is None:
        return None
    return max(int((row.release_at - timezone.now()).total_seconds() // 60), 0)
