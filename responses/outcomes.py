"""What happened on the endpoint: following KSC's ``[Response]`` task after SUBMITTED (docs/outcomes.md).

An incident id is no proof that anything happened: KES for Windows 12.9+
turns the incident into a task named ``[Response][<area>] <task type> - <date>
<time> - <ID>``, only while KSC has its Web Console background connection, and
keeps at most 100 of them for at most 30 days. So every submitted request gets
a ResponseOutcome that one periodic sweep (``sweep()``) moves along::

    waiting ─(task found)─> pending ─> running ─> completed | warning | failed
       │                        └──────(task deleted or rotated away)──> gone
       └─(KSC_TASK_APPEAR_TIMEOUT)─> no_task   (a task appearing later is still adopted)
    any open state ─(KSC unreachable)─> unknown ─(KSC back)─> the state KSC then shows

The sweep walks KSC's tasks once (not once per request), asks each host with
unmatched requests for its task list once, reads the statistics of each
followed task, and stops at OUTCOME_SWEEP_MAX_CALLS calls; what it did not
reach comes first next time. Old requests are checked less often, and tracking
ends after OUTCOME_TRACKING_DAYS. Every change of state is an ``outcome``
event in the request's trail with what KSC said.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from ksc_client import tasks as ksc_tasks
from ksc_client.client import KscClient
from ksc_client.errors import KscAuthError, KscError, KscUnavailable
from ksc_client.tasks import ResponseTaskName
from responses import catalog, hosts, ksc_servers, server_state, submission, trail, trail_messages
from responses.jobs import check_late_duplicates
from responses.models import (
    OUTCOME_FINAL,
    EventKind,
    OutcomeState,
    OutcomeView,
    ResponseOutcome,
    ResponseRequest,
    Status,
    outcome_of,
)
from responses.states import PRIMARY_SERVER
from worker import duties

log = logging.getLogger(__name__)

# Final states end the tracking at once; NO_TASK does not (a late task is still adopted).
CLOSING = (OutcomeState.COMPLETED, OutcomeState.WARNING, OutcomeState.FAILED, OutcomeState.GONE)
# KLINCDT_ADDED is the portal's clock, the task's creation time KSC's; and two identical
# requests get KLINCDT_ADDED a second apart, possibly ahead of the AddIncident call. A task
# created this much before KLINCDT_ADDED still counts as created after it.
CLOCK_SKEW = dt.timedelta(seconds=60)
# Outcomes due in one sweep, at most: a bound on the database work as the call budget is on KSC's.
SWEEP_BATCH = 20000

# The trail and the outcome keep these in English; pages show them in the reader's language (an event by its
# message id, responses/trail_messages.py; an outcome's reason matched against SYSTEM_TEXTS, responses/trail_text.py).
NO_TASK_REASON = gettext_noop(
    "KSC created no [Response] task for this incident within %(minutes)s minutes. KSC creates these tasks only "
    "while the Administration Server has its background connection to the Web Console, and only for hosts "
    "with Kaspersky Endpoint Security for Windows 12.9 or later. The portal keeps looking for a late task."
)
GONE_REASON = gettext_noop(
    "KSC no longer has the task, and it had not finished: it was deleted, or rotated away (KES keeps at most "
    "100 response tasks)."
)


class BudgetSpent(Exception):
    """The sweep made OUTCOME_SWEEP_MAX_CALLS calls; the rest waits for the next sweep."""


class BudgetedCalls:
    """The client's ``call`` with a count and a hard bound (ksc_client.tasks takes any ``call``)."""

    def __init__(self, client: KscClient, limit: int):
        self.client, self.limit, self.calls = client, limit, 0

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if self.calls >= self.limit:
            raise BudgetSpent(method)
        self.calls += 1
        return self.client.call(method, args)


# --- the late duplicate check -----------------------------------------------------------------


