"""The simulator's tasks side: the ``[Response]`` task KES would create after AddIncident (docs/ksc-wire.md, section 9).

Plugged into ksc_simulator/server.py's dispatch; its state hangs off the
SimulatorState (``task_book(state)``), so the server needs only three call sites.

What it does, each part configurable where the spec says *unknown*:

- After AddIncident, a task named ``[Response][<area>] <task type> - <date> <time> - <ID>``
  appears ``delay_s`` seconds later (simulator clock), pending for
  ``pending_s``, running for ``run_s``, then ends as the host's outcome:
  ``complete``, ``warn`` (with ``reason``), ``fail`` (with ``reason``),
  ``never`` (no task is created: no Web Console connection, or KES < 12.9),
  or ``rotate`` (deleted before finishing, as KES' rotation would).
- At most ``max_tasks`` (100) response tasks: the oldest is rotated away,
  finished or not. A task lives at most 30 days.
- Name variants: ``area_case`` (``as-is``, ``upper``, ``lower``), ``id_mode``
  (``incident``: the incident id; ``task``: the task's own id; ``none``: no
  id), ``date_format`` (strftime).
- A few ordinary (non-response) tasks exist on every host, so a matcher must filter.
- ``deny_tasks``: every Tasks/EventProcessing call is refused with PxgError
  ERR_ACCESS_DENIED (the account lacks rights); ``require_mfa``: every login
  answers 401 ``WWW-Authenticate: KSCMFA`` (read by the simulator's login).

Control endpoints (no authentication, as the simulator's others):
``GET /_simulator/tasks`` lists every task with its plan and state;
``POST /_simulator/tasks`` merges a config object (``{}`` resets it); a
``hosts`` object maps a host id to its own plan (``outcome``, ``reason``,
``delay_s``, ``pending_s``, ``run_s``).

Choices (not documented by Kaspersky): task ids are decimal strings from
1000; ERR_ACCESS_DENIED is 1164; GetRecordRange's ``nEnd`` is exclusive.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from ksc_simulator import calls, wire

ERR_ACCESS_DENIED = 1164
LIFESPAN = dt.timedelta(days=30)
OUTCOMES = ("complete", "warn", "fail", "never", "rotate")
PLAN_KEYS = ("outcome", "reason", "delay_s", "pending_s", "run_s")
ORDINARY_TASKS = ("Install application updates", "Find vulnerabilities and required updates", "Virus scan")


@dataclass
class Plan:
    outcome: str = "complete"
    reason: str = ""
    delay_s: float = 0
    pending_s: float = 0
    run_s: float = 0


@dataclass
class TasksConfig:
    plan: Plan = field(default_factory=Plan)
    hosts: dict[str, Plan] = field(default_factory=dict)
    area_case: str = "as-is"
    id_mode: str = "incident"
    date_format: str = "%Y-%m-%d %H:%M:%S"
    max_tasks: int = 100
    deny_tasks: bool = False
    require_mfa: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            **self.plan.__dict__,
            "hosts": {host: plan.__dict__ for host, plan in self.hosts.items()},
            "area_case": self.area_case,
            "id_mode": self.id_mode,
            "date_format": self.date_format,
            "max_tasks": self.max_tasks,
            "deny_tasks": self.deny_tasks,
            "require_mfa": self.require_mfa,
        }


@dataclass
class SimTask:
    id: str
    name: str
    created: dt.datetime
    host_id: str | None  # None: an ordinary task of every host
    incident_id: int | None
    plan: Plan

    def state(self, now: dt.datetime) -> str:
        """``pending``, ``running``, ``complete``, ``warn`` or ``fail`` at ``now``."""
        age = (now - self.created).total_seconds()
        if age < self.plan.pending_s:
            return "pending"
        if age < self.plan.pending_s + self.plan.run_s or self.plan.outcome == "rotate":
            return "running"
        return self.plan.outcome

    def info(self) -> dict[str, Any]:
        return {"DisplayName": self.name, "PRTS_TASK_CREATION_DATE": self.created}


@dataclass
class Scheduled:
    appear_at: dt.datetime
    host_id: str
    incident_id: int
    task_type: str
    area: str
    plan: Plan


class TaskBook:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.config = TasksConfig()
        self.tasks: dict[str, SimTask] = {}
        self.scheduled: list[Scheduled] = []
        self.next_id = 1000
        self.iterators: dict[str, list[str]] = {}
        self.histories: dict[str, list[dict[str, Any]]] = {}
        self.removed: list[str] = []
        for name in ORDINARY_TASKS:
            self._add(name, wire.parse_datetime("2026-01-05T09:00:00Z"), None, None, Plan(outcome="complete"))

    def _add(
        self, name: str, created: dt.datetime, host_id: str | None, incident_id: int | None, plan: Plan
    ) -> SimTask:
        task = SimTask(str(self.next_id), name, created, host_id, incident_id, plan)
        self.next_id += 1
        self.tasks[task.id] = task
        return task

    def plan_for(self, host_id: str) -> Plan:
        return self.config.hosts.get(host_id, self.config.plan)

    def materialize(self, now: dt.datetime) -> bool:
        """Create the tasks that are due, then rotate, expire and delete as KES would; True if any changed."""
        before = (len(self.scheduled), len(self.removed))
        due = sorted((item for item in self.scheduled if item.appear_at <= now), key=lambda item: item.appear_at)
        self.scheduled = [item for item in self.scheduled if item.appear_at > now]
        for item in due:
            self._create(item)
        response = sorted(
            (t for t in self.tasks.values() if t.host_id is not None), key=lambda t: (t.created, int(t.id))
        )
        for task in response:
            age = (now - task.created).total_seconds()
            if age > LIFESPAN.total_seconds() or (
                task.plan.outcome == "rotate" and age >= task.plan.pending_s + task.plan.run_s
            ):
                self._remove(task.id)
        response = [task for task in response if task.id in self.tasks]
        for task in response[: max(0, len(response) - self.config.max_tasks)]:
            self._remove(task.id)
        return (len(self.scheduled), len(self.removed)) != before

    def _remove(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)
        self.removed.append(task_id)

    def _create(self, item: Scheduled) -> None:
        area = {"upper": item.area.upper(), "lower": item.area.lower()}.get(self.config.area_case, item.area)
        task = self._add("", item.appear_at.replace(microsecond=0), item.host_id, item.incident_id, item.plan)
        name = f"[Response][{area}] {item.task_type} - {task.created.strftime(self.config.date_format)}"
        if self.config.id_mode == "incident":
            name += f" - {item.incident_id}"
        elif self.config.id_mode == "task":
            name += f" - {task.id}"
        task.name = name[:100]  # a DisplayName is at most 100 characters

    def as_json(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "config": self.config.as_json(),
            "tasks": [
                {
                    "id": task.id,
                    "name": task.name,
                    "created": wire.format_datetime(task.created),
                    "host": task.host_id,
                    "incident": task.incident_id,
                    "state": task.state(now),
                }
                for task in self.tasks.values()
            ],
            "scheduled": len(self.scheduled),
            "removed": self.removed,
        }


_books_lock = threading.Lock()


def task_book(state: Any) -> TaskBook:
    """The state's task book, created on first use."""
    with _books_lock:
        book = getattr(state, "task_book", None)
        if book is None:
            book = state.task_book = TaskBook()
        return book


