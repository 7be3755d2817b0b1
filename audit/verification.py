"""The kept record of the audit chains' verifications (docs/audit-chain.md, "Verifying").

Every verification leaves a ChainVerification row: the chain page's "Verify now", `manage.py
verify_audit` (with `--against` too), and the scheduled check every AUDIT_VERIFY_INTERVAL
seconds. The pages lead with the latest one, and flag it when it is older than twice the interval
(or when there is none). The row is an indicator, not evidence: "Verify now" recomputes everything.

The scheduled check runs once across all workers, as the outcome sweep does: one RQ job with a
fixed id on the `ksc` queue, which reschedules itself and which the keeper's beat puts back when
Redis lost it (a periodic duty, worker/duties.py). It is put in the schedule for the moment the next
verification is due, and is not scheduled again while a worker runs it; the run itself holds a
PostgreSQL advisory lock and verifies only when no verification of any kind finished within the
interval, so a job that runs early, or a second time, writes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.timesince import timesince

from audit import access, chain
from audit.models import ChainVerification, VerificationSource
from worker import duties

log = logging.getLogger(__name__)

JOB_ID = "portal-audit-verify"
JOB_TIMEOUT = 3600  # seconds a scheduled verification may take (the queue's default is 300)
HISTORY = 20  # verifications on the history page
_LOCK = 0x45445256  # "EDRV": pg_try_advisory_lock key of the scheduled check
_PROBLEM_CHARS = 2000  # one problem's words at most (the report's are far shorter)


def record(
    report: chain.Report,
    *,
    source: str,
    started_at: dt.datetime,
    user=None,
    problems: list[str] | None = None,
    against: str = "",
) -> ChainVerification:
    """Keep what a verification found. ``problems``: the report's, plus any the caller found (--against)."""
    found = list(report.problems if problems is None else problems)
    person = user if user is not None and user.is_authenticated else None
    return ChainVerification.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        source=source,
        user=person,
        username=person.get_username() if person is not None else "",
        intact=not found,
        events=report.events,
        request_chains=report.request_chains,
        account_events=report.account_events,
        anchors=report.anchors,
        unanchored=report.unanchored,
        latest_anchor=report.latest_anchor,
        against=against[:500],
        problems=[problem[:_PROBLEM_CHARS] for problem in found[: ChainVerification.MAX_PROBLEMS]],
        problem_count=len(found),
    )


def verify_and_record(*, source: str, user=None) -> tuple[chain.Report, ChainVerification]:
    """Verify every chain now and keep the result."""
    started = timezone.now()
    report = chain.verify()
    return report, record(report, source=source, started_at=started, user=user)


def latest() -> ChainVerification | None:
    return ChainVerification.objects.order_by("-finished_at", "-id").first()


def history(limit: int = HISTORY) -> list[ChainVerification]:
    return list(ChainVerification.objects.order_by("-finished_at", "-id")[:limit])


def interval_in_words(seconds: int) -> str:
    """AUDIT_VERIFY_INTERVAL as the pages say it ("1 day", "6 hours"), in the reader's language."""
    now = timezone.now()
    return timesince(now - dt.timedelta(seconds=seconds), now, depth=2)


@dataclass(frozen=True)
class Standing:
    """What the pages say about the chains' verification: the latest, and whether it is overdue."""

    last: ChainVerification | None
    overdue_for: str = ""  # set when the last verification is older than twice the interval: its age in words
    interval: int = 0  # AUDIT_VERIFY_INTERVAL (0: no scheduled check)

    @property
    def flagged(self) -> bool:
        return self.last is None or bool(self.overdue_for)

    @property
    def interval_words(self) -> str:
        return interval_in_words(self.interval) if self.interval else ""


def standing(now: dt.datetime | None = None) -> Standing:
    now = now or timezone.now()
    last = latest()
    interval = settings.AUDIT_VERIFY_INTERVAL
    overdue = ""
    if last is not None and interval and now - last.finished_at > dt.timedelta(seconds=2 * interval):
        overdue = timesince(last.finished_at, now, depth=1)
    return Standing(last=last, overdue_for=overdue, interval=interval)


def standing_for(user) -> Standing | None:
    """The standing for a page, or None when this user may not verify the chains (the policy decides, audit/access.py)."""
    return standing() if access.may_read(user) else None


# --- the scheduled check ----------------------------------------------------------------------


def due_at(now: dt.datetime) -> dt.datetime | None:
    """When the scheduled check is due: AUDIT_VERIFY_INTERVAL after the last verification; None when off."""
    interval = settings.AUDIT_VERIFY_INTERVAL
    if not interval:
        return None
    last = ChainVerification.objects.order_by("-finished_at").values_list("finished_at", flat=True).first()
    return now if last is None else last + dt.timedelta(seconds=interval)


@contextlib.contextmanager
def _check_lock() -> Iterator[bool]:
    """Whether this run may verify: nobody else holds the scheduled check's lock (PostgreSQL)."""
    if connection.vendor != "postgresql":
        yield True  # SQLite (tests, development): one process
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK])


def check_if_due() -> ChainVerification | None:
    """Verify and keep the result when the scheduled check is due; None when it is not (or runs elsewhere)."""
    with _check_lock() as mine:
        if not mine:
            log.info("scheduled chain verification: another run holds the lock; skipped")
            return None
        due = due_at(timezone.now())
        if due is None or due > timezone.now():
            return None
        _report, row = verify_and_record(source=VerificationSource.SCHEDULE)
    if not row.intact:
        log.error("scheduled chain verification: BROKEN, %d problems; first: %s", row.problem_count, row.problems[0])
    return row


def _seconds_until_due() -> int | None:
    """When the scheduled check waits in the worker's schedule: its due time (None: no scheduled check)."""
    now = timezone.now()
    due = due_at(now)
    if due is None:
        return None
    return max(math.ceil((due - now).total_seconds()), 0)


@duties.periodic(
    "audit-verify",
    every=_seconds_until_due,
    job_id=JOB_ID,
    result_ttl=lambda delay: delay + 2 * settings.AUDIT_VERIFY_INTERVAL,
    job_timeout=JOB_TIMEOUT,
)
def check_periodically() -> dict[str, object]:
    """The scheduled job: verify when due (then the next one is scheduled for its due time)."""
    row = check_if_due()
    return {"verified": row is not None, "intact": None if row is None else row.intact}


schedule_check = check_periodically.schedule  # idempotent; not again while a worker runs it
