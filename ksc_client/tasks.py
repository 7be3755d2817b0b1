"""The KSC calls that follow the ``[Response]`` task KES creates for an incident (docs/ksc-wire.md, section 9;
docs/outcomes.md for what the portal makes of them).

Each function takes anything with the client's ``call(method, args)`` (a
KscClient, or the sweep's budgeted wrapper around one), sends KlAkOAPI's
parameter names, and reads the answer defensively: where the spec marks a
shape *unknown*, an odd answer is skipped or raised as KscProtocolError, never
guessed at.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ksc_client import wire
from ksc_client.attributes import (
    EVENT_RANGE,
    HISTORY_FIELDS,
    TASK_CREATION_DATE,
    TASK_DISPLAY_NAME,
    TASK_ID,
    TASK_INFO,
)
from ksc_client.errors import KscCallError, KscProtocolError

# GetTaskStatistics keys: host counts per state bit (as strings).
STATE_PENDING = "1"
STATE_RUNNING = "2"
STATE_COMPLETED = "4"
STATE_WARNING = "8"
STATE_FAILED = "16"
STATE_SCHEDULED = "32"
STATE_PAUSED = "64"

# task_new_state values of KLPRCI_TaskState events.
EVENT_RUNNING, EVENT_SUSPENDED, EVENT_FAILED, EVENT_COMPLETED = 1, 2, 3, 4

# KSC's "object not found" code (the spec's example); a task rotated away answers it.
ERR_NOT_FOUND = 1183


# The documented DisplayName of the task KES makes of an incident: "[Response][<area>] <task type> - <date>
# <time> - <ID>"; named groups area, task and id. The portal's KSC_RESPONSE_TASK_PATTERN defaults to it.
RESPONSE_TASK_PATTERN = re.compile(
    r"^\[Response\]\[(?P<area>[^\]]*)\]\s*(?P<task>.+?)\s+-\s+.*?(?:\s+-\s+(?P<id>\d+))?\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class ResponseTaskName:
    """What a ``[Response]`` task's name says: the incident area, the task type, the incident id (each may lack)."""

    area: str | None
    task: str | None
    incident_id: int | None


def parse_task_name(name: str, pattern: re.Pattern[str] = RESPONSE_TASK_PATTERN) -> ResponseTaskName | None:
    """The parts of a ``[Response]`` task's DisplayName, or None when it is not one.

    ``pattern`` has the named groups area, task and id (any may be absent).
    """
    match = pattern.match(name or "")
    if match is None:
        return None
    parts = match.groupdict()
    number = parts.get("id")
    return ResponseTaskName(
        area=parts.get("area"),
        task=parts.get("task"),
        incident_id=int(number) if number and number.isdigit() else None,
    )


class Caller(Protocol):
    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class KscTask:
    """One task as the task iterator or GetTask shows it."""

    id: str
    name: str
    created: dt.datetime | None


def _task_from_info(task_id: str, info: Any) -> KscTask:
    info = info if isinstance(info, dict) else {}
    name = info.get(TASK_DISPLAY_NAME)
    created = info.get(TASK_CREATION_DATE)
    return KscTask(
        id=task_id,
        name=name if isinstance(name, str) else "",
        created=created if isinstance(created, dt.datetime) else None,
    )


def _task_id(value: Any) -> str | None:
    # Documented as a string; an integer id is accepted and written the same way.
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int)) and str(value).strip():
        return str(value).strip()
    return None


def iterate_tasks(client: Caller, *, name: str | None = None, limit: int | None = None) -> Iterator[KscTask]:
    """Every task of every group (Kaspersky's sample: group 0, significant), through one iterator.

    ``name`` narrows to one display name (KSC's ``strTaskName``). The iterator is
    released even when the caller stops early. ``limit`` bounds GetNextTask calls.
    """
    answer = client.call(
        "Tasks.ResetTasksIterator",
        {
            "nGroupId": 0,
            "bGroupIdSignificant": True,
            "strProductName": None,
            "strVersion": None,
            "strComponentName": None,
            "strInstanceId": None,
            "strTaskName": name,
            "bIncludeSupergroups": True,
        },
    )
    iterator = answer.get("strTaskIteratorId")
    if not isinstance(iterator, str) or not iterator:
        raise KscProtocolError("KSC's answer to Tasks.ResetTasksIterator holds no strTaskIteratorId.")
    calls = 0
    try:
        while limit is None or calls < limit:
            calls += 1
            data = wire.decode_value(client.call("Tasks.GetNextTask", {"strTaskIteratorId": iterator}).get("pTaskData"))
            if not isinstance(data, dict) or not data:
                return  # exhausted
            task_id = _task_id(data.get(TASK_ID))
            if task_id is None:
                continue  # a record without an id cannot be followed
            yield _task_from_info(task_id, data.get(TASK_INFO))
    finally:
        try:
            client.call("Tasks.ReleaseTasksIterator", {"strTaskIteratorId": iterator})
        except Exception:  # KSC frees it eventually; a failed release must not hide the walk's result
            pass


