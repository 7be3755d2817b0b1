"""The approval rule of each task type is data in the catalog, checked when the catalog loads."""

from __future__ import annotations

import pytest

from responses import catalog


def test_each_task_declares_its_rule():
    rules = {name: (task.approval, task.approval_when) for name, task in catalog.TASKS.items()}
    assert rules == {
        "getFile": (catalog.NEVER, ()),
        "deleteFile": (catalog.ALWAYS, ()),
        "quarantineFile": (catalog.ALWAYS, ()),
        "iocScan": (catalog.DEPENDS_ON_PARAMS, ("isolateHost", "quarantineObject")),
        "startProcess": (catalog.ALWAYS, ()),
        "terminateProcess": (catalog.ALWAYS, ()),
        "isolateHost": (catalog.ALWAYS, ()),
        "preventExecution": (catalog.ALWAYS, ()),
        "onDemandScan": (catalog.NEVER, ()),
    }


@pytest.mark.parametrize(
    "params, changes",
    [
        ({"isolateHost": False, "quarantineObject": False, "scanCriticalAreas": True}, False),
        ({"isolateHost": True, "quarantineObject": False, "scanCriticalAreas": False}, True),
        ({"isolateHost": False, "quarantineObject": True, "scanCriticalAreas": False}, True),
    ],
)
def test_an_ioc_scan_changes_the_endpoint_only_when_it_isolates_or_removes(params, changes):
    assert catalog.TASKS["iocScan"].changes_endpoint(params) is changes


def test_the_four_file_tasks_share_one_declaration():
    for name in ("getFile", "deleteFile", "quarantineFile", "terminateProcess"):
        task = catalog.TASKS[name]
        assert [spec.name for spec in task.fields][:3] == ["md5hash", "sha256hash", "path"]
        assert task.checks and task.checks[0]({}), f"{name} must refuse a file named by nothing"
        assert "C:\\x.exe" in task.describe({"path": "C:\\x.exe", "md5hash": "", "sha256hash": ""})


@pytest.mark.parametrize(
    "approval, when, message",
    [
        ("sometimes", (), "approval must be one of"),
        (catalog.DEPENDS_ON_PARAMS, (), "approval_when names the switches"),
        (catalog.ALWAYS, ("flag",), "approval_when names the switches"),
        (catalog.DEPENDS_ON_PARAMS, ("path",), "not a yes/no field"),
    ],
)
def test_a_wrong_declaration_stops_the_catalog_loading(approval, when, message):
    fields = (
        catalog.Field("flag", catalog.BOOL, "Flag", "A switch."),
        catalog.Field("path", catalog.PATH, "Path", "A path."),
    )
    with pytest.raises(ValueError, match=message):
        catalog.TaskType(
            name="broken",
            label="Broken",
            summary="",
            fields=fields,
            approval=approval,
            describe=str,
            approval_when=when,
        )