def run_late_duplicate_check() -> Any:
    """Every sweep also runs the slow-KSC fix's late duplicate check (responses.jobs.check_late_duplicates).

    It removes the extra incidents a slow KSC made after an outcome-unknown failure, a
    settle period after the request's success; the reconciler runs it too and the
    check claims each request once, so the two never both delete. It never breaks a sweep.
    """
    try:
        return check_late_duplicates()
    except KscError as error:
        log.warning("the late duplicate check could not finish: %s", error)
        return None


# --- reading outcomes --------------------------------------------------------------------------


def with_outcome(state: str) -> Q:
    """A filter on requests by outcome; a submitted request without a row yet counts as waiting."""
    condition = Q(outcome__state=state)
    if state == OutcomeState.WAITING:
        condition |= Q(status=Status.SUBMITTED, outcome__isnull=True)
    return condition


# --- the task name -----------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def parse_task_name(name: str) -> ResponseTaskName | None:
    """The parts of a ``[Response]`` task's DisplayName, or None when it is not one (KSC_RESPONSE_TASK_PATTERN)."""
    return ksc_tasks.parse_task_name(name, settings.KSC_RESPONSE_TASK_PATTERN)


def _task_type_matches(rr: ResponseRequest, named: str | None) -> bool:
    # The name may carry the catalog name (isolateHost) or a label (Network isolation): the spec is silent.
    return named is None or _normalise(named) in _names_of_task(rr.task)


@functools.cache
def _names_of_task(task: str) -> frozenset[str]:
    """The catalog name and the English label of a task type, normalised (cached: the sweep asks often)."""
    from django.utils import translation

    with translation.override("en"):
        label = str(catalog.TASKS[task].label)
    return frozenset({_normalise(task), _normalise(label)})


# --- the sweep ---------------------------------------------------------------------------------


@dataclass
class SweepResult:
    due: int = 0
    created: int = 0
    matched: int = 0
    changed: int = 0
    closed: int = 0
    tasks_walked: int = 0
    calls: int = 0
    budget_spent: bool = False
    unreachable: str = ""
    seconds: float = 0.0
    changes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_interval(age: dt.timedelta) -> dt.timedelta:
    """How long an open outcome waits between checks: every sweep while fresh, rarer as it ages."""
    if age < dt.timedelta(hours=1):
        return dt.timedelta(0)
    if age < dt.timedelta(days=1):
        return dt.timedelta(minutes=5)
    if age < dt.timedelta(days=7):
        return dt.timedelta(minutes=30)
    return dt.timedelta(hours=2)


def open_missing_outcomes(now: dt.datetime) -> int:
    """A waiting outcome for every SUBMITTED request within the tracking window that has none."""
    window = now - dt.timedelta(days=settings.OUTCOME_TRACKING_DAYS)
    missing = ResponseRequest.objects.filter(
        status=Status.SUBMITTED, outcome__isnull=True, submitted_at__gte=window
    ).values_list("pk", "submitted_at", "server")
    rows = [
        ResponseOutcome(
            request_id=pk, server=server, state=OutcomeState.WAITING, since=submitted or now, next_check_at=now
        )
        for pk, submitted, server in missing
    ]
    # ignore_conflicts: a concurrent sweep may have opened some of them.
    ResponseOutcome.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def _change(
    outcome: ResponseOutcome,
    state: str,
    message: str,
    said: dict[str, Any],
    now: dt.datetime,
    **fields: Any,
) -> bool:
    """Move one outcome to ``state`` (conditional on its current state) and write the event; False if raced."""
    before = outcome.state
    values = {"state": state, "since": now, "checked_at": now, **fields}
    if state in CLOSING:
        values["closed_at"] = now
    with transaction.atomic():
        updated = ResponseOutcome.objects.filter(pk=outcome.pk, state=before, closed_at__isnull=True).update(**values)
        if updated != 1:
            return False
        for name, value in values.items():
            setattr(outcome, name, value)
        rr = outcome.request
        trail.append(
            rr,
            EventKind.OUTCOME,
            trail.SYSTEM,
            rr.status,
            message,
            {"outcome_before": before, "outcome_after": state, "ksc_task_id": outcome.ksc_task_id, "ksc": said},
        )
    return True