def saved_book(state: Any) -> dict[str, Any] | None:
    """The task book as the state file keeps it (``--state``): the tasks and those still to appear.

    A restarted simulator (``make run`` again) then still holds the ``[Response]`` tasks of the
    incidents it kept, so the portal's open outcomes are not read as "task gone".
    """
    book = getattr(state, "task_book", None)
    if book is None:
        return None
    with book.lock:
        return {
            "next_id": book.next_id,
            "tasks": [
                {**task.__dict__, "created": task.created.isoformat(), "plan": task.plan.__dict__}
                for task in book.tasks.values()
                if task.host_id is not None
            ],
            "scheduled": [
                {**item.__dict__, "appear_at": item.appear_at.isoformat(), "plan": item.plan.__dict__}
                for item in book.scheduled
            ],
            "removed": list(book.removed),
        }


def restore_book(state: Any, saved: dict[str, Any]) -> None:
    """Put back what saved_book() kept (ValueError/KeyError/TypeError on a file it did not write)."""
    book = task_book(state)
    with book.lock:
        for item in saved.get("tasks", []):
            task = SimTask(
                id=str(item["id"]),
                name=str(item["name"]),
                created=dt.datetime.fromisoformat(item["created"]),
                host_id=item["host_id"],
                incident_id=item["incident_id"],
                plan=Plan(**item["plan"]),
            )
            book.tasks[task.id] = task
        book.scheduled = [
            Scheduled(**{**item, "appear_at": dt.datetime.fromisoformat(item["appear_at"]), "plan": Plan(**item["plan"])})
            for item in saved.get("scheduled", [])
        ]
        book.removed = [str(task_id) for task_id in saved.get("removed", [])]
        book.next_id = max(int(saved.get("next_id", book.next_id)), book.next_id)