def tasks_of_host(client: Caller, host_id: str, domain: str = "") -> set[str]:
    """``Tasks.GetAllTasksOfHost``: the ids of the tasks that include the host."""
    answer = client.call("Tasks.GetAllTasksOfHost", {"strDomainName": domain, "strHostName": host_id})
    value = wire.decode_value(answer.get("PxgRetVal"))
    if value is None:
        return set()
    if not isinstance(value, list):
        raise KscProtocolError("KSC's answer to Tasks.GetAllTasksOfHost is not an array of task ids.")
    return {task_id for task_id in (_task_id(item) for item in value) if task_id}


def _call_unless_gone(client: Caller, method: str, task_id: str) -> dict[str, Any] | None:
    """A per-task call's answer; None when KSC answers "not found" (the task was rotated away or deleted)."""
    try:
        return client.call(method, {"strTask": task_id})
    except KscCallError as error:
        if error.code == ERR_NOT_FOUND:
            return None
        raise


def get_task(client: Caller, task_id: str) -> KscTask | None:
    """``Tasks.GetTask``; None when KSC no longer has the task (rotated away or deleted)."""
    answer = _call_unless_gone(client, "Tasks.GetTask", task_id)
    if answer is None:
        return None
    return _task_from_info(task_id, wire.decode_value(answer.get("PxgRetVal")))


def task_statistics(client: Caller, task_id: str) -> dict[str, int] | None:
    """``Tasks.GetTaskStatistics``: host counts keyed by state bit; None when the task is gone."""
    answer = _call_unless_gone(client, "Tasks.GetTaskStatistics", task_id)
    if answer is None:
        return None
    value = wire.decode_value(answer.get("PxgRetVal"))
    if not isinstance(value, dict):
        raise KscProtocolError("KSC's answer to Tasks.GetTaskStatistics holds no statistics.")
    # Other keys may appear (docs/ksc-wire.md, section 9): keep only counts.
    return {
        str(key): int(count) for key, count in value.items() if isinstance(count, int) and not isinstance(count, bool)
    }


def task_history(client: Caller, task_id: str, host_id: str = "", *, limit: int = 20) -> list[dict[str, Any]]:
    """The task's ``KLPRCI_TaskState`` events, newest first (GetTaskHistory, then EventProcessing paging)."""
    answer = client.call(
        "Tasks.GetTaskHistory",
        {
            "strTask": task_id,
            "pFields2Return": list(HISTORY_FIELDS),
            "pSortFields": [wire.encode_value({"Name": "rise_time", "Asc": False})],
            "strHostName": host_id,
            "pFilter": {"event_type": "KLPRCI_TaskState"},
        },
    )
    iterator = answer.get("strIteratorId")
    if not isinstance(iterator, str) or not iterator:
        raise KscProtocolError("KSC's answer to Tasks.GetTaskHistory holds no strIteratorId.")
    try:
        count = wire.decode_value(
            client.call("EventProcessing.GetRecordCount", {"strIteratorId": iterator}).get("PxgRetVal")
        )
        if not isinstance(count, int) or count <= 0:
            return []
        events = wire.decode_value(
            client.call(
                "EventProcessing.GetRecordRange",
                {"strIteratorId": iterator, "nStart": 0, "nEnd": min(count, limit)},
            ).get("pParamsEvents")
        )
    finally:
        try:
            client.call("EventProcessing.ReleaseIterator", {"strIteratorId": iterator})
        except Exception:  # as for the task iterator: never hide the answer
            pass
    records = events.get(EVENT_RANGE) if isinstance(events, dict) else None
    if not isinstance(records, list):
        return []
    return [record for record in records if isinstance(record, dict)]


def failure_reason(history: list[dict[str, Any]]) -> str:
    """KSC's words for why the task failed or warned: the newest ``state_descr`` in the history."""
    for record in history:
        text = record.get("state_descr")
        if isinstance(text, str) and text.strip():
            return text.strip()
    return ""
