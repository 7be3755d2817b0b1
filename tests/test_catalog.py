"""The task catalog: what each task type accepts and refuses, and who must approve it."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from responses import catalog
from tests.support.catalog_cases import MD5, REFUSED, SHA256, VALID


@pytest.mark.parametrize("task", catalog.TASK_NAMES)
def test_it_accepts_a_valid_request_of_each_task(task):
    assert catalog.clean_params(task, VALID[task])


@pytest.mark.parametrize("task", catalog.TASK_NAMES)
def test_every_task_has_refusal_cases(task):
    assert sum(1 for name, *_ in REFUSED if name == task) >= 3


@pytest.mark.parametrize(
    ("task", "params", "field", "fragment"), REFUSED, ids=[f"{r[0]}-{r[2] or 'all'}-{i}" for i, r in enumerate(REFUSED)]
)
def test_it_refuses_bad_params_naming_the_field(task, params, field, fragment):
    with pytest.raises(catalog.ParamErrors) as refused:
        catalog.clean_params(task, params)
    assert field in refused.value.errors, refused.value.errors
    assert any(fragment in message for message in refused.value.errors[field]), refused.value.errors


def test_it_refuses_an_unknown_task():
    with pytest.raises(catalog.ParamErrors) as refused:
        catalog.clean_params("formatDisk", {})
    assert "Unknown task type" in refused.value.errors["task"][0]


def test_it_normalises_hashes_to_lower_case():
    cleaned = catalog.clean_params("getFile", {"md5hash": MD5.upper(), "sha256hash": SHA256.upper()})
    assert cleaned == {"md5hash": MD5, "sha256hash": SHA256, "path": ""}


def test_it_reports_every_bad_field_at_once():
    with pytest.raises(catalog.ParamErrors) as refused:
        catalog.clean_params("deleteFile", {"md5hash": "x", "sha256hash": "y", "extra": 1})
    assert set(refused.value.errors) == {"md5hash", "sha256hash", "extra"}


def test_it_refuses_an_archive_that_unpacks_too_large():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.ioc", b"\0" * (101 * 1024 * 1024))
    ioc = base64.b64encode(buffer.getvalue()).decode()
    assert len(buffer.getvalue()) < catalog.MAX_IOC_ZIP_BYTES
    with pytest.raises(catalog.ParamErrors) as refused:
        catalog.clean_params("iocScan", {**VALID["iocScan"], "ioc": ioc})
    assert "more than 100 MiB" in refused.value.errors["ioc"][0]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "required"), (None, "required"), ("host\x07", "control characters"), (" h", "spaces"), ("h" * 257, "longer")],
)
def test_it_refuses_bad_target_hosts(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        catalog.clean_target_host(value)


def test_it_accepts_a_ksc_host_id():
    assert catalog.clean_target_host("0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b") == "0f3b2a4c-1d2e-4f50-9a6b-7c8d9e0f1a2b"


class TestApprovalsRequired:
    @pytest.mark.parametrize(
        ("task", "params", "expected"),
        [
            ("getFile", VALID["getFile"], 0),
            ("onDemandScan", VALID["onDemandScan"], 0),
            ("iocScan", VALID["iocScan"], 0),  # scan only
            ("iocScan", {**VALID["iocScan"], "isolateHost": True}, 1),
            ("iocScan", {**VALID["iocScan"], "quarantineObject": True}, 1),
            ("deleteFile", VALID["deleteFile"], 1),
            ("quarantineFile", VALID["quarantineFile"], 1),
            ("startProcess", VALID["startProcess"], 1),
            ("terminateProcess", VALID["terminateProcess"], 1),
            ("isolateHost", {"action": 1}, 1),
            ("isolateHost", {"action": 0}, 1),  # releasing isolation changes the endpoint too
            ("preventExecution", VALID["preventExecution"], 1),
        ],
    )
    def test_it_requires_approval_for_what_changes_the_endpoint(self, task, params, expected):
        assert catalog.approvals_required(task, catalog.clean_params(task, params)) == expected

    def test_the_default_count_is_a_setting(self, settings):
        settings.APPROVALS_REQUIRED = 2
        assert catalog.approvals_required("isolateHost", {"action": 1}) == 2
        assert catalog.approvals_required("getFile", VALID["getFile"]) == 0

    def test_a_per_task_override_wins(self, settings):
        settings.APPROVALS_REQUIRED_BY_TASK = {"getFile": 1, "isolateHost": 3}
        assert catalog.approvals_required("getFile", VALID["getFile"]) == 1
        assert catalog.approvals_required("isolateHost", {"action": 0}) == 3
        assert catalog.approvals_required("deleteFile", VALID["deleteFile"]) == 1


class TestJsonSchema:
    def test_it_derives_the_schema_from_the_fields(self):
        schema = catalog.params_json_schema("deleteFile")
        assert schema["additionalProperties"] is False
        assert list(schema["properties"]) == ["md5hash", "sha256hash", "path", "searchInSubfolders"]
        assert schema["required"] == []
        assert schema["properties"]["searchInSubfolders"]["type"] == "boolean"

    def test_on_demand_scan_is_an_array(self):
        schema = catalog.params_json_schema("onDemandScan")
        assert schema["type"] == "array" and schema["maxItems"] == 16
        assert schema["items"]["properties"]["type"]["enum"] == [14, 15, 16, 17, 18, 22, 23, 24, 25]
        assert schema["items"]["required"] == ["enabled", "path", "recursive", "type"]

    def test_isolate_host_action_is_an_enum(self):
        assert catalog.params_json_schema("isolateHost")["properties"]["action"] == {
            "description": "1 turns network isolation on, 0 turns it off.",
            "type": "integer",
            "enum": [0, 1],
        }


@pytest.mark.parametrize("task", catalog.TASK_NAMES)
def test_every_task_describes_itself_in_plain_words(task):
    words = catalog.TASKS[task].describe(catalog.clean_params(task, VALID[task]))
    assert isinstance(words, str) and len(words) > 5
