"""Risk levels of a request (responses/risk.py): per task, raised by CRITICAL_GROUPS, and its system check."""

from __future__ import annotations

import pytest

from responses import catalog, checks, ioc_contents, risk
from tests.support.openioc import ioc_zip_b64, openioc


def test_every_catalog_task_is_rated():
    assert set(risk.TASK_RISK) == set(catalog.TASKS)


@pytest.mark.parametrize(
    ("task", "params", "level"),
    [
        ("getFile", {"path": r"C:\x"}, risk.LOW),
        ("onDemandScan", [], risk.LOW),
        ("iocScan", {"isolateHost": False, "quarantineObject": False}, risk.LOW),
        ("iocScan", {"isolateHost": True, "quarantineObject": False}, risk.MEDIUM),
        ("deleteFile", {"path": r"C:\x"}, risk.MEDIUM),
        ("isolateHost", {"action": 1}, risk.MEDIUM),
        ("isolateHost", {"action": 0}, risk.MEDIUM),
        ("startProcess", {"executablePath": r"C:\x.exe"}, risk.HIGH),
    ],
)
def test_each_task_has_its_level_in_words(settings, task, params, level):
    settings.CRITICAL_GROUPS = []
    judged = risk.of(task, params, "Workstations")
    assert judged.level == level
    assert judged.words == {"low": "Low risk", "medium": "Medium risk", "high": "High risk"}[level]
    assert judged.badge == {"low": "badge-green", "medium": "badge-amber", "high": "badge-red"}[level]
    assert judged.reasons and judged.reasons[0].startswith(("Changes the endpoint", "Does not change the endpoint"))


def test_deleting_a_file_is_above_a_scan_and_starting_a_process_above_both(settings):
    settings.CRITICAL_GROUPS = []
    levels = [risk.LEVELS.index(risk.of(task, params, "").level) for task, params in (
        ("iocScan", {}), ("deleteFile", {"path": "C:\\x"}), ("startProcess", {"executablePath": "C:\\x.exe"})
    )]
    assert levels == sorted(levels) and len(set(levels)) == 3


def test_a_critical_group_raises_a_change_by_one_level_any_case_and_by_pattern(settings):
    settings.CRITICAL_GROUPS = ["Domain Controllers", "Servers*"]
    dc = risk.of("deleteFile", {"path": r"C:\x"}, "domain controllers")
    assert dc.level == risk.HIGH and dc.high
    assert "critical group" in dc.reasons[-1] and "Domain Controllers" in dc.reasons[-1]
    assert risk.of("isolateHost", {"action": 1}, "Servers Tokyo").level == risk.HIGH
    assert risk.of("isolateHost", {"action": 1}, "Laptops").level == risk.MEDIUM
    # Reading a file changes nothing, even on a domain controller.
    assert risk.of("getFile", {"path": r"C:\x"}, "Domain Controllers").level == risk.LOW


def test_an_unknown_group_counts_as_critical_only_while_critical_groups_are_named(settings):
    settings.CRITICAL_GROUPS = ["Domain Controllers"]
    unknown = risk.of("deleteFile", {"path": r"C:\x"}, None)
    assert unknown.level == risk.HIGH and "may be a critical group" in unknown.reasons[-1]
    settings.CRITICAL_GROUPS = []
    assert risk.of("deleteFile", {"path": r"C:\x"}, None).level == risk.MEDIUM


def test_a_task_nobody_rated_is_high():
    assert risk.of("formatDisk", {}, "Laptops").level == risk.HIGH


@pytest.mark.parametrize(
    ("patterns", "words"),
    [
        (["Servers", " "], "item 2 is empty"),
        (["Serv\x00ers"], "control character"),
        (["Servers[12"], "unclosed"),
        (["*"], "matches every group"),
        (["x" * 300], "longer than 256"),
        ("Servers", "must be a list"),
    ],
)
def test_critical_groups_check_refuses_bad_patterns_with_their_reason(settings, patterns, words):
    settings.CRITICAL_GROUPS = patterns
    errors = checks.critical_groups_are_patterns()
    assert len(errors) == 1 and errors[0].id == "responses.E003"
    assert words in errors[0].msg


def test_critical_groups_check_accepts_names_and_patterns(settings):
    settings.CRITICAL_GROUPS = ["Domain Controllers", "Servers*", "Tokyo/[AB]*"]
    assert checks.critical_groups_are_patterns() == []


def test_an_ioc_archive_is_described_file_by_file_with_indicators_by_type():
    value = ioc_zip_b64(
        {
            "a.ioc": openioc(description="Emotet dropper"),
            "b.ioc": openioc(ioc_id="6d2a1b2c-0000-4000-8000-000000000002", description="Beacon"),
        }
    )
    files = ioc_contents.contents(value)
    assert [(f["name"], f["description"], f["counts"], f["total"]) for f in files] == [
        ("a.ioc", "Emotet dropper", [("FileItem", 1)], 1),
        ("b.ioc", "Beacon", [("FileItem", 1)], 1),
    ]


def test_an_unreadable_archive_is_described_as_nothing():
    assert ioc_contents.contents("bm90IGEgemlw") == []
