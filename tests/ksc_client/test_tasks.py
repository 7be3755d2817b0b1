"""The tasks calls' contract (ksc_client.tasks): both backends against the simulator's tasks side.

Each test runs with the builtin client and with Kaspersky's KlAkOAPI behind
our adapter (skipped with the reason printed when it is not installed).
"""

from __future__ import annotations

import datetime as dt

import pytest

from ksc_client import tasks as ksc_tasks
from ksc_client.errors import KscCallError
from ksc_simulator.tasks import ERR_ACCESS_DENIED
from tests.support import ksc_payloads


def add(ksc, host_id: str, task: str = "isolateHost", params=None) -> int:
    added = dt.datetime.now(dt.UTC).replace(microsecond=0)
    incident = ksc.add_incident(ksc_payloads.incident_data(task, host_id, params or {"action": 1}, added))
    return incident


def response_tasks(ksc) -> list[ksc_tasks.KscTask]:
    return [task for task in ksc_tasks.iterate_tasks(ksc) if task.name.startswith("[Response]")]


def test_the_walk_lists_the_response_task_named_as_documented(direct_ksc, ksc_simulator):
    host = ksc_simulator.hosts()[0]["KLHST_WKS_HOSTNAME"]
    incident = add(direct_ksc, host)
    walked = list(ksc_tasks.iterate_tasks(direct_ksc))
    response = [task for task in walked if task.name.startswith("[Response]")]
    assert len(response) == 1
    assert len(walked) > 1, "ordinary tasks are listed too, so a matcher has to filter"
    task = response[0]
    assert task.name.startswith("[Response][Kuma] isolateHost - ")
    assert task.name.endswith(f" - {incident}")
    assert isinstance(task.created, dt.datetime) and task.created.tzinfo is not None
    # The iterator was released: the simulator holds none.
    assert ksc_simulator.simulator.state.task_book.iterators == {}


def test_the_host_task_list_holds_the_task_only_for_its_host(direct_ksc, ksc_simulator):
    hosts = [host["KLHST_WKS_HOSTNAME"] for host in ksc_simulator.hosts()[:2]]
    add(direct_ksc, hosts[0])
    task = response_tasks(direct_ksc)[0]
    assert task.id in ksc_tasks.tasks_of_host(direct_ksc, hosts[0])
    assert task.id not in ksc_tasks.tasks_of_host(direct_ksc, hosts[1])


def test_statistics_and_history_carry_the_failure_and_ksc_reason(direct_ksc, ksc_simulator):
    ksc_simulator.configure_tasks({"outcome": "fail", "reason": "The file is locked by another process"})
    host = ksc_simulator.hosts()[0]["KLHST_WKS_HOSTNAME"]
    add(direct_ksc, host, "deleteFile", {"path": "C:\\Temp\\x.exe"})
    task = response_tasks(direct_ksc)[0]
    stats = ksc_tasks.task_statistics(direct_ksc, task.id)
    assert stats[ksc_tasks.STATE_FAILED] == 1 and stats[ksc_tasks.STATE_COMPLETED] == 0
    history = ksc_tasks.task_history(direct_ksc, task.id, host)
    assert [record["task_new_state"] for record in history] == [3, 1], "newest first, as asked"
    assert ksc_tasks.failure_reason(history) == "The file is locked by another process"
    assert ksc_simulator.simulator.state.task_book.histories == {}, "the event iterator was released"


def test_a_pending_task_counts_as_pending(direct_ksc, ksc_simulator):
    ksc_simulator.configure_tasks({"pending_s": 3600})
    add(direct_ksc, ksc_simulator.hosts()[0]["KLHST_WKS_HOSTNAME"])
    stats = ksc_tasks.task_statistics(direct_ksc, response_tasks(direct_ksc)[0].id)
    assert stats[ksc_tasks.STATE_PENDING] == 1 and stats[ksc_tasks.STATE_RUNNING] == 0


def test_a_rotated_task_is_gone_for_get_task_and_statistics(direct_ksc, ksc_simulator):
    ksc_simulator.configure_tasks({"max_tasks": 1})
    host = ksc_simulator.hosts()[0]["KLHST_WKS_HOSTNAME"]
    add(direct_ksc, host)
    first = response_tasks(direct_ksc)[0]
    assert ksc_tasks.get_task(direct_ksc, first.id).name == first.name
    add(direct_ksc, host)
    assert [task.id for task in response_tasks(direct_ksc)] != [first.id]
    assert ksc_tasks.get_task(direct_ksc, first.id) is None
    assert ksc_tasks.task_statistics(direct_ksc, first.id) is None


def test_a_never_created_task_does_not_appear(direct_ksc, ksc_simulator):
    host = ksc_simulator.hosts()[0]["KLHST_WKS_HOSTNAME"]
    ksc_simulator.configure_tasks({"hosts": {host: {"outcome": "never"}}})
    add(direct_ksc, host)
    assert response_tasks(direct_ksc) == []


def test_an_account_without_rights_to_tasks_gets_a_ksc_error(direct_ksc, ksc_simulator):
    ksc_simulator.configure_tasks({"deny_tasks": True})
    with pytest.raises(KscCallError) as raised:
        list(ksc_tasks.iterate_tasks(direct_ksc))
    assert raised.value.code == ERR_ACCESS_DENIED
    assert "Access denied" in str(raised.value)


def test_the_simulator_refuses_a_bad_tasks_config(ksc_simulator):
    import requests

    for bad in ({"outcome": "explode"}, {"hosts": {"x": {"delay_s": -1}}}, {"max_tasks": 0}, {"colour": 1}):
        with pytest.raises(requests.HTTPError) as raised:
            ksc_simulator.configure_tasks(bad)
        assert raised.value.response.status_code == 400
