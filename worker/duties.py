"""The one registry of the cluster's periodic duties, run by the workers' keeper (worker/keeper.py).

Each app registers its own duties where they are defined (the module is imported by the app's
``AppConfig.ready()``), so that this app imports none of them. Three kinds:

- ``@periodic(name, every=...)``: a job that runs in the RQ worker every so often and schedules
  its next run itself when it ends. The keeper's beat puts it back in the schedule whenever Redis
  lost it (a flush, a restart without persistence), so no duty lives only in Redis. ``every`` is
  the name of a setting holding seconds (``"OUTCOME_SWEEP_INTERVAL"``), a number of seconds, or a
  callable answering the seconds until the next run, or None when the duty is off (not configured).
  The decorator answers a ``PeriodicDuty``: calling it runs the function and schedules the next
  run; ``.schedule(force=False)`` puts it in the schedule unless it is there (idempotent).
- ``@every_beat(name)``: run by the keeper that wins the reconcile lease, once per
  RECONCILE_INTERVAL across the cluster (the reconciler, the audit anchor, housekeeping).
- ``@every_tick(name, queue=...)``: run every second by the keeper that holds the queue's
  schedule (tries the database schedules, due by its clock).

Example (responses/outcomes.py)::

    @duties.periodic("outcome-sweep", every="OUTCOME_SWEEP_INTERVAL", job_id="portal-outcome-sweep")
    def sweep_periodically() -> dict:
        return sweep().as_dict()

Names are unique: registering a second duty under a taken name with another function is an error
(a module imported twice under two names would otherwise run its duty twice).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import django_rq
from django.conf import settings

log = logging.getLogger(__name__)

DUTY_QUEUE = "ksc"  # the queue periodic duties run on unless they name theirs; the keeper's default queue


@dataclass
class PeriodicDuty:
    """A job that reschedules itself: see the module's docstring."""

    name: str
    func: Callable[[], Any]
    every: str | int | Callable[[], float | None]
    job_id: str
    queue: str = DUTY_QUEUE
    result_ttl: int | Callable[[int], int] | None = None  # seconds; default twice the delay
    job_timeout: int | None = None  # the queue's default unless given

    def __call__(self) -> Any:
        """One run (what the RQ job does), then the next run in the schedule, whatever happened."""
        try:
            return self.func()
        finally:
            self.schedule(force=True)

    def delay(self) -> int | None:
        """Seconds until the next run, or None when the duty is off."""
        every = self.every
        if isinstance(every, str):
            every = getattr(settings, every)
        elif callable(every):
            every = every()
        if every is None:
            return None
        return max(int(-(-every // 1)), 0)  # whole seconds, rounded up

    def schedule(self, force: bool = False) -> bool:
        """Put the duty's job in its queue's schedule unless it is there, waiting or running; whether it did.

        ``force``: schedule anyway (the job itself, scheduling its next run while it still runs).
        """
        from worker.liveness import is_running

        seconds = self.delay()
        if seconds is None:
            return False
        queue = django_rq.get_queue(self.queue)
        if not force:
            if self.job_id in queue.scheduled_job_registry.get_job_ids() or self.job_id in queue.job_ids:
                return False
            if is_running(self.job_id, queue):
                return False  # the running job schedules the next one when it ends
        if self.result_ttl is None:
            result_ttl = seconds * 2
        elif callable(self.result_ttl):
            result_ttl = self.result_ttl(seconds)
        else:
            result_ttl = self.result_ttl
        queue.enqueue_in(
            dt.timedelta(seconds=seconds),
            run_periodic,
            self.name,
            job_id=self.job_id,
            # The job's record must outlive its next run: RQ saves a finished job under the same id.
            result_ttl=result_ttl,
            job_timeout=self.job_timeout,
        )
        return True


@dataclass(frozen=True)
class BeatDuty:
    name: str
    func: Callable[[], Any]
    raise_errors: bool = False  # True: an error ends the beat (the reconciler); False: logged, the beat goes on


@dataclass(frozen=True)
class TickDuty:
    name: str
    func: Callable[[Any], Any]  # called with the RQ queue whose schedule this keeper holds
    queue: str


PERIODIC: dict[str, PeriodicDuty] = {}
BEAT: dict[str, BeatDuty] = {}
TICK: dict[str, TickDuty] = {}


def _register(registry: dict, duty) -> None:
    known = registry.get(duty.name)
    if known is not None and getattr(known.func, "__qualname__", None) != getattr(duty.func, "__qualname__", None):
        raise ValueError(f"a periodic duty named {duty.name!r} is registered already ({known.func!r})")
    registry[duty.name] = duty


def periodic(
    name: str,
    *,
    every: str | int | Callable[[], float | None],
    job_id: str | None = None,
    queue: str = DUTY_QUEUE,
    result_ttl: int | Callable[[int], int] | None = None,
    job_timeout: int | None = None,
) -> Callable[[Callable[[], Any]], PeriodicDuty]:
    """Register a self-rescheduling job (module docstring); ``job_id`` defaults to ``portal-<name>``."""

    def register(func: Callable[[], Any]) -> PeriodicDuty:
        duty = PeriodicDuty(
            name=name,
            func=func,
            every=every,
            job_id=job_id or f"portal-{name}",
            queue=queue,
            result_ttl=result_ttl,
            job_timeout=job_timeout,
        )
        _register(PERIODIC, duty)
        return duty

    return register


def every_beat(name: str, *, raise_errors: bool = False) -> Callable[[Callable], Callable]:
    """Register ``func()`` to run at each beat of the cluster's keeper (RECONCILE_INTERVAL); answers func."""

    def register(func: Callable) -> Callable:
        _register(BEAT, BeatDuty(name, func, raise_errors))
        return func

    return register


def every_tick(name: str, *, queue: str = DUTY_QUEUE) -> Callable[[Callable], Callable]:
    """Register ``func(queue)`` to run every second by the keeper holding ``queue``'s schedule; answers func."""

    def register(func: Callable) -> Callable:
        _register(TICK, TickDuty(name, func, queue))
        return func

    return register


def run_periodic(name: str) -> Any:
    """The RQ job of every periodic duty: one run of the duty named ``name``, then its next in the schedule."""
    try:
        duty = PERIODIC[name]
    except KeyError:
        raise LookupError(f"no periodic duty named {name!r} is registered in this process") from None
    return duty()


def schedule_all() -> None:
    """Put every periodic duty back in the schedule when Redis lost it (the keeper's beat calls this)."""
    from redis.exceptions import RedisError

    for duty in list(PERIODIC.values()):
        try:
            duty.schedule()
        except RedisError as exc:
            log.warning("could not put the duty %s back in the schedule: %s", duty.name, exc)