def mfa_required(state: Any) -> bool:
    return task_book(state).config.require_mfa


def incident_added(state: Any, incident: Any) -> None:
    """AddIncident's hook: schedule the ``[Response]`` task, unless the host's plan is ``never``."""
    book = task_book(state)
    host_id = incident.attrs["KLHST_WKS_HOSTNAME"]
    try:
        envelope = json.loads(incident.attrs.get("KLINCDT_BODY") or "{}")
    except ValueError:
        return
    with book.lock:
        plan = book.plan_for(host_id)
        if plan.outcome == "never":
            return
        book.scheduled.append(
            Scheduled(
                appear_at=incident.received + dt.timedelta(seconds=plan.delay_s),
                host_id=host_id,
                incident_id=incident.id,
                task_type=str(envelope.get("task", "")),
                area=str(envelope.get("responseEventIncidentArea", "")),
                plan=plan,
            )
        )


# --- control ---------------------------------------------------------------------------------


def _plan(spec: Any, base: Plan, where: str) -> Plan:
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be an object")
    unknown = set(spec) - set(PLAN_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}; known: {', '.join(PLAN_KEYS)}")
    values = {**base.__dict__, **spec}
    if values["outcome"] not in OUTCOMES:
        raise ValueError(f"{where}.outcome must be one of {', '.join(OUTCOMES)}")
    if not isinstance(values["reason"], str):
        raise ValueError(f"{where}.reason must be a string")
    for name in ("delay_s", "pending_s", "run_s"):
        if type(values[name]) not in (int, float) or values[name] < 0:
            raise ValueError(f"{where}.{name} must be a non-negative number of seconds")
    return Plan(**values)