def _state_from_statistics(stats: dict[str, int]) -> str:
    """The host's state from GetTaskStatistics: the response task covers one host."""
    if stats.get(ksc_tasks.STATE_FAILED, 0) > 0:
        return OutcomeState.FAILED
    if stats.get(ksc_tasks.STATE_WARNING, 0) > 0:
        return OutcomeState.WARNING
    if stats.get(ksc_tasks.STATE_COMPLETED, 0) > 0:
        return OutcomeState.COMPLETED
    if stats.get(ksc_tasks.STATE_RUNNING, 0) > 0:
        return OutcomeState.RUNNING
    return OutcomeState.PENDING


_MESSAGES = {
    OutcomeState.PENDING: gettext_noop("KSC's task %(name)s (id %(id)s) waits for the host to connect."),
    OutcomeState.RUNNING: gettext_noop("KSC's task %(name)s (id %(id)s) is running on the host."),
    OutcomeState.COMPLETED: gettext_noop("KSC's task %(name)s (id %(id)s) completed on the host."),
    OutcomeState.WARNING: gettext_noop("KSC's task %(name)s (id %(id)s) completed on the host with a warning."),
    OutcomeState.FAILED: gettext_noop("KSC's task %(name)s (id %(id)s) failed on the host."),
}
# The same with KSC's reason (the text stored is the same as before these were marked for translation).
_MESSAGES_WITH_REASON = {
    OutcomeState.WARNING: gettext_noop(
        "KSC's task %(name)s (id %(id)s) completed on the host with a warning: %(reason)s."
    ),
    OutcomeState.FAILED: gettext_noop("KSC's task %(name)s (id %(id)s) failed on the host: %(reason)s."),
}
# How a task was recognised as a request's (ResponseOutcome.matched_by, English, joined with ", "):
# each part is one of these, shown in the reader's language (trail_text.matched_by).
MATCHED_BY = (
    gettext_noop("[Response] name"),
    gettext_noop("incident id %(id)s in the name"),
    gettext_noop("task type %(task)s"),
    gettext_noop("created after KLINCDT_ADDED"),
    gettext_noop("host's task list (%(host)s)"),
    gettext_noop("no incident id in the name"),
    gettext_noop("earliest of %(count)s fitting tasks"),
)
# Every text the sweep keeps outside the trail (an outcome's reason, how its task was matched), for
# pages to show in the reader's language (responses/trail_text.py matches stored texts back to them).
SYSTEM_TEXTS = (NO_TASK_REASON, GONE_REASON, *_MESSAGES.values(), *_MESSAGES_WITH_REASON.values(), *MATCHED_BY)