def configure(book: TaskBook, spec: Any) -> TasksConfig:
    if not isinstance(spec, dict):
        raise ValueError("the tasks config must be a JSON object")
    if not spec:
        with book.lock:
            book.config = TasksConfig()
            return book.config
    config = book.config
    known = {*PLAN_KEYS, "hosts", "area_case", "id_mode", "date_format", "max_tasks", "deny_tasks", "require_mfa"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    plan = _plan({key: spec[key] for key in PLAN_KEYS if key in spec}, config.plan, "config")
    hosts = dict(config.hosts)
    for host_id, host_spec in (spec.get("hosts") or {}).items():
        hosts[host_id] = _plan(host_spec, plan, f"hosts.{host_id}")
    choices = {"area_case": ("as-is", "upper", "lower"), "id_mode": ("incident", "task", "none")}
    for name, allowed in choices.items():
        if name in spec and spec[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    if "date_format" in spec and not (isinstance(spec["date_format"], str) and spec["date_format"]):
        raise ValueError("date_format must be a strftime format")
    if "max_tasks" in spec and (type(spec["max_tasks"]) is not int or spec["max_tasks"] < 1):
        raise ValueError("max_tasks must be a positive integer")
    for name in ("deny_tasks", "require_mfa"):
        if name in spec and type(spec[name]) is not bool:
            raise ValueError(f"{name} must be true or false")
    with book.lock:
        book.config = TasksConfig(
            plan=plan,
            hosts=hosts,
            area_case=spec.get("area_case", config.area_case),
            id_mode=spec.get("id_mode", config.id_mode),
            date_format=spec.get("date_format", config.date_format),
            max_tasks=spec.get("max_tasks", config.max_tasks),
            deny_tasks=spec.get("deny_tasks", config.deny_tasks),
            require_mfa=spec.get("require_mfa", config.require_mfa),
        )
        return book.config


def control(handler: Any, verb: str, name: str) -> bool:
    """``/_simulator/tasks``; False when the path is not this module's."""
    if name != "tasks":
        return False
    state = handler.state
    book = task_book(state)
    if verb == "GET":
        with book.lock:
            changed = book.materialize(state.now())
            answer = book.as_json(state.now())
        if changed:
            state.save()  # tasks that appeared keep their ids across a restart (--state)
        handler._send(200, answer)
        return True
    if verb == "POST":
        try:
            config = configure(book, json.loads(handler._body() or b"{}"))
        except ValueError as error:
            handler._send(400, {"error": str(error)})
            return True
        handler._send(200, config.as_json())
        return True
    return False


# --- the Open API calls ----------------------------------------------------------------------


def _simulator():
    # The call-level checks live in calls.py, which imports neither this module nor the server.
    return calls


def _task_arg(args: dict[str, Any], book: TaskBook) -> SimTask:
    sim = _simulator()
    task_id = args["strTask"]
    if isinstance(task_id, int) and not isinstance(task_id, bool):
        task_id = str(task_id)  # lenient: a number where KSC documents a decimal string
    task_id = sim._str(task_id, "strTask")
    task = book.tasks.get(task_id.strip())
    if task is None:
        raise sim.PxgError(sim.ERR_NOT_FOUND, f"Task {task_id} not found")
    return task


def reset_tasks_iterator(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    sim = _simulator()
    names = ("nGroupId", "bGroupIdSignificant", "strProductName", "strVersion", "strComponentName", "strInstanceId")
    sim._only(args, (), (*names, "strTaskName", "bIncludeSupergroups"))
    name = args.get("strTaskName")
    if name is not None and not isinstance(name, str):
        raise sim.bad_param("strTaskName must be a string or null")
    iterator = "ti" + secrets.token_hex(12)
    ids = [task.id for task in sorted(book.tasks.values(), key=lambda t: int(t.id)) if not name or task.name == name]
    book.iterators[iterator] = ids
    return {"strTaskIteratorId": iterator}


def _iterator(book: TaskBook, args: dict[str, Any], name: str, store: dict[str, Any]) -> str:
    sim = _simulator()
    sim._only(args, (name,))
    key = sim._str(args[name], name)
    if key not in store:
        raise sim.PxgError(sim.ERR_NOT_FOUND, f"Iterator {key} not found")
    return key


def get_next_task(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    key = _iterator(book, args, "strTaskIteratorId", book.iterators)
    remaining = book.iterators[key]
    while remaining:
        task = book.tasks.get(remaining.pop(0))
        if task is not None:  # rotated away since the walk began
            return {"pTaskData": {"TASK_UNIQUE_ID": task.id, "TASK_INFO_PARAMS": wire.encode_value(task.info())}}
    return {"pTaskData": {}}


def release_tasks_iterator(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    key = _iterator(book, args, "strTaskIteratorId", book.iterators)
    del book.iterators[key]
    return {}


def _host_tasks(book: TaskBook, state: Any, host_id: str) -> list[SimTask]:
    sim = _simulator()
    if host_id not in state.hosts:
        raise sim.PxgError(sim.ERR_NOT_FOUND, f"Host {host_id} not found")
    return [task for task in book.tasks.values() if task.host_id in (None, host_id)]


def get_all_tasks_of_host(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    sim = _simulator()
    sim._only(args, ("strHostName",), ("strDomainName",))
    host_id = sim._str(args["strHostName"], "strHostName")
    return {"PxgRetVal": [task.id for task in _host_tasks(book, state, host_id)]}


def get_host_tasks(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    sim = _simulator()
    sim._only(args, ("strHostName",))
    host_id = sim._str(args["strHostName"], "strHostName")
    rows = [{"TASK_UNIQUE_ID": task.id, **task.info()} for task in _host_tasks(book, state, host_id)]
    return {"PxgRetVal": [wire.encode_value(row) for row in rows]}


def get_task(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    _simulator()._only(args, ("strTask",))
    task = _task_arg(args, book)
    return {"PxgRetVal": wire.encode_params(task.info())}


STATE_BITS = {"pending": "1", "running": "2", "complete": "4", "warn": "8", "fail": "16"}


def get_task_statistics(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    _simulator()._only(args, ("strTask",))
    task = _task_arg(args, book)
    counts = {bit: 0 for bit in ("1", "2", "4", "8", "16", "32", "64")}
    if task.host_id is not None:
        counts[STATE_BITS[task.state(state.now())]] = 1
    return {"PxgRetVal": {**counts, "KLTSK_TASK_STAT_TOTAL": 1 if task.host_id else 0}}


def _history(task: SimTask, now: dt.datetime) -> list[dict[str, Any]]:
    """KLPRCI_TaskState events of the task so far, oldest first."""
    records: list[dict[str, Any]] = []
    current = task.state(now)
    started = task.created + dt.timedelta(seconds=task.plan.pending_s)
    if current != "pending":
        records.append({"task_new_state": 1, "rise_time": started, "state_descr": ""})
    if current in ("complete", "warn", "fail"):
        ended = started + dt.timedelta(seconds=task.plan.run_s)
        new_state = 3 if current == "fail" else 4
        records.append({"task_new_state": new_state, "rise_time": ended, "state_descr": task.plan.reason})
    for index, record in enumerate(records):
        record.update(event_type="KLPRCI_TaskState", event_id=int(task.id) * 100 + index, hostname=task.host_id or "")
    return records


def get_task_history(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    sim = _simulator()
    sim._only(args, ("strTask", "pFields2Return"), ("pSortFields", "strHostName", "pFilter"))
    task = _task_arg(args, book)
    fields = args["pFields2Return"]
    if not isinstance(fields, list) or not all(isinstance(item, str) for item in fields):
        raise sim.bad_param("pFields2Return must be an array of field names")
    sort = args.get("pSortFields") or []
    if not isinstance(sort, list):
        raise sim.bad_param("pSortFields must be an array")
    newest_first = False
    for item in sort:
        if not (isinstance(item, dict) and item.get("type") == "params" and isinstance(item.get("value"), dict)):
            raise sim.bad_param("pSortFields items must be params values {Name, Asc}")
        if item["value"].get("Name") == "rise_time":
            newest_first = item["value"].get("Asc") is False
    host = args.get("strHostName") or ""
    wanted_type = (args.get("pFilter") or {}).get("event_type") if isinstance(args.get("pFilter"), dict) else None
    records = [
        record
        for record in _history(task, state.now())
        if (not host or record["hostname"] == host) and (not wanted_type or record["event_type"] == wanted_type)
    ]
    if newest_first:
        records.reverse()
    iterator = "ei" + secrets.token_hex(12)
    book.histories[iterator] = [{name: record[name] for name in fields if name in record} for record in records]
    return {"strIteratorId": iterator}


def get_record_count(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    key = _iterator(book, args, "strIteratorId", book.histories)
    return {"PxgRetVal": len(book.histories[key])}


def get_record_range(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    sim = _simulator()
    sim._only(args, ("strIteratorId", "nStart", "nEnd"))
    key = _iterator(book, {"strIteratorId": args["strIteratorId"]}, "strIteratorId", book.histories)
    start, end = sim._int(args["nStart"], "nStart"), sim._int(args["nEnd"], "nEnd")
    if start < 0 or end < start:
        raise sim.bad_param("nStart and nEnd must satisfy 0 <= nStart <= nEnd")
    rows = book.histories[key][start:end]
    return {"pParamsEvents": {"KLEVP_EVENT_RANGE_ARRAY": [wire.encode_value(row) for row in rows]}}


def release_iterator(book: TaskBook, state: Any, args: dict[str, Any]) -> dict[str, Any]:
    key = _iterator(book, args, "strIteratorId", book.histories)
    del book.histories[key]
    return {}


_CALLS = {
    "Tasks.ResetTasksIterator": reset_tasks_iterator,
    "Tasks.GetNextTask": get_next_task,
    "Tasks.ReleaseTasksIterator": release_tasks_iterator,
    "Tasks.GetAllTasksOfHost": get_all_tasks_of_host,
    "Tasks.GetTask": get_task,
    "Tasks.GetTaskStatistics": get_task_statistics,
    "Tasks.GetTaskHistory": get_task_history,
    "HostGroup.GetHostTasks": get_host_tasks,
    "EventProcessing.GetRecordCount": get_record_count,
    "EventProcessing.GetRecordRange": get_record_range,
    "EventProcessing.ReleaseIterator": release_iterator,
}


def handles(method: str) -> bool:
    return method in _CALLS


def dispatch(state: Any, method: str, args: dict[str, Any]) -> dict[str, Any]:
    """Carry out one tasks-side call on the simulator's state (PxgError on refusal)."""
    sim = _simulator()
    book = task_book(state)
    with book.lock:
        if book.config.deny_tasks and not method.startswith("HostGroup."):
            raise sim.PxgError(ERR_ACCESS_DENIED, f"Access denied: the account has no right to call {method}")
        changed = book.materialize(state.now())
        answer = _CALLS[method](book, state, args)
    if changed:
        state.save()  # tasks that appeared keep their ids across a restart (--state)
    return answer