class _Sweep:
    """One server's part of a sweep: its client, its call budget, and only its requests and tasks."""

    def __init__(self, client: KscClient, now: dt.datetime, result: SweepResult, server: str = PRIMARY_SERVER):
        self.server = server
        self.client = client
        self.calls = BudgetedCalls(client, settings.OUTCOME_SWEEP_MAX_CALLS)
        self.now = now
        self.result = result

    # matching

    def match(self, unmatched: list[ResponseOutcome]) -> None:
        """Find the ``[Response]`` task of each unmatched outcome: one walk, one task list per host."""
        named: list[tuple[ksc_tasks.KscTask, ResponseTaskName]] = []
        for task in ksc_tasks.iterate_tasks(self.calls):
            self.result.tasks_walked += 1
            parsed = parse_task_name(task.name)
            if parsed is not None:
                named.append((task, parsed))
        self.flag_late_copies(named)
        if not unmatched:
            return
        # Tasks another request already follows are never offered again (KES keeps at most 100 of them).
        claimed = set(
            ResponseOutcome.objects.filter(
                server=self.server, ksc_task_id__in=[task.id for task, _parsed in named]
            ).values_list(
                "ksc_task_id", flat=True
            )
        )
        candidates = [(task, parsed) for task, parsed in named if task.id not in claimed]
        if not candidates:
            return
        named_ids = {parsed.incident_id for _task, parsed in candidates if parsed.incident_id is not None}
        owners = dict(
            ResponseRequest.objects.filter(server=self.server, ksc_incident_id__in=named_ids).values_list(
                "ksc_incident_id", "pk"
            )
        )
        host_tasks: dict[str, set[str]] = {}
        # The oldest request first: with no id in the name, it takes the earliest task after its incident.
        unmatched.sort(key=lambda outcome: (outcome.request.ksc_added or outcome.request.submitted_at, outcome.pk))
        strong = [o for o in unmatched if o.request.ksc_incident_id in named_ids]
        weak = [o for o in unmatched if o.request.ksc_incident_id not in named_ids]
        taken: set[str] = set()
        for outcome in strong + weak:
            rr = outcome.request
            fitting = []
            for task, parsed in candidates:
                if task.id in taken:
                    continue
                owner = owners.get(parsed.incident_id) if parsed.incident_id is not None else None
                if parsed.incident_id is not None and parsed.incident_id == rr.ksc_incident_id:
                    fitting.append((task, parsed, True))
                elif owner is not None and owner != rr.pk:
                    continue  # the name carries another request's incident id
                elif self._fits(rr, task, parsed):
                    fitting.append((task, parsed, False))
            if not fitting:
                continue
            if rr.target_host not in host_tasks:
                host_tasks[rr.target_host] = hosts.task_ids(rr.target_host, via=self.calls)
            on_host = [item for item in fitting if item[0].id in host_tasks[rr.target_host]]
            if not on_host:
                continue
            by_id = [item for item in on_host if item[2]]
            chosen = by_id or sorted(on_host, key=lambda item: (item[0].created or self.now, int_or_zero(item[0].id)))
            task, parsed, by_incident = chosen[0]
            if self._claim(outcome, task, parsed, by_incident=by_incident, rivals=len(on_host) - 1):
                taken.add(task.id)

    def flag_late_copies(self, named: list[tuple[ksc_tasks.KscTask, ResponseTaskName]]) -> None:
        """A [Response] task for an incident no request keeps may be KES acting on a late copy.

        A slow KSC can carry out an AddIncident the portal gave up on long after the
        request succeeded with another incident. Every request still watched for late
        copies (ksc_search_from) whose task type the name fits gets its late
        duplicate check at once, instead of at its next step (which may be hours away):
        the check compares host, KLINCDT_ADDED and body, and removes the copy.
        """
        ids = {parsed.incident_id for _task, parsed in named if parsed.incident_id is not None}
        if not ids:
            return
        kept = set(
            ResponseRequest.objects.filter(server=self.server, ksc_incident_id__in=ids).values_list(
                "ksc_incident_id", flat=True
            )
        )
        stray = [(task, parsed) for task, parsed in named if parsed.incident_id in ids - kept]
        if not stray:
            return
        watched = ResponseRequest.objects.filter(
            server=self.server, ksc_search_from__isnull=False, ksc_incident_id__isnull=False
        ).only(
            "uuid", "task", "ksc_added"
        )

        def may_be_a_copy_of(rr: ResponseRequest, task: ksc_tasks.KscTask, parsed: ResponseTaskName) -> bool:
            # The task lists carry no host: the task type, and a task made after the request's
            # KLINCDT_ADDED; the check itself compares host, time and body.
            after = task.created is None or rr.ksc_added is None or task.created >= rr.ksc_added - CLOCK_SKEW
            return after and _task_type_matches(rr, parsed.task)

        keys = [rr.uuid for rr in watched if any(may_be_a_copy_of(rr, task, parsed) for task, parsed in stray)]
        if keys and submission.check_late_copies_now(keys):
            log.warning(
                "outcome sweep: [Response] tasks for incidents %s that no request keeps; checking %d request(s) "
                "for late copies now",
                ", ".join(sorted({str(parsed.incident_id) for _task, parsed in stray})),
                len(keys),
            )

    def _fits(self, rr: ResponseRequest, task: ksc_tasks.KscTask, parsed: ResponseTaskName) -> bool:
        added = rr.ksc_added or rr.submitted_at
        if task.created is None or added is None or task.created < added.replace(microsecond=0) - CLOCK_SKEW:
            return False  # KES creates the task after the incident: an older task is someone else's
        if parsed.area is not None and parsed.area.casefold() != settings.RESPONSE_EVENT_INCIDENT_AREA.casefold():
            return False
        return _task_type_matches(rr, parsed.task)

    def _claim(
        self,
        outcome: ResponseOutcome,
        task: ksc_tasks.KscTask,
        parsed: ResponseTaskName,
        *,
        by_incident: bool,
        rivals: int,
    ) -> bool:
        name, incident, task_type, after_added, task_list, no_incident, earliest = MATCHED_BY
        how = [name, task_list % {"host": outcome.request.target_host}]
        if by_incident:
            how.insert(1, incident % {"id": parsed.incident_id})
        else:
            how.insert(1, task_type % {"task": parsed.task or "(not in the name)"})
            how.insert(2, after_added)
            if parsed.incident_id is None:
                how.append(no_incident)
            if rivals:
                how.append(earliest % {"count": rivals + 1})
        matched_by = ", ".join(how)[:255]
        try:
            with transaction.atomic():
                updated = ResponseOutcome.objects.filter(pk=outcome.pk, ksc_task_id__isnull=True).update(
                    ksc_task_id=task.id,
                    ksc_task_name=task.name[:255],
                    ksc_task_created=task.created,
                    matched_by=matched_by,
                )
        except IntegrityError:
            return False  # another request claimed this task first: never two requests on one task
        if updated != 1:
            return False
        outcome.ksc_task_id, outcome.ksc_task_name = task.id, task.name[:255]
        outcome.ksc_task_created, outcome.matched_by = task.created, matched_by
        self.result.matched += 1
        return True

    # following

    def follow(self, outcome: ResponseOutcome) -> None:
        stats = ksc_tasks.task_statistics(self.calls, outcome.ksc_task_id)
        said: dict[str, Any] = {"task": outcome.ksc_task_name, "statistics": stats}
        if stats is None:
            self._set(outcome, OutcomeState.GONE, trail_messages.say(GONE_REASON), said, reason=GONE_REASON)
            return
        state = _state_from_statistics(stats)
        reason = ""
        if state in (OutcomeState.FAILED, OutcomeState.WARNING) and state != outcome.state:
            history = ksc_tasks.task_history(self.calls, outcome.ksc_task_id, outcome.request.target_host)
            reason = ksc_tasks.failure_reason(history)
            said["history"] = [_jsonable(record) for record in history[:5]]
        template = _MESSAGES_WITH_REASON[state] if reason and state in _MESSAGES_WITH_REASON else _MESSAGES[state]
        message = trail_messages.say(template, name=outcome.ksc_task_name, id=outcome.ksc_task_id, reason=reason)
        self._set(outcome, state, message, said, reason=reason)

    def _set(self, outcome: ResponseOutcome, state: str, message: str, said: dict[str, Any], **fields: Any) -> None:
        if outcome.state == state:
            return
        if _change(outcome, state, message, said, self.now, **fields):
            self.result.changed += 1
            self.result.changes[state] = self.result.changes.get(state, 0) + 1
            if state in CLOSING:
                self.result.closed += 1

    def unmatched_state(self, outcome: ResponseOutcome) -> None:
        """No task (yet): waiting, or no_task once KSC_TASK_APPEAR_TIMEOUT has passed."""
        submitted = outcome.request.submitted_at or outcome.since
        timeout = settings.KSC_TASK_APPEAR_TIMEOUT
        if self.now - submitted >= dt.timedelta(seconds=timeout):
            reason = trail_messages.say(NO_TASK_REASON, minutes=max(1, timeout // 60))
            self._set(outcome, OutcomeState.NO_TASK, reason, {"tasks_walked": self.result.tasks_walked}, reason=reason)
        elif outcome.state != OutcomeState.WAITING:
            self._set(outcome, OutcomeState.WAITING, "KSC answers again; waiting for the [Response] task.", {})

    def unreachable(self, outcomes: Iterable[ResponseOutcome], error: KscError) -> None:
        said = {"error": str(error), "kind": error.kind}
        for outcome in outcomes:
            if outcome.state != OutcomeState.UNKNOWN:
                self._set(
                    outcome,
                    OutcomeState.UNKNOWN,
                    f"KSC cannot be asked about this request's task right now; the portal keeps trying. {error}",
                    said,
                )


def int_or_zero(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, dt.datetime) else value for key, value in record.items()}


def _close_expired(now: dt.datetime) -> int:
    """End tracking after OUTCOME_TRACKING_DAYS (KES' task lifespan); the state stays as last seen."""
    days = settings.OUTCOME_TRACKING_DAYS
    cutoff = now - dt.timedelta(days=days)
    closed = 0
    expired = ResponseOutcome.objects.filter(closed_at__isnull=True, request__submitted_at__lt=cutoff).select_related(
        "request"
    )
    for outcome in expired:
        reason = f"Tracking stopped after {days} days (a KSC task lives at most 30 days); last seen: {outcome.get_state_display()}."
        with transaction.atomic():
            if ResponseOutcome.objects.filter(pk=outcome.pk, closed_at__isnull=True).update(
                closed_at=now, reason=outcome.reason or reason
            ):
                rr = outcome.request
                trail.append(rr, EventKind.OUTCOME, trail.SYSTEM, rr.status, reason, {"outcome_after": outcome.state})
                closed += 1
    return closed


def sweep(client: KscClient | None = None, *, now: dt.datetime | None = None) -> SweepResult:
    """One pass over every open outcome that is due; never raises for KSC trouble (it shows as ``unknown``)."""
    started = time.monotonic()
    now = now or timezone.now()
    result = SweepResult()
    result.created = open_missing_outcomes(now)
    result.closed += _close_expired(now)
    due = list(
        ResponseOutcome.objects.filter(closed_at__isnull=True, next_check_at__lte=now)
        .select_related("request")
        .order_by("next_check_at", "pk")[:SWEEP_BATCH]
    )
    result.due = len(due)
    if not due:
        result.seconds = time.monotonic() - started
        return result
    # Each server on its own: its client, its budget, its trouble. One server down leaves its
    # outcomes "unknown" and the others' followed as usual.
    by_server: dict[str, list[ResponseOutcome]] = defaultdict(list)
    for outcome in due:
        by_server[outcome.request.server].append(outcome)
    troubles = []
    duplicates_checked = False
    for server, outcomes in sorted(by_server.items()):
        trouble = _sweep_server(server, outcomes, client, now, result)
        if trouble:
            troubles.append(trouble if len(by_server) == 1 else f"{server}: {trouble}")
        duplicates_checked = duplicates_checked or trouble is None
    if duplicates_checked:
        run_late_duplicate_check()  # every server's (responses.jobs.check_late_duplicates asks each its own)
    result.unreachable = "; ".join(troubles)
    result.seconds = time.monotonic() - started
    return result


def _sweep_server(
    server: str, due: list[ResponseOutcome], client: KscClient | None, now: dt.datetime, result: SweepResult
) -> str | None:
    """One server's due outcomes; the trouble in words when KSC could not be followed (None when all went well)."""
    if client is None:
        try:
            # No server configured at all: the default's error says so (KSC_HOST is not set...).
            server_client = ksc_servers.client_for(server) if ksc_servers.server_names() else ksc_servers.get_client()
        except (ImproperlyConfigured, ksc_servers.UnknownServer) as error:
            # That server is not configured: nothing of it can be followed; its outcomes wait as they are.
            return str(error)
    else:
        server_client = client  # handed in (tests, one server)
    work = _Sweep(server_client, now, result, server)
    unmatched = [outcome for outcome in due if not outcome.ksc_task_id]
    done: set[int] = set()
    trouble = None
    error: KscError | None = None
    try:
        if unmatched or ResponseRequest.objects.filter(server=server, ksc_search_from__isnull=False).exists():
            work.match(unmatched)  # also flags tasks of late copies (flag_late_copies)
        for outcome in due:
            if outcome.ksc_task_id:
                work.follow(outcome)
            else:
                work.unmatched_state(outcome)
            done.add(outcome.pk)
    except BudgetSpent:
        result.budget_spent = True
        log.info(
            "outcome sweep (%s): call budget of %d spent; %d outcomes wait", server, work.calls.limit, len(due) - len(done)
        )
    except (KscUnavailable, KscAuthError) as failure:
        error = failure
        trouble = str(error)
        log.warning("outcome sweep: KSC server %s unreachable: %s", server, error)
        work.unreachable([outcome for outcome in due if outcome.pk not in done], error)
        done.update(outcome.pk for outcome in due)
    except KscError as failure:
        # A refused or malformed call: the outcomes stay as they were and are tried again.
        error = failure
        trouble = str(error)
        log.warning("outcome sweep (%s) stopped: %s", server, error)
    _reschedule([outcome for outcome in due if outcome.pk in done], now)
    if trouble is None:
        _fill_names(server, due)
    result.calls += work.calls.calls
    if trouble is None and work.calls.calls:
        server_state.contact(server, login=True)
    elif trouble is not None:
        server_state.trouble(server, error)
    return trouble


# At most this many hosts a sweep asks KSC about, for requests filed without a name (KSC was unreachable).
NAME_FILLS = 10


def _fill_names(server: str, due: list[ResponseOutcome]) -> None:
    """KSC answers again: the requests filed without a host name get KSC's (hosts.lookup records it)."""
    nameless = sorted({outcome.request.target_host for outcome in due if not outcome.request.target_host_name})
    for host_id in nameless[:NAME_FILLS]:
        try:
            hosts.lookup(host_id, server=server)  # the directory fills the names (host_directory.fill_missing_names)
        except (KscError, ImproperlyConfigured, ksc_servers.UnknownServer) as error:
            log.info("outcome sweep (%s): host %s not named: %s", server, host_id, error)
            return


def _reschedule(outcomes: list[ResponseOutcome], now: dt.datetime) -> None:
    """The next check of each outcome looked at: one UPDATE per interval, not one per row."""
    groups: dict[dt.timedelta, list[int]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.state in CLOSING:
            continue
        age = now - (outcome.request.submitted_at or outcome.since)
        groups[check_interval(age)].append(outcome.pk)
    for interval, pks in groups.items():
        for start in range(0, len(pks), 1000):
            ResponseOutcome.objects.filter(pk__in=pks[start : start + 1000]).update(
                checked_at=now, next_check_at=now + interval
            )


def host_outcomes(host_id: str, server: str = PRIMARY_SERVER) -> list[tuple[ResponseRequest, OutcomeView | None]]:
    """Every request for a host of ``server`` with its outcome, newest first (the host page)."""
    requests = (
        ResponseRequest.objects.filter(server=server, target_host=host_id)
        .select_related("outcome")
        .order_by("-created_at")
    )
    return [(rr, outcome_of(rr)) for rr in requests]


# For tests and the API: the states whose page refreshes itself.
FINAL_STATES = tuple(state.value for state in OUTCOME_FINAL)


# --- The periodic sweep, a duty of the workers' keeper (worker/duties.py) -----------------------

SWEEP_JOB_ID = "portal-outcome-sweep"


@duties.periodic("outcome-sweep", every="OUTCOME_SWEEP_INTERVAL", job_id=SWEEP_JOB_ID)
def sweep_periodically() -> dict[str, Any]:
    """The scheduled sweep: one run every OUTCOME_SWEEP_INTERVAL."""
    return sweep().as_dict()


schedule_outcome_sweep = sweep_periodically.schedule  # idempotent: the sweep in the worker's schedule
